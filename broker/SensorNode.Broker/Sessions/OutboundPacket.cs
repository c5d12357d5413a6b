using SensorNode.Broker.Protocol;

namespace SensorNode.Broker.Sessions;

/// <summary>
/// One packet waiting for a connection's writer: an acknowledgement or other control packet, or a PUBLISH
/// (with its packet identifier already assigned). A struct so that queues of them allocate nothing per packet.
/// </summary>
public struct OutboundPacket
{
    public PacketType Type;
    public ushort PacketId;
    public ApplicationMessage? Message;
    public byte Qos;
    public bool Retain;
    public bool Dup;
    public byte[]? ReturnCodes;
    public bool SessionPresent;
    public ConnectReturnCode ReturnCode;
    public uint[]? SubscriptionIds;

    /// <summary>MQTT 5 reason code of an acknowledgement or DISCONNECT (0 = Success).</summary>
    public ReasonCode Reason;

    /// <summary>MQTT 5 properties of a CONNACK (or other control packet).</summary>
    public Protocol.V5.MqttProperties? Properties;

    /// <summary>MQTT 5 UNSUBACK reason codes, one per filter.</summary>
    public ReasonCode[]? UnsubAckCodes;

    public static OutboundPacket Control(PacketType type, ushort packetId = 0) => new() { Type = type, PacketId = packetId };

    public static OutboundPacket ConnAck(bool sessionPresent, ConnectReturnCode code, Protocol.V5.MqttProperties? properties = null) =>
        new() { Type = PacketType.ConnAck, SessionPresent = sessionPresent, ReturnCode = code, Properties = properties };

    public static OutboundPacket Ack(PacketType type, ushort packetId, ReasonCode reason) => new() { Type = type, PacketId = packetId, Reason = reason };

    public static OutboundPacket Auth(ReasonCode reason, Protocol.V5.MqttProperties properties) => new() { Type = PacketType.Auth, Reason = reason, Properties = properties };

    public static OutboundPacket SubAck(ushort packetId, byte[] returnCodes) =>
        new() { Type = PacketType.SubAck, PacketId = packetId, ReturnCodes = returnCodes };

    public static OutboundPacket Publish(ApplicationMessage message, byte qos, bool retain, bool dup, ushort packetId, uint[]? subscriptionIds = null) =>
        new() { Type = PacketType.Publish, Message = message, Qos = qos, Retain = retain, Dup = dup, PacketId = packetId, SubscriptionIds = subscriptionIds };
}

/// <summary>
/// A message waiting in a session's queue for a packet identifier and the writer. <paramref name="Sequence"/>
/// is its key in the durable store, 0 when it is kept in memory only. <paramref name="EnqueuedAt"/> is when it was
/// queued (<see cref="Environment.TickCount64"/>; 0 unknown), for <see cref="SessionLimits.MaxQueuedAge"/>.
/// </summary>
public readonly record struct Delivery(ApplicationMessage Message, byte Qos, bool Retain, long Sequence = 0, uint[]? SubscriptionIds = null, Routing.Subscription? SharedVia = null, long EnqueuedAt = 0);

/// <summary>Where an unacknowledged outbound QoS 1/2 message stands (§4.3.2, §4.3.3).</summary>
public enum InflightState : byte
{
    AwaitingPubAck,
    AwaitingPubRec,
    AwaitingPubComp,
}

/// <summary>An outbound QoS 1/2 message sent and not yet fully acknowledged.</summary>
public struct InflightEntry
{
    public ApplicationMessage Message;
    public byte Qos;
    public bool Retain;
    public InflightState State;
    public long Sequence;
    public uint[]? SubscriptionIds;

    /// <summary>Key in the durable store, 0 when not stored.</summary>
    public long StoreSequence;

    /// <summary>The shared subscription the message came through, for redelivery to another member.</summary>
    public Routing.Subscription? SharedVia;
}

/// <summary>The link from a session to the network connection currently attached to it.</summary>
public interface ISessionConnection
{
    /// <summary>Wakes the connection's writer: the session has packets for it.</summary>
    void SignalOutput();

    /// <summary>Closes the connection without DISCONNECT from the client (the will is published).</summary>
    void Close(DisconnectReason reason);
}
