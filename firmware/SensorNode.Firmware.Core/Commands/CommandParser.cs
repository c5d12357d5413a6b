using SensorNode.Firmware.Core.Formatting;

namespace SensorNode.Firmware.Core.Commands
{
    /// <summary>
    /// Parses command payloads (plain text, case-insensitive, Tasmota-like): <c>interval=30</c> or <c>interval 30</c>
    /// (seconds, 1..3600), <c>read</c> (take and publish a reading now), <c>restart</c> (publish offline, disconnect,
    /// reboot).
    /// </summary>
    public static class CommandParser
    {
        public const int MaxIntervalSeconds = 3600;

        public static NodeCommand Parse(string payload)
        {
            string text = AsciiText.ToLower(payload == null ? string.Empty : payload.Trim());
            if (text == "read" || text == "read_now")
            {
                return new NodeCommand(CommandKind.ReadNow, 0, null);
            }

            if (text == "restart" || text == "reboot")
            {
                return new NodeCommand(CommandKind.Restart, 0, null);
            }

            if (text.StartsWith("interval"))
            {
                string argument = text.Substring("interval".Length).Trim();
                if (argument.Length > 0 && argument[0] == '=')
                {
                    argument = argument.Substring(1).Trim();
                }

                int seconds;
                if (!DecimalFormat.TryParseInt(argument, out seconds) || seconds < 1 || seconds > MaxIntervalSeconds)
                {
                    return new NodeCommand(CommandKind.Invalid, 0, "interval needs whole seconds from 1 to " + MaxIntervalSeconds.ToString());
                }

                return new NodeCommand(CommandKind.SetInterval, seconds, null);
            }

            return new NodeCommand(CommandKind.Invalid, 0, "unknown command (use interval=<s>, read or restart)");
        }
    }
}
