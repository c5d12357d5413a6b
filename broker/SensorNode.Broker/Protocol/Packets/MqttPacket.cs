using SensorNode.Broker.Protocol.V5;

namespace SensorNode.Broker.Protocol.Packets;

/// <summary>
/// Object form of a control packet. The broker's hot path (PUBLISH and acknowledgements) does not use it;
/// it serves CONNECT/SUBSCRIBE handling, clients, tools and tests.
/// </summary>
public abstract class MqttPacket
{
    public abstract PacketType Type { get; }
}

/// <summary>
/// PUBACK, PUBREC, PUBREL, PUBCOMP (3.1.1 and 5.0) and the 3.1.1 UNSUBACK: a packet identifier, plus in 5.0 a
/// Reason Code and properties (§3.4–§3.7). A 5.0 UNSUBACK is an <see cref="UnsubAckPacket"/>.
/// </summary>
public sealed class PacketIdPacket(PacketType type, ushort packetId) : MqttPacket
{
    public override PacketType Type { get; } = type;

    public ushort PacketId { get; } = packetId;

    /// <summary>5.0 Reason Code; Success when the packet had none (remaining length 2).</summary>
    public ReasonCode ReasonCode { get; init; } = ReasonCode.Success;

    /// <summary>5.0 properties (Reason String, User Property).</summary>
    public MqttProperties? Properties { get; init; }
}

/// <summary>PINGREQ, PINGRESP and the 3.1.1 DISCONNECT: a fixed header alone.</summary>
public sealed class EmptyPacket : MqttPacket
{
    public static readonly EmptyPacket PingReq = new(PacketType.PingReq);
    public static readonly EmptyPacket PingResp = new(PacketType.PingResp);
    public static readonly EmptyPacket Disconnect = new(PacketType.Disconnect);

    private EmptyPacket(PacketType type) => Type = type;

    public override PacketType Type { get; }
}

/// <summary>The 5.0 DISCONNECT (§3.14): a Reason Code (Normal disconnection when absent) and properties.</summary>
public sealed class DisconnectPacket(ReasonCode reasonCode = ReasonCode.NormalDisconnection, MqttProperties? properties = null) : MqttPacket
{
    public override PacketType Type => PacketType.Disconnect;

    public ReasonCode ReasonCode { get; } = reasonCode;

    public MqttProperties? Properties { get; } = properties;
}

/// <summary>AUTH (5.0 §3.15): a Reason Code (Success when absent) and properties.</summary>
public sealed class AuthPacket(ReasonCode reasonCode = ReasonCode.Success, MqttProperties? properties = null) : MqttPacket
{
    public override PacketType Type => PacketType.Auth;

    public ReasonCode ReasonCode { get; } = reasonCode;

    public MqttProperties? Properties { get; } = properties;
}
