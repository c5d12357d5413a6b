using System;
using SensorNode.Firmware.Core.Abstractions;

namespace SensorNode.Firmware.Core.Config
{
    /// <summary>
    /// Reads the configuration from its store and parses it, reporting every problem on the log (line and key,
    /// never a secret value). A missing or unreadable file is a reported problem, not an exception.
    /// </summary>
    public static class ConfigLoader
    {
        public static ConfigParseResult Load(IConfigStore store, ILog log)
        {
            string text = null;
            try
            {
                text = store.ReadText();
            }
            catch (Exception ex)
            {
                log.Write("config: cannot read " + store.Location + ": " + ex.Message);
            }

            ConfigParseResult parsed = ConfigParser.Parse(text);
            if (!parsed.IsValid)
            {
                log.Write("config: " + store.Location + " has " + parsed.Errors.Length.ToString() + " problem(s):");
                for (int i = 0; i < parsed.Errors.Length; i++)
                {
                    log.Write("config: " + parsed.Errors[i]);
                }
            }

            return parsed;
        }
    }
}
