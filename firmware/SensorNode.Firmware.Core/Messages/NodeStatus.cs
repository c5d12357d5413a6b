namespace SensorNode.Firmware.Core.Messages
{
    /// <summary>A snapshot of what the state message reports.</summary>
    public sealed class NodeStatus
    {
        public double Temperature { get; set; } = double.NaN;

        public double Humidity { get; set; } = double.NaN;

        /// <summary>ISO 8601 UTC time, or null when the clock is not set.</summary>
        public string Time { get; set; }

        public string FirmwareVersion { get; set; }

        public long UptimeSeconds { get; set; }

        /// <summary>-1 when unknown (then omitted).</summary>
        public long FreeMemoryBytes { get; set; } = -1;

        public int ReadFailures { get; set; }

        public int ConsecutiveReadFailures { get; set; }

        public int RejectedReadings { get; set; }

        /// <summary>"starting", "ok" or "failing".</summary>
        public string SensorHealth { get; set; }

        public int IntervalSeconds { get; set; }

        public int Reconnects { get; set; }

        /// <summary>Failed Wi-Fi joins since boot.</summary>
        public int WifiFailures { get; set; }

        /// <summary>Failed MQTT connects since boot.</summary>
        public int MqttFailures { get; set; }

        /// <summary>dBm, or <see cref="Abstractions.SignalStrength.Unknown"/> (then omitted).</summary>
        public int SignalDbm { get; set; } = Abstractions.SignalStrength.Unknown;
    }
}
