using SensorNode.Firmware.Core.Readings;

namespace SensorNode.Firmware.Core.Config
{
    /// <summary>
    /// One node's configuration with its defaults. Filled by <see cref="ConfigParser"/>; the keys and rules are
    /// documented in firmware/README.md and in <see cref="ConfigKeys"/>.
    /// </summary>
    public sealed class NodeConfig
    {
        public const string DefaultDiscoveryPrefix = "homeassistant";

        public string WifiSsid { get; set; } = string.Empty;

        public string WifiPassword { get; set; } = string.Empty;

        public string MqttHost { get; set; } = string.Empty;

        public int MqttPort { get; set; } = 1883;

        public bool MqttTls { get; set; }

        public string MqttUser { get; set; } = string.Empty;

        public string MqttPassword { get; set; } = string.Empty;

        public int MqttKeepAliveSeconds { get; set; } = 30;

        public string Room { get; set; } = string.Empty;

        /// <summary>MQTT client id and Home Assistant id prefix; defaults to "sensornode_" + room.</summary>
        public string NodeId { get; set; } = string.Empty;

        public SensorModel SensorModel { get; set; } = SensorModel.Dht22;

        /// <summary>The RMT receive GPIO of the ESP32 DHT binding (wired to the data line together with the trigger pin).</summary>
        public int SensorEchoPin { get; set; } = 26;

        /// <summary>The GPIO that drives the DHT start pulse.</summary>
        public int SensorTriggerPin { get; set; } = 27;

        /// <summary>Status LED GPIO; -1 disables the LED.</summary>
        public int LedPin { get; set; } = 2;

        public bool LedInverted { get; set; }

        public int ReadIntervalSeconds { get; set; } = 10;

        public int HeartbeatSeconds { get; set; } = 300;

        public double TemperatureDeadband { get; set; } = 0.2;

        public double HumidityDeadband { get; set; } = 1.0;

        public double TemperatureJumpLimit { get; set; } = 5.0;

        public double HumidityJumpLimit { get; set; } = 15.0;

        public int MedianWindow { get; set; } = 5;

        public bool Discovery { get; set; } = true;

        public string DiscoveryPrefix { get; set; } = DefaultDiscoveryPrefix;

        public bool Commands { get; set; } = true;

        public int BackoffMinSeconds { get; set; } = 1;

        public int BackoffMaxSeconds { get; set; } = 60;

        /// <summary>Restart when neither Wi-Fi nor MQTT has worked for this long; 0 disables the watchdog.</summary>
        public int WatchdogSeconds { get; set; } = 900;

        /// <summary>Consecutive failed reads after which the sensor is reported as failing.</summary>
        public int SensorFailureThreshold { get; set; } = 3;

        /// <summary>The node id to use: the configured one, or the default derived from the room.</summary>
        public string EffectiveNodeId
        {
            get { return NodeId.Length > 0 ? NodeId : Topics.NodeId.FromRoom(Room); }
        }

        /// <summary>The read interval actually used: never below the sensor model's minimum.</summary>
        public int EffectiveReadIntervalSeconds
        {
            get
            {
                int min = SensorLimits.For(SensorModel).MinIntervalSeconds;
                return ReadIntervalSeconds < min ? min : ReadIntervalSeconds;
            }
        }
    }
}
