namespace SensorNode.Firmware.Core.Abstractions
{
    /// <summary>Everything an MQTT CONNECT needs, including where to connect and the Last Will.</summary>
    public sealed class MqttConnectRequest
    {
        public string Host { get; set; }

        public int Port { get; set; }

        public bool UseTls { get; set; }

        public string ClientId { get; set; }

        /// <summary>Empty means "no user name".</summary>
        public string UserName { get; set; }

        /// <summary>Empty means "no password".</summary>
        public string Password { get; set; }

        public bool CleanSession { get; set; }

        public int KeepAliveSeconds { get; set; }

        public string WillTopic { get; set; }

        public string WillPayload { get; set; }

        public int WillQos { get; set; }

        public bool WillRetain { get; set; }
    }
}
