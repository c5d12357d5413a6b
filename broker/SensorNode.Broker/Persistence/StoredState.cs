using SensorNode.Broker.Protocol;
using SensorNode.Broker.Routing;

namespace SensorNode.Broker.Persistence;

/// <summary>Everything the store held at start-up, for the broker to rebuild its memory from.</summary>
public sealed class StoredState
{
    public List<ApplicationMessage> Retained { get; } = [];

    public List<StoredSession> Sessions { get; } = [];

    /// <summary>Wills waiting out their delay: client id, message, when due (Unix ms).</summary>
    public List<(string ClientId, ApplicationMessage Will, long DueAtUnixMs)> DelayedWills { get; } = [];

    /// <summary>Highest message id in use; new ids continue above it.</summary>
    public long LastMessageId { get; set; }
}

/// <summary>A persistent session as stored.</summary>
public sealed class StoredSession(string clientId)
{
    public string ClientId { get; } = clientId;

    /// <summary>Session Expiry Interval in seconds (uint.MaxValue: never).</summary>
    public uint ExpiryInterval { get; set; } = uint.MaxValue;

    /// <summary>When its client went away; null if it was connected when the broker stopped.</summary>
    public DateTimeOffset? OfflineSince { get; set; }

    public List<(string Filter, byte Qos, SubscriptionOptions Options)> Subscriptions { get; } = [];

    /// <summary>Outbound messages in sequence order.</summary>
    public List<StoredQueuedMessage> Queue { get; } = [];

    /// <summary>Inbound QoS 2 packet identifiers awaiting PUBREL.</summary>
    public List<ushort> InboundQos2 { get; } = [];
}

/// <summary>One outbound message of a stored session; <paramref name="SharedVia"/> is the filter of the shared subscription it came through.</summary>
public sealed record StoredQueuedMessage(long Sequence, ApplicationMessage Message, byte Qos, bool Retain, ushort PacketId, QueuedState State, uint[]? SubscriptionIds = null, string? SharedVia = null);
