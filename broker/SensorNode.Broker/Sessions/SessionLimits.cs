namespace SensorNode.Broker.Sessions;

/// <summary>What a full session queue gives up.</summary>
public enum QueueOverflowPolicy
{
    /// <summary>Drop the oldest queued message: for telemetry the newest reading is the valuable one.</summary>
    DropOldest,

    /// <summary>Refuse the new message, keeping what is queued (Mosquitto's behaviour).</summary>
    DropNewest,
}

/// <summary>Per-session bounds on outbound state.</summary>
public sealed class SessionLimits
{
    /// <summary>Unacknowledged QoS 1/2 PUBLISHes the broker sends a client before waiting for acknowledgements.</summary>
    public int MaxInflightMessages { get; set; } = 100;

    /// <summary>Messages queued per session (connected and waiting for the window, or offline persistent).</summary>
    public int MaxQueuedMessages { get; set; } = 10_000;

    /// <summary>Bytes of messages queued per session.</summary>
    public long MaxQueuedBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>Bytes of queued messages across all sessions; past it each session gives up its own messages by its policy.</summary>
    public long MaxTotalQueuedBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>A persistent session whose client stays away this long is discarded; null keeps it forever.</summary>
    public TimeSpan? PersistentSessionExpiry { get; set; } = TimeSpan.FromDays(30);

    public QueueOverflowPolicy OverflowPolicy { get; set; } = QueueOverflowPolicy.DropOldest;

    /// <summary>Whether QoS 0 messages are queued for an offline persistent session (3.1.1 §3.1.2.4 allows it).</summary>
    public bool QueueQos0WhileOffline { get; set; }

    /// <summary>Queued messages older than this are dropped (counted as expired) instead of sent; null keeps them (bridges use it).</summary>
    public TimeSpan? MaxQueuedAge { get; set; }
}
