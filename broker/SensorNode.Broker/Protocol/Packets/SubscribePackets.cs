namespace SensorNode.Broker.Protocol.Packets;

/// <summary>One topic filter of a SUBSCRIBE with its requested QoS (§3.8.3).</summary>
public readonly record struct TopicSubscription(string Filter, byte Qos);

/// <summary>SUBSCRIBE (§3.8).</summary>
public sealed class SubscribePacket : MqttPacket
{
    public override PacketType Type => PacketType.Subscribe;

    public ushort PacketId { get; init; }

    public List<TopicSubscription> Subscriptions { get; init; } = [];
}

/// <summary>SUBACK (§3.9): a return code per filter, 0x00–0x02 granted QoS or 0x80 failure.</summary>
public sealed class SubAckPacket(ushort packetId, byte[] returnCodes) : MqttPacket
{
    public const byte Failure = 0x80;

    public override PacketType Type => PacketType.SubAck;

    public ushort PacketId { get; } = packetId;

    public byte[] ReturnCodes { get; } = returnCodes;
}

/// <summary>UNSUBSCRIBE (§3.10).</summary>
public sealed class UnsubscribePacket : MqttPacket
{
    public override PacketType Type => PacketType.Unsubscribe;

    public ushort PacketId { get; init; }

    public List<string> Filters { get; init; } = [];
}
