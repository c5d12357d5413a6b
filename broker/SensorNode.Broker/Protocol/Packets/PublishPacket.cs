using SensorNode.Broker.Protocol.V5;

namespace SensorNode.Broker.Protocol.Packets;

/// <summary>PUBLISH in object form (3.1.1 and 5.0 §3.3). The broker itself parses PUBLISH in place with <see cref="PublishView"/>.</summary>
public sealed class PublishPacket : MqttPacket
{
    public override PacketType Type => PacketType.Publish;

    public required string Topic { get; init; }

    public ReadOnlyMemory<byte> Payload { get; init; }

    public byte Qos { get; init; }

    public bool Retain { get; init; }

    public bool Dup { get; init; }

    public ushort PacketId { get; init; }

    /// <summary>
    /// 5.0 PUBLISH properties (§3.3.2.3). With a Topic Alias the <see cref="Topic"/> may be empty; the receiver
    /// resolves the alias.
    /// </summary>
    public MqttProperties? Properties { get; init; }
}

/// <summary>A PUBLISH parsed in place: topic and payload are slices of the receive buffer.</summary>
public readonly ref struct PublishView
{
    public PublishView(byte qos, bool retain, bool dup, ReadOnlySpan<byte> topic, ushort packetId, ReadOnlySpan<byte> payload)
    {
        Qos = qos;
        Retain = retain;
        Dup = dup;
        Topic = topic;
        PacketId = packetId;
        Payload = payload;
    }

    public byte Qos { get; }

    public bool Retain { get; }

    public bool Dup { get; }

    public ReadOnlySpan<byte> Topic { get; }

    public ushort PacketId { get; }

    public ReadOnlySpan<byte> Payload { get; }
}
