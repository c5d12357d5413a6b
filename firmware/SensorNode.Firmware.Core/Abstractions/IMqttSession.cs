namespace SensorNode.Firmware.Core.Abstractions
{
    /// <summary>
    /// One MQTT client connection (M2Mqtt on the device, MQTTnet in the simulator). Synchronous and polled:
    /// received messages are buffered by the adapter and taken by the core on its own loop.
    /// </summary>
    public interface IMqttSession
    {
        /// <summary>True while the transport is open and CONNACK was accepted.</summary>
        bool IsConnected { get; }

        /// <summary>
        /// Opens a connection with the request's Last Will. Returns <see cref="MqttConnectResult.Accepted"/> (0),
        /// a CONNACK refusal code (1..5 in MQTT 3.1.1) or <see cref="MqttConnectResult.TransportError"/>.
        /// Must not throw.
        /// </summary>
        int Connect(MqttConnectRequest request);

        /// <summary>Queues or sends one message; false when it could not be handed to the transport.</summary>
        bool Publish(string topic, string payload, int qos, bool retain);

        /// <summary>Subscribes to one filter; false when the request could not be sent.</summary>
        bool Subscribe(string topicFilter, int qos);

        /// <summary>The next received message, or null when none is waiting.</summary>
        InboundMessage TakeMessage();

        /// <summary>Sends DISCONNECT (the broker then discards the will) and closes.</summary>
        void Disconnect();

        /// <summary>Closes the transport without DISCONNECT (after an error); the broker publishes the will.</summary>
        void Abort();
    }
}
