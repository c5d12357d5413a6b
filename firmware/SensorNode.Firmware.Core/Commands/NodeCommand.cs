namespace SensorNode.Firmware.Core.Commands
{
    /// <summary>What a command message asks for.</summary>
    public enum CommandKind
    {
        Invalid = 0,
        SetInterval = 1,
        ReadNow = 2,
        Restart = 3,
    }

    /// <summary>A parsed command from <c>sensor/command/&lt;room&gt;</c>.</summary>
    public sealed class NodeCommand
    {
        public NodeCommand(CommandKind kind, int intervalSeconds, string error)
        {
            Kind = kind;
            IntervalSeconds = intervalSeconds;
            Error = error;
        }

        public CommandKind Kind { get; }

        /// <summary>For <see cref="CommandKind.SetInterval"/>.</summary>
        public int IntervalSeconds { get; }

        /// <summary>For <see cref="CommandKind.Invalid"/>: why.</summary>
        public string Error { get; }
    }
}
