namespace SensorNode.Broker.Protocol.Packets;

/// <summary>
/// Object form of a control packet. The broker's hot path (PUBLISH and acknowledgements) does not use it;
/// it serves CONNECT/SUBSCRIBE handling, clients, tools and tests.
/// </summary>
public abstract class MqttPacket
{
    public abstract PacketType Type { get; }
}

/// <summary>PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK: a packet identifier and nothing else (3.1.1).</summary>
public sealed class PacketIdPacket(PacketType type, ushort packetId) : MqttPacket
{
    public override PacketType Type { get; } = type;

    public ushort PacketId { get; } = packetId;
}

/// <summary>PINGREQ, PINGRESP and DISCONNECT (3.1.1): a fixed header alone.</summary>
public sealed class EmptyPacket : MqttPacket
{
    public static readonly EmptyPacket PingReq = new(PacketType.PingReq);
    public static readonly EmptyPacket PingResp = new(PacketType.PingResp);
    public static readonly EmptyPacket Disconnect = new(PacketType.Disconnect);

    private EmptyPacket(PacketType type) => Type = type;

    public override PacketType Type { get; }
}
