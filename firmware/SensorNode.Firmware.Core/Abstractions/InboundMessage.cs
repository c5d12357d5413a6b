namespace SensorNode.Firmware.Core.Abstractions
{
    /// <summary>A message received on a subscription, payload decoded as UTF-8.</summary>
    public sealed class InboundMessage
    {
        public InboundMessage(string topic, string payload, bool retained)
        {
            Topic = topic;
            Payload = payload;
            Retained = retained;
        }

        public string Topic { get; }

        public string Payload { get; }

        /// <summary>True when the broker delivered it from its retained store (an old message).</summary>
        public bool Retained { get; }
    }
}
