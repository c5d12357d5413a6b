namespace SensorNode.Broker.Diagnostics;

/// <summary>Why a message was not delivered to a subscriber.</summary>
public enum DropReason
{
    /// <summary>The subscriber's queue was at its message or byte bound.</summary>
    QueueFull,

    /// <summary>All sessions' queues together were at the broker-wide byte bound.</summary>
    BrokerQueueBudget,

    /// <summary>The message's MQTT 5 Message Expiry Interval ran out before it could be sent.</summary>
    Expired,

    /// <summary>The PUBLISH would exceed the subscriber's MQTT 5 Maximum Packet Size [MQTT-3.1.2-25].</summary>
    TooLargeForClient,
}

/// <summary>Broker-wide counters, updated lock-free on the hot path and read by $SYS, /metrics and tests.</summary>
public sealed class BrokerMetrics
{
    private long _connectionsAccepted;
    private long _clientsConnected;
    private long _messagesReceived;
    private long _messagesSent;
    private long _bytesReceived;
    private long _bytesSent;
    private long _droppedQueueFull;
    private long _droppedBrokerBudget;
    private long _expired;
    private long _tooLargeForClient;
    private long _queuedBytes;
    private long _sessionsExpired;
    private long _protocolErrors;

    public long ConnectionsAccepted => Interlocked.Read(ref _connectionsAccepted);

    public long ClientsConnected => Interlocked.Read(ref _clientsConnected);

    public long MessagesReceived => Interlocked.Read(ref _messagesReceived);

    public long MessagesSent => Interlocked.Read(ref _messagesSent);

    public long BytesReceived => Interlocked.Read(ref _bytesReceived);

    public long BytesSent => Interlocked.Read(ref _bytesSent);

    public long DroppedQueueFull => Interlocked.Read(ref _droppedQueueFull);

    public long DroppedBrokerQueueBudget => Interlocked.Read(ref _droppedBrokerBudget);

    public long DroppedExpired => Interlocked.Read(ref _expired);

    public long DroppedTooLargeForClient => Interlocked.Read(ref _tooLargeForClient);

    public long Dropped => DroppedQueueFull + DroppedBrokerQueueBudget + DroppedExpired + DroppedTooLargeForClient;

    /// <summary>Bytes of messages queued in all sessions right now.</summary>
    public long QueuedBytes => Interlocked.Read(ref _queuedBytes);

    public long SessionsExpired => Interlocked.Read(ref _sessionsExpired);

    public void AddQueuedBytes(long delta) => Interlocked.Add(ref _queuedBytes, delta);

    public void CountSessionExpired() => Interlocked.Increment(ref _sessionsExpired);

    public long ProtocolErrors => Interlocked.Read(ref _protocolErrors);

    public void CountConnectionAccepted() => Interlocked.Increment(ref _connectionsAccepted);

    public void CountClientConnected(int delta) => Interlocked.Add(ref _clientsConnected, delta);

    public void CountReceived(long bytes) => Interlocked.Add(ref _bytesReceived, bytes);

    public void CountSent(long bytes) => Interlocked.Add(ref _bytesSent, bytes);

    public void CountMessageReceived() => Interlocked.Increment(ref _messagesReceived);

    public void CountMessagesSent(int count) => Interlocked.Add(ref _messagesSent, count);

    public void CountProtocolError() => Interlocked.Increment(ref _protocolErrors);

    private long _aclDenied;

    /// <summary>PUBLISHes and subscriptions refused by the ACL.</summary>
    public long AclDenied => Interlocked.Read(ref _aclDenied);

    public void CountAclDenied() => Interlocked.Increment(ref _aclDenied);

    public void CountDropped(DropReason reason)
    {
        switch (reason)
        {
            case DropReason.QueueFull:
                Interlocked.Increment(ref _droppedQueueFull);
                break;
            case DropReason.BrokerQueueBudget:
                Interlocked.Increment(ref _droppedBrokerBudget);
                break;
            case DropReason.Expired:
                Interlocked.Increment(ref _expired);
                break;
            case DropReason.TooLargeForClient:
                Interlocked.Increment(ref _tooLargeForClient);
                break;
        }
    }
}
