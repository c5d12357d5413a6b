namespace SensorNode.Firmware.Core.Connectivity
{
    /// <summary>Where the connection state machine is (numbers in logs: enum names do not exist on the device).</summary>
    public enum ConnectionState
    {
        /// <summary>No IP link; joining Wi-Fi when the backoff allows.</summary>
        NetworkDown = 0,

        /// <summary>IP link up, MQTT not connected; connecting when the backoff allows.</summary>
        BrokerDown = 1,

        /// <summary>MQTT connected.</summary>
        Online = 2,
    }

    /// <summary>What a tick of the state machine changed.</summary>
    public enum ConnectionEvent
    {
        None = 0,
        Connected = 1,
        Lost = 2,
    }
}
