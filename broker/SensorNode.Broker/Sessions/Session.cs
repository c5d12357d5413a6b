using SensorNode.Broker.Diagnostics;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Routing;

namespace SensorNode.Broker.Sessions;

/// <summary>
/// The broker's state for one client identifier (3.1.1 §3.1.2.4): its subscriptions, messages queued for
/// it, outbound QoS 1/2 messages in flight, and inbound QoS 2 packet identifiers awaiting PUBREL. It lives
/// as long as the connection (clean session) or beyond it (persistent session). All members are
/// thread-safe: publishers on other connections enqueue while the owner's reader and writer work.
/// </summary>
public sealed class Session
{
    private readonly object _gate = new();
    private readonly SessionLimits _limits;
    private readonly BrokerMetrics _metrics;
    private readonly Dictionary<string, Subscription> _subscriptions = new(StringComparer.Ordinal);
    private readonly Queue<OutboundPacket> _control = new();
    private readonly Queue<Delivery> _pending = new();
    private readonly Dictionary<ushort, InflightEntry> _inflight = [];
    private readonly HashSet<ushort> _awaitingRelease = [];
    private long _pendingBytes;
    private ushort _lastPacketId;
    private long _sequence;
    private bool _resendInflight;
    private ISessionConnection? _connection;

    public Session(string clientId, bool cleanSession, SessionLimits limits, BrokerMetrics metrics)
    {
        ClientId = clientId;
        CleanSession = cleanSession;
        _limits = limits;
        _metrics = metrics;
    }

    public string ClientId { get; }

    /// <summary>True when the session ends with its connection (3.1.1 CleanSession=1).</summary>
    public bool CleanSession { get; }

    /// <summary>Number of subscriptions; the router skips de-duplication when every match has just one.</summary>
    public int SubscriptionCount { get; private set; }

    public bool IsConnected
    {
        get
        {
            lock (_gate)
            {
                return _connection is not null;
            }
        }
    }

    public int QueuedCount
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count;
            }
        }
    }

    public int InflightCount
    {
        get
        {
            lock (_gate)
            {
                return _inflight.Count;
            }
        }
    }

    /// <summary>
    /// Attaches a new connection and queues its CONNACK first. Unacknowledged outbound messages are re-sent
    /// with DUP=1 and their original packet identifiers, PUBRELs re-sent, before anything new [MQTT-4.4.0-1].
    /// </summary>
    public void Attach(ISessionConnection connection, bool sessionPresent)
    {
        lock (_gate)
        {
            _connection = connection;
            _control.Clear();
            _control.Enqueue(OutboundPacket.ConnAck(sessionPresent, ConnectReturnCode.Accepted));
            _resendInflight = _inflight.Count > 0;
        }

        connection.SignalOutput();
    }

    /// <summary>Detaches a connection if it is still the current one. Returns false after a takeover.</summary>
    public bool Detach(ISessionConnection connection)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_connection, connection))
            {
                return false;
            }

            _connection = null;
            _control.Clear();
            return true;
        }
    }

    public ISessionConnection? Connection
    {
        get
        {
            lock (_gate)
            {
                return _connection;
            }
        }
    }

    /// <summary>Records a subscription; returns the one it replaces, if any.</summary>
    public Subscription? SetSubscription(Subscription subscription)
    {
        lock (_gate)
        {
            _subscriptions.TryGetValue(subscription.Filter, out Subscription? previous);
            _subscriptions[subscription.Filter] = subscription;
            SubscriptionCount = _subscriptions.Count;
            return previous;
        }
    }

    public bool RemoveSubscription(string filter)
    {
        lock (_gate)
        {
            bool removed = _subscriptions.Remove(filter);
            SubscriptionCount = _subscriptions.Count;
            return removed;
        }
    }

    public Subscription[] GetSubscriptions()
    {
        lock (_gate)
        {
            return [.. _subscriptions.Values];
        }
    }

    /// <summary>
    /// Queues a message for delivery. Offline clean sessions take nothing; offline persistent sessions take
    /// QoS 1/2 (3.1.1 §3.1.2.4). Live traffic is bounded by count and bytes with a counted drop; a retained
    /// replay is bounded by the retained store itself and never truncated.
    /// </summary>
    public void Enqueue(ApplicationMessage message, byte qos, bool retain, bool retainedReplay = false)
    {
        ISessionConnection? connection;
        lock (_gate)
        {
            connection = _connection;
            if (connection is null && (CleanSession || (qos == 0 && !_limits.QueueQos0WhileOffline)))
            {
                return;
            }

            if (!retainedReplay && !MakeRoom(message.Size))
            {
                return;
            }

            _pending.Enqueue(new Delivery(message, qos, retain));
            _pendingBytes += message.Size;
        }

        connection?.SignalOutput();
    }

    private bool MakeRoom(int size)
    {
        while (_pending.Count > 0 && (_pending.Count >= _limits.MaxQueuedMessages || _pendingBytes + size > _limits.MaxQueuedBytes))
        {
            if (_limits.OverflowPolicy == QueueOverflowPolicy.DropNewest)
            {
                _metrics.CountDropped(DropReason.QueueFull);
                return false;
            }

            Delivery dropped = _pending.Dequeue();
            _pendingBytes -= dropped.Message.Size;
            _metrics.CountDropped(DropReason.QueueFull);
        }

        return true;
    }

    /// <summary>Queues an acknowledgement or other control packet for the current connection.</summary>
    public void EnqueueControl(OutboundPacket packet)
    {
        ISessionConnection? connection;
        lock (_gate)
        {
            connection = _connection;
            if (connection is null)
            {
                return;
            }

            _control.Enqueue(packet);
        }

        connection.SignalOutput();
    }

    /// <summary>
    /// Moves what the writer of <paramref name="connection"/> should send next into <paramref name="batch"/>:
    /// control packets, then re-sends, then queued messages while the in-flight window has room.
    /// </summary>
    public void DrainOutbound(ISessionConnection connection, List<OutboundPacket> batch, int maxBatch)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_connection, connection))
            {
                return;
            }

            while (_control.Count > 0)
            {
                batch.Add(_control.Dequeue());
            }

            if (_resendInflight)
            {
                _resendInflight = false;
                AddResends(batch);
            }

            while (_pending.Count > 0 && batch.Count < maxBatch)
            {
                Delivery next = _pending.Peek();
                ushort packetId = 0;
                if (next.Qos > 0)
                {
                    if (_inflight.Count >= _limits.MaxInflightMessages)
                    {
                        break;
                    }

                    packetId = NextPacketId();
                    _inflight[packetId] = new InflightEntry
                    {
                        Message = next.Message,
                        Qos = next.Qos,
                        Retain = next.Retain,
                        State = next.Qos == 1 ? InflightState.AwaitingPubAck : InflightState.AwaitingPubRec,
                        Sequence = _sequence++,
                    };
                }

                _pending.Dequeue();
                _pendingBytes -= next.Message.Size;
                batch.Add(OutboundPacket.Publish(next.Message, next.Qos, next.Retain, dup: false, packetId));
            }
        }
    }

    private void AddResends(List<OutboundPacket> batch)
    {
        var entries = new List<KeyValuePair<ushort, InflightEntry>>(_inflight);
        entries.Sort(static (a, b) => a.Value.Sequence.CompareTo(b.Value.Sequence));
        foreach ((ushort packetId, InflightEntry entry) in entries)
        {
            batch.Add(entry.State == InflightState.AwaitingPubComp
                ? OutboundPacket.Control(PacketType.PubRel, packetId)
                : OutboundPacket.Publish(entry.Message, entry.Qos, entry.Retain, dup: true, packetId));
        }
    }

    private ushort NextPacketId()
    {
        // Identifiers in use are skipped [MQTT-2.3.1-2]; the window is far below 65535, so this ends.
        do
        {
            _lastPacketId = _lastPacketId == ushort.MaxValue ? (ushort)1 : (ushort)(_lastPacketId + 1);
        }
        while (_inflight.ContainsKey(_lastPacketId));
        return _lastPacketId;
    }

    /// <summary>PUBACK from the client completes a QoS 1 delivery (§4.3.2).</summary>
    public void OnPubAck(ushort packetId) => Complete(packetId, InflightState.AwaitingPubAck);

    /// <summary>PUBCOMP from the client completes a QoS 2 delivery (§4.3.3).</summary>
    public void OnPubComp(ushort packetId) => Complete(packetId, InflightState.AwaitingPubComp);

    /// <summary>PUBREC from the client: the message is stored by the receiver; answer with PUBREL (§4.3.3).</summary>
    public void OnPubRec(ushort packetId)
    {
        lock (_gate)
        {
            ref InflightEntry entry = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(_inflight, packetId);
            if (!System.Runtime.CompilerServices.Unsafe.IsNullRef(ref entry) && entry.State == InflightState.AwaitingPubRec)
            {
                entry.State = InflightState.AwaitingPubComp;
            }

            // A repeated PUBREC (or one for an identifier already completed) is still answered, so the client's
            // state machine can finish.
            if (_connection is not null)
            {
                _control.Enqueue(OutboundPacket.Control(PacketType.PubRel, packetId));
            }
        }

        Connection?.SignalOutput();
    }

    private void Complete(ushort packetId, InflightState expected)
    {
        bool wake;
        lock (_gate)
        {
            if (!_inflight.TryGetValue(packetId, out InflightEntry entry) || entry.State != expected)
            {
                return;
            }

            _inflight.Remove(packetId);
            wake = _pending.Count > 0 && _connection is not null;
        }

        if (wake)
        {
            Connection?.SignalOutput();
        }
    }

    /// <summary>
    /// An inbound QoS 2 PUBLISH: returns true the first time a packet identifier is seen, false for a
    /// re-sent PUBLISH before PUBREL, which must not be delivered again (§4.3.3, [MQTT-4.3.3-2]).
    /// </summary>
    public bool TryBeginInboundQos2(ushort packetId)
    {
        lock (_gate)
        {
            return _awaitingRelease.Add(packetId);
        }
    }

    /// <summary>PUBREL from the client: forget the identifier; the caller answers PUBCOMP.</summary>
    public void ReleaseInboundQos2(ushort packetId)
    {
        lock (_gate)
        {
            _awaitingRelease.Remove(packetId);
        }
    }
}
