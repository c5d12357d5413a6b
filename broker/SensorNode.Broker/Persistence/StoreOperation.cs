using SensorNode.Broker.Routing;

namespace SensorNode.Broker.Persistence;

/// <summary>What one store write does.</summary>
public enum StoreOperationKind : byte
{
    PutRetained,
    DeleteRetained,
    PutSession,
    MarkSessionOffline,
    DeleteSession,
    PutSubscription,
    DeleteSubscription,
    PutMessage,
    PutQueued,
    UpdateQueued,
    DeleteQueued,
    PutInbound,
    DeleteInbound,
    PutWill,
    DeleteWill,
}

/// <summary>Where a queued outbound message stands in the store.</summary>
public enum QueuedState : byte
{
    /// <summary>Queued; any packet identifier it has may not have reached the client.</summary>
    Queued = 0,

    /// <summary>Sent with a durable packet identifier; awaiting PUBACK (QoS 1) or PUBREC (QoS 2).</summary>
    Sent = 1,

    /// <summary>PUBREC received; PUBREL is owed (QoS 2).</summary>
    Released = 2,
}

/// <summary>
/// One write to the broker's durable state. Writes submitted together are committed in one transaction,
/// in submission order with every other write.
/// </summary>
public readonly record struct StoreOperation(
    StoreOperationKind Kind,
    string Key,
    string? Topic = null,
    long MessageId = 0,
    long Sequence = 0,
    byte Qos = 0,
    bool Retain = false,
    ushort PacketId = 0,
    QueuedState State = QueuedState.Queued,
    ReadOnlyMemory<byte> Payload = default,
    Protocol.ApplicationMessage? Message = null,
    uint[]? SubscriptionIds = null)
{
    public static StoreOperation PutRetained(string topic, byte qos, ReadOnlyMemory<byte> payload) =>
        PutRetained(Protocol.ApplicationMessage.Create(topic, payload.Span, qos, retain: true));

    /// <summary>The retained message with its MQTT 5 properties and expiry.</summary>
    public static StoreOperation PutRetained(Protocol.ApplicationMessage message) => new(StoreOperationKind.PutRetained, message.Topic, Message: message);

    public static StoreOperation DeleteRetained(string topic) => new(StoreOperationKind.DeleteRetained, topic);

    public static StoreOperation PutSession(string clientId, uint expiryInterval = uint.MaxValue) => new(StoreOperationKind.PutSession, clientId, Sequence: expiryInterval);

    /// <summary>Records when a persistent session lost its connection, for expiry; <see cref="PutSession"/> clears it.</summary>
    public static StoreOperation MarkSessionOffline(string clientId, DateTimeOffset since) =>
        new(StoreOperationKind.MarkSessionOffline, clientId, Sequence: since.ToUnixTimeSeconds());

    public static StoreOperation DeleteSession(string clientId) => new(StoreOperationKind.DeleteSession, clientId);

    /// <summary>The options travel as in the SUBSCRIBE options byte (bits 2-5) and the identifier as <see cref="Sequence"/>.</summary>
    public static StoreOperation PutSubscription(string clientId, string filter, byte qos, SubscriptionOptions options = default) =>
        new(StoreOperationKind.PutSubscription, clientId, filter, Qos: qos, PacketId: PackOptions(options), Sequence: options.Identifier);

    public static ushort PackOptions(SubscriptionOptions options) =>
        (ushort)((options.NoLocal ? 0x04 : 0) | (options.RetainAsPublished ? 0x08 : 0) | (options.RetainHandling << 4));

    public static SubscriptionOptions UnpackOptions(int packed, long identifier) =>
        new((packed & 0x04) != 0, (packed & 0x08) != 0, (byte)((packed >> 4) & 0x03), (uint)identifier);

    public static StoreOperation DeleteSubscription(string clientId, string filter) => new(StoreOperationKind.DeleteSubscription, clientId, filter);

    public static StoreOperation PutMessage(long messageId, string topic, byte qos, bool retain, ReadOnlyMemory<byte> payload) =>
        PutMessage(messageId, Protocol.ApplicationMessage.Create(topic, payload.Span, qos, retain));

    /// <summary>A message body, stored once however many sessions queue it.</summary>
    public static StoreOperation PutMessage(long messageId, Protocol.ApplicationMessage message) =>
        new(StoreOperationKind.PutMessage, string.Empty, message.Topic, messageId, Message: message);

    /// <summary>
    /// A message queued for a persistent session, with the MQTT 5 subscription identifiers it goes out with
    /// [MQTT-3.3.4-3] and, as <see cref="Topic"/>, the filter of the shared subscription it came through (null for
    /// none): if the session ends before it is acknowledged, it goes to another member of the group.
    /// </summary>
    public static StoreOperation PutQueued(string clientId, long sequence, long messageId, byte qos, bool retain, uint[]? subscriptionIds = null, string? sharedVia = null) =>
        new(StoreOperationKind.PutQueued, clientId, sharedVia, MessageId: messageId, Sequence: sequence, Qos: qos, Retain: retain, SubscriptionIds: subscriptionIds);

    public static StoreOperation UpdateQueued(string clientId, long sequence, ushort packetId, QueuedState state) =>
        new(StoreOperationKind.UpdateQueued, clientId, Sequence: sequence, PacketId: packetId, State: state);

    public static StoreOperation DeleteQueued(string clientId, long sequence) => new(StoreOperationKind.DeleteQueued, clientId, Sequence: sequence);

    /// <summary>A will waiting out its Will Delay Interval; <see cref="Sequence"/> is when it is due (Unix ms).</summary>
    public static StoreOperation PutWill(string clientId, Protocol.ApplicationMessage will, long dueAtUnixMs) =>
        new(StoreOperationKind.PutWill, clientId, will.Topic, Sequence: dueAtUnixMs, Message: will);

    /// <summary>
    /// The will of a connection that is open: found at start-up, the broker ended without closing that connection (a
    /// crash). Stored as a will due at <see cref="ConnectedWillDue"/>(delay), a negative time that keeps the delay.
    /// </summary>
    public static StoreOperation PutConnectedWill(string clientId, Protocol.ApplicationMessage will, uint willDelaySeconds) =>
        PutWill(clientId, will, ConnectedWillDue(willDelaySeconds));

    /// <summary>The due time a connected will is stored with: -1 - its Will Delay Interval in seconds.</summary>
    public static long ConnectedWillDue(uint willDelaySeconds) => -1L - willDelaySeconds;

    /// <summary>The Will Delay Interval of a will stored by <see cref="PutConnectedWill"/>; null for a will already due at a time.</summary>
    public static uint? ConnectedWillDelay(long dueAtUnixMs) => dueAtUnixMs < 0 ? (uint)(-1L - dueAtUnixMs) : null;

    public static StoreOperation DeleteWill(string clientId) => new(StoreOperationKind.DeleteWill, clientId);

    public static StoreOperation PutInbound(string clientId, ushort packetId) => new(StoreOperationKind.PutInbound, clientId, PacketId: packetId);

    public static StoreOperation DeleteInbound(string clientId, ushort packetId) => new(StoreOperationKind.DeleteInbound, clientId, PacketId: packetId);
}
