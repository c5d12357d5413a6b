namespace SensorNode.Firmware.Core.Config
{
    /// <summary>The keys of the configuration file (see firmware/README.md for defaults and rules).</summary>
    public static class ConfigKeys
    {
        public const string WifiSsid = "wifi_ssid";
        public const string WifiPassword = "wifi_password";
        public const string MqttHost = "mqtt_host";
        public const string MqttPort = "mqtt_port";
        public const string MqttTls = "mqtt_tls";
        public const string MqttUser = "mqtt_user";
        public const string MqttPassword = "mqtt_password";
        public const string MqttKeepAlive = "mqtt_keepalive_s";
        public const string Room = "room";
        public const string NodeId = "node_id";
        public const string SensorModel = "sensor_model";
        public const string SensorEchoPin = "sensor_echo_pin";
        public const string SensorTriggerPin = "sensor_trigger_pin";
        public const string LedPin = "led_pin";
        public const string LedInverted = "led_inverted";
        public const string ReadInterval = "read_interval_s";
        public const string Heartbeat = "heartbeat_s";
        public const string TemperatureDeadband = "deadband_temperature";
        public const string HumidityDeadband = "deadband_humidity";
        public const string TemperatureJump = "jump_temperature";
        public const string HumidityJump = "jump_humidity";
        public const string MedianWindow = "median_window";
        public const string Discovery = "discovery";
        public const string DiscoveryPrefix = "discovery_prefix";
        public const string Commands = "commands";
        public const string BackoffMin = "backoff_min_s";
        public const string BackoffMax = "backoff_max_s";
        public const string Watchdog = "watchdog_s";
        public const string SensorFailureThreshold = "sensor_failure_threshold";

        /// <summary>Every key, in the order the README documents them.</summary>
        public static string[] All
        {
            get
            {
                return new string[]
                {
                    WifiSsid, WifiPassword, MqttHost, MqttPort, MqttTls, MqttUser, MqttPassword, MqttKeepAlive,
                    Room, NodeId, SensorModel, SensorEchoPin, SensorTriggerPin, LedPin, LedInverted,
                    ReadInterval, Heartbeat, TemperatureDeadband, HumidityDeadband, TemperatureJump, HumidityJump,
                    MedianWindow, Discovery, DiscoveryPrefix, Commands, BackoffMin, BackoffMax, Watchdog,
                    SensorFailureThreshold,
                };
            }
        }

        /// <summary>Keys whose values are secrets: never echoed in error messages or logs.</summary>
        public static bool IsSecret(string key)
        {
            return key == WifiPassword || key == MqttPassword;
        }
    }
}
