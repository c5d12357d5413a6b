using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SensorNode.Broker.Diagnostics;
using SensorNode.Broker.Persistence;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Routing;

namespace SensorNode.Broker.Sessions;

/// <summary>
/// The broker's state for one client identifier (3.1.1 §3.1.2.4): its subscriptions, messages queued for
/// it, outbound QoS 1/2 messages in flight, and inbound QoS 2 packet identifiers awaiting PUBREL. It lives
/// as long as the connection (clean session) or beyond it (persistent session). All members are
/// thread-safe: publishers on other connections enqueue while the owner's reader and writer work.
/// A persistent session mirrors its queue, in-flight state and inbound QoS 2 identifiers into the store.
/// A session's lock is its own monitor: code outside this class must not lock a session.
/// </summary>
public sealed class Session
{
    private SessionLimits _limits;
    private readonly BrokerMetrics _metrics;
    // Created on first use: most sensors never subscribe and never publish at QoS 2, and thousands sit idle.
    private Dictionary<string, Subscription>? _subscriptions;
    // The CONNACK waits in these fields rather than in the control queue, which is created for the first packet after
    // it (a PINGRESP, an acknowledgement): a sensor that connected and stays quiet holds no queue (issue #9).
    private bool _connAckWaiting;
    private bool _connAckSessionPresent;
    private Protocol.V5.MqttProperties? _connAckProperties;
    private Queue<OutboundPacket>? _control;
    private bool _outputHeld;

    // The session's lock is its own monitor: nothing outside this class locks a session, and a lock object of its own
    // would cost every session another object.
    private object Gate => this;
    // Created on first use: most sensors only publish, and an idle session should cost little (issue #9).
    private PendingQueue? _pending;
    private Dictionary<ushort, InflightEntry>? _inflight;
    private HashSet<ushort>? _awaitingRelease;
    private readonly IBrokerStore? _store;
    private readonly QueueBudget? _budget;
    private int _inflightWindow;
    private long _pendingBytes;
    private long _lastStoreSequence;
    private ushort _lastPacketId;
    private long _sequence;
    private ResendBacklog? _resends;
    private ISessionConnection? _connection;

    public Session(string clientId, bool cleanSession, SessionLimits limits, BrokerMetrics metrics, IBrokerStore? store = null, QueueBudget? budget = null)
    {
        _budget = budget;
        ClientId = clientId;
        _expiryInterval = cleanSession ? 0 : NeverExpires;
        _limits = limits;
        _metrics = metrics;
        _store = cleanSession ? null : store;
        _inflightWindow = limits.MaxInflightMessages;
    }

    /// <summary>True when this session's state is mirrored in the durable store.</summary>
    public bool IsStored => _store is not null;

    /// <summary>Allocates the store key for a message about to be queued here (see <see cref="Enqueue"/>).</summary>
    public long NextStoreSequence() => Interlocked.Increment(ref _lastStoreSequence);

    /// <summary>Rebuilds the state the store held for this session at start-up.</summary>
    public void Restore(StoredSession stored)
    {
        lock (Gate)
        {
            // Until its client logs in again nobody knows whose ACL applies: messages queued meanwhile are checked then.
            _queuedWithoutAccess = true;
            OfflineSince = stored.OfflineSince ?? DateTimeOffset.UtcNow;
            foreach (StoredQueuedMessage queued in stored.Queue)
            {
                _lastStoreSequence = Math.Max(_lastStoreSequence, queued.Sequence);
                Subscription? sharedVia = queued.SharedVia is { } filter && _subscriptions?.GetValueOrDefault(filter) is { ShareGroup: not null } shared ? shared : null;
                if (queued.State == QueuedState.Queued || queued.PacketId == 0)
                {
                    Pending.Enqueue(new Delivery(queued.Message, queued.Qos, queued.Retain, queued.Sequence, queued.SubscriptionIds, sharedVia, Environment.TickCount64));
                    AddQueuedBytes(queued.Message.Size);
                    continue;
                }

                Inflight[queued.PacketId] = new InflightEntry
                {
                    Message = queued.Message,
                    Qos = queued.Qos,
                    Retain = queued.Retain,
                    State = queued.State == QueuedState.Released ? InflightState.AwaitingPubComp
                        : queued.Qos == 1 ? InflightState.AwaitingPubAck : InflightState.AwaitingPubRec,
                    Sequence = _sequence++,
                    StoreSequence = queued.Sequence,
                    SubscriptionIds = queued.SubscriptionIds,
                    SharedVia = sharedVia,
                };
            }

            foreach (ushort packetId in stored.InboundQos2)
            {
                (_awaitingRelease ??= []).Add(packetId);
            }
        }
    }

    public string ClientId { get; }

    /// <summary>Gives a broker-internal session (a bridge's store-and-forward queue) bounds of its own.</summary>
    public void UseLimits(SessionLimits limits)
    {
        lock (Gate)
        {
            _limits = limits;
            _inflightWindow = Math.Min(_inflightWindow, limits.MaxInflightMessages);
        }
    }

    /// <summary>Told of every queued message this session gives up (bound, budget, expiry or age); called under the session's lock.</summary>
    public Action<ApplicationMessage, DropReason>? Dropped { get; set; }

    /// <summary>Session Expiry Interval meaning "never" (MQTT 5 §3.1.2.11.2), and 3.1.1's CleanSession=0.</summary>
    public const uint NeverExpires = uint.MaxValue;

    private uint _expiryInterval;

    private PendingQueue Pending => _pending ??= new();

    private Dictionary<ushort, InflightEntry> Inflight => _inflight ??= [];

    private int PendingCount => _pending?.Count ?? 0;

    private int ReplayNow => _pending?.ReplayCount ?? 0;

    private long ReplayBytesNow => _pending?.ReplayBytes ?? 0;

    private int InflightNow => _inflight?.Count ?? 0;

    /// <summary>
    /// Seconds the session outlives its connection: 0 ends it with the connection (3.1.1 CleanSession=1),
    /// <see cref="NeverExpires"/> keeps it (3.1.1 CleanSession=0). Set from each CONNECT, and may be changed by
    /// an MQTT 5 DISCONNECT.
    /// </summary>
    public uint ExpiryInterval
    {
        get => Volatile.Read(ref _expiryInterval);
        set => Volatile.Write(ref _expiryInterval, value);
    }

    /// <summary>True when the session ends with its connection.</summary>
    public bool CleanSession => ExpiryInterval == 0;

    /// <summary>When the client went away; null while connected. Persistent sessions expire from it.</summary>
    public DateTimeOffset? OfflineSince { get; private set; } = DateTimeOffset.UtcNow;

    /// <summary>The ACL view of the client last connected to this session; null when there is no ACL.</summary>
    public Security.ClientAccess? Access { get; private set; }

    private bool _queuedWithoutAccess;

    // The version of the ACL the queued messages were last checked against (see VetQueue).
    private int _queueAclVersion = -1;

    /// <summary>
    /// Sets the logged-in client's access, before its writer runs. A session restored at start-up received messages
    /// while nobody's ACL was known, an ACL reloaded while messages waited may have taken their topics away, and a
    /// different user may be taking the session over: those the client may not read are dropped now
    /// (<see cref="VetQueue"/>).
    /// </summary>
    public void UseAccess(Security.ClientAccess? access)
    {
        lock (Gate)
        {
            // Another user taking the session over inherits its queue and its unacknowledged messages, which were
            // checked against the old user's rules (or, restored at start-up, nobody's).
            bool otherUser = Access is not null && access is not null && !string.Equals(Access.User, access.User, StringComparison.Ordinal);
            if (otherUser)
            {
                _queueAclVersion = -1;
            }

            if (access is not null && (otherUser || _queuedWithoutAccess))
            {
                VetInflight(access);
            }

            Access = access;
            if (access is not null && (_queuedWithoutAccess || access.CurrentVersion != _queueAclVersion))
            {
                VetQueue(access);
            }
        }
    }

    /// <summary>
    /// Drops the unacknowledged PUBLISHes the client may not read, which a reconnect would otherwise re-send to it
    /// (a PUBREL still owed is kept: the message itself is not sent again).
    /// </summary>
    private void VetInflight(Security.ClientAccess access)
    {
        if (_inflight is not { Count: > 0 } inflight)
        {
            return;
        }

        Security.AccessRules rules = access.Rules;
        List<ushort>? denied = null;
        foreach ((ushort packetId, InflightEntry entry) in inflight)
        {
            if (entry.State != InflightState.AwaitingPubComp && !rules.CanRead(entry.Message.Topic))
            {
                (denied ??= []).Add(packetId);
            }
        }

        foreach (ushort packetId in denied ?? [])
        {
            inflight.Remove(packetId, out InflightEntry entry);
            ForgetStored(entry.StoreSequence);
            _metrics.CountAclDenied();
        }
    }

    /// <summary>
    /// Drops the queued messages the client may not read (counted as ACL denials), as a live delivery would have been
    /// refused: Mosquitto checks read access as each message goes out, so revoking it also holds back what was queued
    /// before. Run when the ACL changed since the last check, not per message. While a retained replay is still coming
    /// out it waits, and the writer checks each message it takes instead.
    /// </summary>
    private void VetQueue(Security.ClientAccess access)
    {
        if ((_pending?.ReplayCount ?? 0) > 0)
        {
            return;
        }

        int version = access.CurrentVersion;
        Security.AccessRules rules = access.Rules;
        _queuedWithoutAccess = false;
        _queueAclVersion = version;
        if (PendingCount == 0)
        {
            return;
        }

        var allowed = new PendingQueue();
        while (PendingCount > 0)
        {
            Delivery next = Pending.Dequeue();
            if (rules.CanRead(next.Message.Topic))
            {
                allowed.Enqueue(next);
                continue;
            }

            ForgetDenied(next);
        }

        _pending = allowed;
    }

    /// <summary>The bookkeeping of a queued delivery taken out because the client may not read it.</summary>
    private void ForgetDenied(in Delivery denied)
    {
        AddQueuedBytes(-denied.Message.Size);
        ForgetStored(denied.Sequence);
        _metrics.CountAclDenied();
    }

    public bool HasSubscription(string filter)
    {
        lock (Gate)
        {
            return _subscriptions?.ContainsKey(filter) == true;
        }
    }

    /// <summary>Number of subscriptions; the router skips de-duplication when every match has just one.</summary>
    public int SubscriptionCount { get; private set; }

    public bool IsConnected
    {
        get
        {
            lock (Gate)
            {
                return _connection is not null;
            }
        }
    }

    public int QueuedCount
    {
        get
        {
            lock (Gate)
            {
                return PendingCount;
            }
        }
    }

    public int InflightCount
    {
        get
        {
            lock (Gate)
            {
                return InflightNow;
            }
        }
    }

    /// <summary>
    /// Attaches a new connection and queues its CONNACK first. Unacknowledged outbound messages are re-sent
    /// with DUP=1 and their original packet identifiers, PUBRELs re-sent, before anything new [MQTT-4.4.0-1].
    /// </summary>
    public void Attach(ISessionConnection connection, bool sessionPresent, Protocol.V5.MqttProperties? connAckProperties = null, int inflightWindow = int.MaxValue, bool holdOutput = false)
    {
        lock (Gate)
        {
            _connection = connection;
            _outputHeld = holdOutput;
            _inflightWindow = Math.Min(inflightWindow, _limits.MaxInflightMessages);
            OfflineSince = null;
            _control?.Clear();
            _connAckWaiting = true;
            _connAckSessionPresent = sessionPresent;
            _connAckProperties = connAckProperties;
            _resends = InflightNow > 0 ? ResendBacklog.Of(Inflight) : null;
        }

        connection.SignalOutput();
    }

    /// <summary>Lets the writer send what the session holds back since <see cref="Attach"/> was asked to hold it.</summary>
    public void ReleaseOutput()
    {
        ISessionConnection? connection;
        lock (Gate)
        {
            _outputHeld = false;
            connection = _connection;
        }

        connection?.SignalOutput();
    }

    /// <summary>Detaches a connection if it is still the current one. Returns false after a takeover.</summary>
    public bool Detach(ISessionConnection connection)
    {
        lock (Gate)
        {
            if (!ReferenceEquals(_connection, connection))
            {
                return false;
            }

            _connection = null;
            OfflineSince = DateTimeOffset.UtcNow;
            _control?.Clear();
            _connAckWaiting = false;
            _connAckProperties = null;
            _resends = null;
            return true;
        }
    }

    public ISessionConnection? Connection
    {
        get
        {
            lock (Gate)
            {
                return _connection;
            }
        }
    }

    /// <summary>Records a subscription; returns the one it replaces, if any.</summary>
    public Subscription? SetSubscription(Subscription subscription)
    {
        lock (Gate)
        {
            _subscriptions ??= new Dictionary<string, Subscription>(StringComparer.Ordinal);
            _subscriptions.TryGetValue(subscription.Filter, out Subscription? previous);
            _subscriptions[subscription.Filter] = subscription;
            SubscriptionCount = _subscriptions.Count;
            return previous;
        }
    }

    public bool RemoveSubscription(string filter)
    {
        lock (Gate)
        {
            bool removed = _subscriptions?.Remove(filter) == true;
            SubscriptionCount = _subscriptions?.Count ?? 0;
            return removed;
        }
    }

    public Subscription[] GetSubscriptions()
    {
        lock (Gate)
        {
            return _subscriptions is null ? [] : [.. _subscriptions.Values];
        }
    }

    /// <summary>
    /// Queues a message for delivery. Offline clean sessions take nothing; offline persistent sessions take
    /// QoS 1/2 (3.1.1 §3.1.2.4). Live traffic is bounded by count and bytes with a counted drop; a retained
    /// replay is bounded by the retained store itself and never truncated.
    /// </summary>
    /// <remarks>
    /// <paramref name="storeSequence"/> is non-zero when the caller has already written this delivery to the
    /// store (in the same commit as the message), so that it survives a restart. <paramref name="aclVersion"/> is the
    /// ACL version the router checked read access under (-1: not checked).
    /// </remarks>
    public void Enqueue(ApplicationMessage message, byte qos, bool retain, bool retainedReplay = false, long storeSequence = 0, uint[]? subscriptionIds = null, Subscription? sharedVia = null, int aclVersion = -1)
    {
        // Make room under the broker-wide budget before taking this session's lock (reclaiming takes others').
        if (_budget is { } roomFor && _metrics.QueuedBytes + message.Size > _limits.MaxTotalQueuedBytes)
        {
            roomFor.Reclaim();
        }

        ISessionConnection? connection;
        lock (Gate)
        {
            connection = _connection;
            if (connection is null && (CleanSession || (qos == 0 && !_limits.QueueQos0WhileOffline)))
            {
                ForgetStored(storeSequence);
                return;
            }

            // Routed under rules a reload has replaced since (the router's check and this call are apart by a store
            // commit), perhaps after this queue was last checked against the new ones (VetQueue): checked again.
            if (aclVersion >= 0 && Access is { } access && access.CurrentVersion != aclVersion && !access.Rules.CanRead(message.Topic))
            {
                _metrics.CountAclDenied();
                ForgetStored(storeSequence);
                return;
            }

            if (!retainedReplay && !MakeRoom(message.Size))
            {
                Dropped?.Invoke(message, DropReason.QueueFull);
                ForgetStored(storeSequence);
                return;
            }

            Pending.Enqueue(new Delivery(message, qos, retain, storeSequence, subscriptionIds, sharedVia, Environment.TickCount64));
            AddQueuedBytes(message.Size);
        }

        connection?.SignalOutput();
        if (_budget is { IsExceeded: true } budget)
        {
            budget.Reclaim();
        }
    }

    /// <summary>
    /// Queues the retained messages a subscription is due, as <see cref="Enqueue"/> with retainedReplay would one by
    /// one. While the client is connected they stay one compact item until the writer takes them; an offline
    /// session takes them one by one, by its rules for offline queuing.
    /// </summary>
    public void EnqueueRetained(RetainedReplay replay)
    {
        if (_budget is { } roomFor && _metrics.QueuedBytes + replay.Bytes > _limits.MaxTotalQueuedBytes)
        {
            roomFor.Reclaim();
        }

        ISessionConnection? connection;
        lock (Gate)
        {
            connection = _connection;
            if (connection is not null)
            {
                replay.EnqueuedAt = Environment.TickCount64;
                AddQueuedBytes(replay.Bytes);
                Pending.Enqueue(replay);
            }
        }

        if (connection is null)
        {
            while (replay.Count > 0)
            {
                Delivery next = replay.Dequeue();
                Enqueue(next.Message, next.Qos, retain: true, retainedReplay: true, subscriptionIds: next.SubscriptionIds);
            }

            return;
        }

        connection.SignalOutput();
        if (_budget is { IsExceeded: true } budget)
        {
            budget.Reclaim();
        }
    }

    private bool MakeRoom(int size)
    {
        // Retained replays are left out of the bounds: the subscriber asked for all of them at once, and a live
        // message arriving mid-replay must not cut the replay down to the queue limit.
        while (PendingCount - ReplayNow > 0)
        {
            DropReason reason;
            if (PendingCount - ReplayNow >= _limits.MaxQueuedMessages || _pendingBytes - ReplayBytesNow + size > _limits.MaxQueuedBytes)
            {
                reason = DropReason.QueueFull;
            }
            else
            {
                break;
            }

            _metrics.CountDropped(reason);
            if (_limits.OverflowPolicy == QueueOverflowPolicy.DropNewest)
            {
                return false;
            }

            Delivery dropped = Pending.DropOldestDelivery();
            Dropped?.Invoke(dropped.Message, reason);
            AddQueuedBytes(-dropped.Message.Size);
            ForgetStored(dropped.Sequence);
        }

        return true;
    }

    private long _lastDrainedAt = Environment.TickCount64;

    /// <summary>True while a connected writer keeps taking messages (within the last second): not a stalled queue.</summary>
    public bool IsDraining => Environment.TickCount64 - Volatile.Read(ref _lastDrainedAt) < 1000;

    /// <summary>Bytes queued here (read without the lock: a hint for <see cref="QueueBudget"/>).</summary>
    public long PendingBytes => Volatile.Read(ref _pendingBytes);

    /// <summary>Drops at least <paramref name="bytes"/> of the oldest queued messages (counted); returns the bytes freed.</summary>
    public long Shed(long bytes)
    {
        long freed = 0;
        lock (Gate)
        {
            while (freed < bytes && PendingCount > 0)
            {
                Delivery dropped = Pending.Dequeue();
                AddQueuedBytes(-dropped.Message.Size);
                ForgetStored(dropped.Sequence);
                _metrics.CountDropped(DropReason.BrokerQueueBudget);
                Dropped?.Invoke(dropped.Message, DropReason.BrokerQueueBudget);
                freed += dropped.Message.Size;
            }
        }

        return freed;
    }

    /// <summary>
    /// The session is gone for good: what it still had queued no longer counts against the broker-wide budget
    /// (without this, every session that ended with a backlog left its bytes charged forever).
    /// </summary>
    public void ReleaseQueued()
    {
        lock (Gate)
        {
            AddQueuedBytes(-_pendingBytes);
            _pending = null;
        }
    }

    private void AddQueuedBytes(long delta)
    {
        _pendingBytes += delta;
        _metrics.AddQueuedBytes(delta);
    }

    private void ForgetStored(long storeSequence)
    {
        if (storeSequence != 0)
        {
            _store?.Submit(StoreOperation.DeleteQueued(ClientId, storeSequence));
        }
    }

    /// <summary>Queues an acknowledgement or other control packet for the current connection.</summary>
    public void EnqueueControl(OutboundPacket packet)
    {
        ISessionConnection? connection;
        lock (Gate)
        {
            connection = _connection;
            if (connection is null)
            {
                return;
            }

            (_control ??= new Queue<OutboundPacket>(1)).Enqueue(packet);
        }

        connection.SignalOutput();
    }

    /// <summary>
    /// Moves what the writer of <paramref name="connection"/> should send next into <paramref name="batch"/>:
    /// control packets, then re-sends, then queued messages while the in-flight window has room.
    /// </summary>
    /// <returns>
    /// True when the batch holds a stored QoS 2 message whose new packet identifier must be durable before the
    /// PUBLISH goes out: otherwise a restart could re-send it under another identifier and deliver it twice.
    /// </returns>
    public bool DrainOutbound(ISessionConnection connection, List<OutboundPacket> batch, int maxBatch)
    {
        bool mustBeDurable = false;
        lock (Gate)
        {
            if (!ReferenceEquals(_connection, connection) || _outputHeld)
            {
                return false;
            }

            bool connAckWaiting = _connAckWaiting;
            if (connAckWaiting)
            {
                batch.Add(OutboundPacket.ConnAck(_connAckSessionPresent, ConnectReturnCode.Accepted, _connAckProperties));
                _connAckWaiting = false;
                _connAckProperties = null;
            }

            if (_control is { } control)
            {
                while (control.Count > 0)
                {
                    batch.Add(control.Dequeue());
                }
            }

            if (_resends is { } resends)
            {
                AddResends(resends, batch);
            }

            if (Access is { } access && access.CurrentVersion != _queueAclVersion)
            {
                VetQueue(access);
            }

            // VetQueue waits while a retained replay is coming out: until then each message is checked as it goes.
            Security.AccessRules? unvetted = Access is { } stale && stale.CurrentVersion != _queueAclVersion ? stale.Rules : null;
            long now = 0;
            while (PendingCount > 0 && batch.Count < maxBatch)
            {
                Delivery next = Pending.Peek();
                if (connAckWaiting && !mustBeDurable && next.Qos == 2 && next.Sequence != 0 && _store is not null)
                {
                    // This batch would wait for the store: the CONNACK goes out first (a stalled store, a full disk,
                    // must not hold back a reconnecting client's CONNACK). Only then: acknowledgements stay batched.
                    break;
                }

                if (unvetted is not null && !unvetted.CanRead(next.Message.Topic))
                {
                    Pending.Dequeue();
                    ForgetDenied(next);
                    continue;
                }

                if ((next.Message.ExpiresAtUnixMs != 0 && next.Message.IsExpired(now == 0 ? now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() : now))
                    || (_limits.MaxQueuedAge is { } maxAge && next.EnqueuedAt != 0 && Environment.TickCount64 - next.EnqueuedAt > (long)maxAge.TotalMilliseconds))
                {
                    // An expired message is not delivered [MQTT-3.3.2-5].
                    Pending.Dequeue();
                    AddQueuedBytes(-next.Message.Size);
                    ForgetStored(next.Sequence);
                    _metrics.CountDropped(DropReason.Expired);
                    Dropped?.Invoke(next.Message, DropReason.Expired);
                    continue;
                }

                ushort packetId = 0;
                if (next.Qos > 0)
                {
                    // The window is the lower of ours and the client's Receive Maximum [MQTT-3.3.4-9].
                    if (InflightNow >= _inflightWindow)
                    {
                        break;
                    }

                    packetId = NextPacketId();
                    Inflight[packetId] = new InflightEntry
                    {
                        Message = next.Message,
                        Qos = next.Qos,
                        Retain = next.Retain,
                        State = next.Qos == 1 ? InflightState.AwaitingPubAck : InflightState.AwaitingPubRec,
                        Sequence = _sequence++,
                        StoreSequence = next.Sequence,
                        SubscriptionIds = next.SubscriptionIds,
                        SharedVia = next.SharedVia,
                    };
                    if (next.Sequence != 0 && _store is not null)
                    {
                        _store.Submit(StoreOperation.UpdateQueued(ClientId, next.Sequence, packetId, QueuedState.Sent));
                        mustBeDurable |= next.Qos == 2;
                    }
                }
                else
                {
                    ForgetStored(next.Sequence);
                }

                Pending.Dequeue();
                AddQueuedBytes(-next.Message.Size);
                Volatile.Write(ref _lastDrainedAt, Environment.TickCount64);
                batch.Add(OutboundPacket.Publish(next.Message, next.Qos, next.Retain, dup: false, packetId, next.SubscriptionIds));
            }
        }

        return mustBeDurable;
    }

    /// <summary>
    /// Re-sends after a reconnect, in their original order [MQTT-4.6.0-1]: the PUBRELs that were owed when the client
    /// came back, and the PUBLISHes while the client's Receive Maximum has room [MQTT-3.3.4-9]. A client that comes back
    /// with a lower one than before must not get more unacknowledged PUBLISHes than it now allows; the rest follow as
    /// acknowledgements come in.
    /// </summary>
    private void AddResends(ResendBacklog resends, List<OutboundPacket> batch)
    {
        // Out on this connection: what is in flight less the PUBLISHes still waiting here. One the client acknowledged
        // or PUBREC'd meanwhile (it may, for a message it had on the last connection) no longer waits: its PUBREL, if
        // any, was queued by OnPubRec once durable, and must not go out a second time, or before that, from here.
        int waiting = 0;
        foreach ((ushort packetId, bool pubRel) in resends.Order)
        {
            waiting += !pubRel && IsPublishDue(packetId) ? 1 : 0;
        }

        int kept = 0;
        List<(ushort PacketId, bool PubRel)> order = resends.Order;
        for (int i = 0; i < order.Count; i++)
        {
            (ushort packetId, bool pubRel) = order[i];
            if (pubRel)
            {
                if (Inflight.TryGetValue(packetId, out InflightEntry released) && released.State == InflightState.AwaitingPubComp)
                {
                    batch.Add(OutboundPacket.Control(PacketType.PubRel, packetId));
                }
            }
            else if (!IsPublishDue(packetId))
            {
                continue;
            }
            else if (InflightNow - waiting < _inflightWindow)
            {
                InflightEntry entry = Inflight[packetId];
                batch.Add(OutboundPacket.Publish(entry.Message, entry.Qos, entry.Retain, dup: true, packetId, entry.SubscriptionIds));
                waiting--;
            }
            else
            {
                order[kept++] = (packetId, false);
            }
        }

        order.RemoveRange(kept, order.Count - kept);
        if (kept == 0)
        {
            _resends = null;
        }
    }

    private bool IsPublishDue(ushort packetId) => Inflight.TryGetValue(packetId, out InflightEntry entry) && entry.State != InflightState.AwaitingPubComp;

    /// <summary>What a reconnect found in flight and still has to re-send, oldest first.</summary>
    private sealed class ResendBacklog
    {
        public readonly List<(ushort PacketId, bool PubRel)> Order = [];

        public static ResendBacklog Of(Dictionary<ushort, InflightEntry> inflight)
        {
            var entries = new List<KeyValuePair<ushort, InflightEntry>>(inflight);
            entries.Sort(static (a, b) => a.Value.Sequence.CompareTo(b.Value.Sequence));
            var backlog = new ResendBacklog();
            foreach ((ushort packetId, InflightEntry entry) in entries)
            {
                backlog.Order.Add((packetId, entry.State == InflightState.AwaitingPubComp));
            }

            return backlog;
        }
    }

    private ushort NextPacketId()
    {
        // Identifiers in use are skipped [MQTT-2.3.1-2]; the window is far below 65535, so this ends.
        do
        {
            _lastPacketId = _lastPacketId == ushort.MaxValue ? (ushort)1 : (ushort)(_lastPacketId + 1);
        }
        while (Inflight.ContainsKey(_lastPacketId));
        return _lastPacketId;
    }

    /// <summary>
    /// Gives up an outbound message that will not be sent (too large for the client's Maximum Packet Size) or
    /// that the client refused (PUBREC with an error reason code, MQTT 5 §4.3.3).
    /// </summary>
    public void Abandon(ushort packetId)
    {
        bool wake;
        lock (Gate)
        {
            if (!Inflight.Remove(packetId, out InflightEntry entry))
            {
                return;
            }

            ForgetStored(entry.StoreSequence);
            wake = (PendingCount > 0 || _resends is not null) && _connection is not null;
        }

        if (wake)
        {
            Connection?.SignalOutput();
        }
    }

    /// <summary>PUBACK from the client completes a QoS 1 delivery (§4.3.2).</summary>
    public void OnPubAck(ushort packetId) => Complete(packetId, InflightState.AwaitingPubAck);

    /// <summary>
    /// PUBACK for a QoS 2 message the peer was sent at QoS 1 because it takes no more (a bridge's upstream with MQTT 5
    /// Maximum QoS 1): completes it.
    /// </summary>
    public void OnDowngradedPubAck(ushort packetId) => Complete(packetId, InflightState.AwaitingPubRec);

    /// <summary>PUBCOMP from the client completes a QoS 2 delivery (§4.3.3).</summary>
    public void OnPubComp(ushort packetId) => Complete(packetId, InflightState.AwaitingPubComp);

    /// <summary>PUBREC from the client: the message is stored by the receiver; answer with PUBREL (§4.3.3).</summary>
    /// <remarks>
    /// For a stored message the new state is made durable before PUBREL goes out: once the client may have
    /// released the identifier, a restart must re-send PUBREL, never the PUBLISH (which it would take as new).
    /// </remarks>
    public void OnPubRec(ushort packetId)
    {
        long storeSequence = 0;
        lock (Gate)
        {
            ref InflightEntry entry = ref CollectionsMarshal.GetValueRefOrNullRef(Inflight, packetId);
            if (!Unsafe.IsNullRef(ref entry) && entry.State == InflightState.AwaitingPubRec)
            {
                entry.State = InflightState.AwaitingPubComp;
                storeSequence = entry.StoreSequence;
            }
        }

        // A repeated PUBREC (or one for an identifier already completed) is still answered, so the client's
        // state machine can finish.
        OutboundPacket pubRel = OutboundPacket.Control(PacketType.PubRel, packetId);
        if (storeSequence != 0 && _store is not null)
        {
            ReleaseWhenDurable(_store, storeSequence, pubRel);
        }
        else
        {
            EnqueueControl(pubRel);
        }
    }

    // Apart from OnPubRec: a lambda capturing its locals would allocate its closure on every PUBREC.
    private void ReleaseWhenDurable(IBrokerStore store, long storeSequence, OutboundPacket pubRel) =>
        store.Submit([StoreOperation.UpdateQueued(ClientId, storeSequence, pubRel.PacketId, QueuedState.Released)], () => EnqueueControl(pubRel));

    private void Complete(ushort packetId, InflightState expected)
    {
        bool wake;
        lock (Gate)
        {
            if (!Inflight.TryGetValue(packetId, out InflightEntry entry) || entry.State != expected)
            {
                return;
            }

            Inflight.Remove(packetId);
            ForgetStored(entry.StoreSequence);
            wake = (PendingCount > 0 || _resends is not null) && _connection is not null;
        }

        if (wake)
        {
            Connection?.SignalOutput();
        }
    }

    /// <summary>
    /// Collects the messages that came through shared subscriptions and were not acknowledged (queued,
    /// or in flight short of PUBREC), for the router to hand to other members when this session ends; null when none.
    /// </summary>
    public List<Delivery>? TakeSharedUndelivered()
    {
        List<Delivery>? taken = null;
        lock (Gate)
        {
            // The queues are created on first use: a session that never had them (most) must not create them here.
            if (_pending is { } pending)
            {
                foreach (Delivery delivery in pending.Deliveries)
                {
                    if (delivery.SharedVia is not null)
                    {
                        (taken ??= []).Add(delivery);
                    }
                }
            }

            if (_inflight is { } inflight)
            {
                foreach (InflightEntry entry in inflight.Values)
                {
                    if (entry.SharedVia is not null && entry.State != InflightState.AwaitingPubComp)
                    {
                        (taken ??= []).Add(new Delivery(entry.Message, entry.Qos, entry.Retain, 0, entry.SubscriptionIds, entry.SharedVia));
                    }
                }
            }
        }

        return taken;
    }

    /// <summary>
    /// An inbound QoS 2 PUBLISH: returns true the first time a packet identifier is seen, false for a
    /// re-sent PUBLISH before PUBREL, which must not be delivered again (§4.3.3, [MQTT-4.3.3-2]).
    /// </summary>
    public bool TryBeginInboundQos2(ushort packetId)
    {
        lock (Gate)
        {
            return (_awaitingRelease ??= []).Add(packetId);
        }
    }

    /// <summary>
    /// PUBREL from the client: forgets the identifier and returns the store write that makes that durable
    /// (null for a session that is not stored); the caller sends PUBCOMP once it is.
    /// </summary>
    public StoreOperation? ReleaseInboundQos2(ushort packetId) => ReleaseInboundQos2(packetId, out _);

    /// <summary>
    /// Forgets every inbound QoS 2 identifier awaiting PUBREL, when the peer started a new session and will never
    /// release them (a bridge whose upstream lost its session); returns the store writes that make it durable.
    /// </summary>
    public List<StoreOperation> ForgetInboundQos2()
    {
        lock (Gate)
        {
            if (_awaitingRelease is null)
            {
                return [];
            }

            var operations = new List<StoreOperation>(_store is null ? 0 : _awaitingRelease.Count);
            foreach (ushort packetId in _awaitingRelease)
            {
                if (_store is not null)
                {
                    operations.Add(StoreOperation.DeleteInbound(ClientId, packetId));
                }
            }

            _awaitingRelease.Clear();
            return operations;
        }
    }

    /// <summary>As <see cref="ReleaseInboundQos2(ushort)"/>; <paramref name="known"/> tells whether the identifier was awaiting PUBREL.</summary>
    public StoreOperation? ReleaseInboundQos2(ushort packetId, out bool known)
    {
        lock (Gate)
        {
            known = _awaitingRelease?.Remove(packetId) == true;
            return known && _store is not null ? StoreOperation.DeleteInbound(ClientId, packetId) : null;
        }
    }
}
