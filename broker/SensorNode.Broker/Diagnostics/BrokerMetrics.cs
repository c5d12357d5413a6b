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
    private long _authFailures;
    private readonly long[] _receivedByQos = new long[3];
    private readonly long[] _sentByQos = new long[3];

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

    /// <summary>CONNECTs refused for bad credentials or not authorised (issue #6 wires this: call it where CONNACK 0x04/0x05 or 0x86/0x87/0x8C is sent).</summary>
    public long AuthFailures => Interlocked.Read(ref _authFailures);

    public void CountAuthFailure() => Interlocked.Increment(ref _authFailures);

    /// <summary>
    /// Whether the engine counts messages per QoS (<see cref="CountMessageReceived(byte)"/>, <see cref="CountMessagesSent(byte, int)"/>);
    /// /metrics publishes the per-QoS series only once it does, so that they never read zero by mistake.
    /// </summary>
    public bool CountsByQos { get; private set; }

    /// <summary>PUBLISHes received at a QoS (0-2); also counts the total. For the engine to call instead of <see cref="CountMessageReceived()"/>.</summary>
    public void CountMessageReceived(byte qos)
    {
        CountsByQos = true;
        Interlocked.Increment(ref _receivedByQos[Math.Min(qos, (byte)2)]);
        CountMessageReceived();
    }

    /// <summary>PUBLISHes sent at a QoS (0-2); also counts the total. For the engine to call instead of <see cref="CountMessagesSent(int)"/>.</summary>
    public void CountMessagesSent(byte qos, int count)
    {
        CountsByQos = true;
        Interlocked.Add(ref _sentByQos[Math.Min(qos, (byte)2)], count);
        CountMessagesSent(count);
    }

    public long MessagesReceivedAtQos(int qos) => Interlocked.Read(ref _receivedByQos[qos]);

    public long MessagesSentAtQos(int qos) => Interlocked.Read(ref _sentByQos[qos]);

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
