namespace SensorNode.Firmware.Core.Config
{
    /// <summary>The parsed configuration and every problem found (one line per problem, naming line and key).</summary>
    public sealed class ConfigParseResult
    {
        public ConfigParseResult(NodeConfig config, string[] errors)
        {
            Config = config;
            Errors = errors;
        }

        /// <summary>The configuration with defaults where keys were missing or invalid; use only when <see cref="IsValid"/>.</summary>
        public NodeConfig Config { get; }

        public string[] Errors { get; }

        public bool IsValid
        {
            get { return Errors.Length == 0; }
        }
    }
}
