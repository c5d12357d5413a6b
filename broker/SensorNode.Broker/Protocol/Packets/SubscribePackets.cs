using SensorNode.Broker.Protocol.V5;

namespace SensorNode.Broker.Protocol.Packets;

/// <summary>
/// One topic filter of a SUBSCRIBE with its requested QoS (§3.8.3) and, in 5.0, the other Subscription
/// Options (§3.8.3.1): No Local (bit 2), Retain As Published (bit 3), Retain Handling (bits 4–5, 0–2).
/// </summary>
public readonly record struct TopicSubscription(string Filter, byte Qos)
{
    /// <summary>Messages are not forwarded to the connection that published them [MQTT-3.8.3-3].</summary>
    public bool NoLocal { get; init; }

    /// <summary>Forwarded messages keep their RETAIN flag [MQTT-3.3.1-12] [MQTT-3.3.1-13].</summary>
    public bool RetainAsPublished { get; init; }

    /// <summary>0 = send retained at subscribe, 1 = only for a new subscription, 2 = do not send (§3.8.3.1).</summary>
    public byte RetainHandling { get; init; }

    /// <summary>True for a Shared Subscription filter ("$share/{ShareName}/{filter}", §4.8.2).</summary>
    public bool IsShared => Filter.StartsWith("$share/", StringComparison.Ordinal);

    /// <summary>The Subscription Options byte as 5.0 encodes it.</summary>
    public byte Options => (byte)(Qos | (NoLocal ? 0x04 : 0) | (RetainAsPublished ? 0x08 : 0) | (RetainHandling << 4));

    /// <summary>Builds a subscription from a 5.0 Subscription Options byte (no validation).</summary>
    public static TopicSubscription FromOptions(string filter, byte options) => new(filter, (byte)(options & 0x03))
    {
        NoLocal = (options & 0x04) != 0,
        RetainAsPublished = (options & 0x08) != 0,
        RetainHandling = (byte)((options >> 4) & 0x03),
    };
}

/// <summary>SUBSCRIBE (§3.8).</summary>
public sealed class SubscribePacket : MqttPacket
{
    public override PacketType Type => PacketType.Subscribe;

    public ushort PacketId { get; init; }

    public List<TopicSubscription> Subscriptions { get; init; } = [];

    /// <summary>5.0 SUBSCRIBE properties: Subscription Identifier (once), User Property (§3.8.2.1).</summary>
    public MqttProperties? Properties { get; init; }
}

/// <summary>
/// SUBACK (§3.9): a code per filter. 3.1.1: 0x00–0x02 granted QoS or 0x80 failure; 5.0: the SUBACK
/// <see cref="ReasonCode"/> values (Table 3-8).
/// </summary>
public sealed class SubAckPacket(ushort packetId, byte[] returnCodes) : MqttPacket
{
    public const byte Failure = 0x80;

    public override PacketType Type => PacketType.SubAck;

    public ushort PacketId { get; } = packetId;

    public byte[] ReturnCodes { get; } = returnCodes;

    /// <summary>5.0 SUBACK properties: Reason String, User Property (§3.9.2.1).</summary>
    public MqttProperties? Properties { get; init; }
}

/// <summary>UNSUBSCRIBE (§3.10).</summary>
public sealed class UnsubscribePacket : MqttPacket
{
    public override PacketType Type => PacketType.Unsubscribe;

    public ushort PacketId { get; init; }

    public List<string> Filters { get; init; } = [];

    /// <summary>5.0 UNSUBSCRIBE properties: User Property (§3.10.2.1).</summary>
    public MqttProperties? Properties { get; init; }
}

/// <summary>The 5.0 UNSUBACK (§3.11): a Reason Code per filter, in filter order [MQTT-3.11.3-1], and properties.</summary>
public sealed class UnsubAckPacket(ushort packetId, ReasonCode[] reasonCodes) : MqttPacket
{
    public override PacketType Type => PacketType.UnsubAck;

    public ushort PacketId { get; } = packetId;

    public ReasonCode[] ReasonCodes { get; } = reasonCodes;

    /// <summary>Reason String, User Property (§3.11.2.1).</summary>
    public MqttProperties? Properties { get; init; }
}
