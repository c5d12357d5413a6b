using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using System.Diagnostics;
using System.Runtime.InteropServices;
using SensorNode.Broker.Diagnostics;
using SensorNode.Broker.Persistence;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Routing;
using SensorNode.Broker.Security;
using SensorNode.Broker.Sessions;
using SensorNode.Broker.Transport;

namespace SensorNode.Broker;

/// <summary>
/// The MQTT engine: sessions, subscriptions, retained messages and the live connections, independent of
/// how bytes arrive. Transports hand it connections; <see cref="Hosting.BrokerServer"/> wires it to its listeners (its own for plain TCP, Kestrel for TLS, WebSocket and HTTP).
/// </summary>
public sealed class MqttBroker : IDisposable
{
    private readonly ConcurrentDictionary<MqttConnection, byte> _connections = new();
    private readonly ConcurrentDictionary<Session, DelayedWill> _delayedWills = new(ReferenceEqualityComparer.Instance);
    private readonly Timer _timeoutTimer;
    private readonly Timer _housekeepingTimer;
    private long _droppedReported;
    private long _lastDropReport;
    private readonly bool _ownsStore;

    // The store is kept beyond this process (on disk, or handed in by the host): wills and sessions can wait in it.
    private readonly bool _storeOutlivesProcess;

    // Client ids whose connection's will is in the store (see RecordConnectedWill).
    private readonly ConcurrentDictionary<string, byte> _connectedWills = new(StringComparer.Ordinal);
    private readonly bool _storesRetained;
    private long _lastMessageId;
    private volatile bool _shuttingDown;

    private readonly ConcurrentDictionary<System.Net.IPAddress, int> _connectionsPerAddress = new();

    public MqttBroker(BrokerOptions options, ILoggerFactory loggerFactory)
    {
        options.Validate();
        Security = new Security.SecurityManager(
            options.Security,
            Hosting.BrokerServer.IsExposed(options, Hosting.BrokerServer.CarriesMqtt),
            loggerFactory.CreateLogger("SensorNode.Broker.Security"),
            dashboardExposed: Hosting.BrokerServer.IsExposed(options, Hosting.BrokerServer.ServesHttp));
        Options = options;
        LoggerFactory = loggerFactory;
        Logger = loggerFactory.CreateLogger("SensorNode.Broker");
        Metrics = new BrokerMetrics();
        Subscriptions = new SubscriptionTrie();
        Retained = new RetainedMessageStore();
        Router = new MessageRouter(Subscriptions, Retained);
        _ownsStore = options.Store is null;
        _storeOutlivesProcess = !_ownsStore || options.Persistence != PersistenceMode.Memory;
        Store = options.Store ?? OpenStore(options, Logger);
        // Nothing to write for a retained publish then, so it need not wait for the store like a durable one.
        _storesRetained = Store is not InMemoryBrokerStore { KeepsRetained: false };
        // A store the broker opened in memory is never loaded again: sessions that wrote their queues to it would only
        // pay for the writes (and wait for them) and fill it with every message they were ever sent.
        Sessions = new SessionRegistry(options.Sessions, Metrics, _storeOutlivesProcess ? Store : null);
        try
        {
            Recover();
        }
        catch
        {
            if (_ownsStore)
            {
                Store.Dispose();
            }

            throw;
        }

        _timeoutTimer = new Timer(_ => CheckTimeouts(), null, options.TimeoutCheckInterval, options.TimeoutCheckInterval);
        _housekeepingTimer = new Timer(_ => Housekeeping(), null, options.HousekeepingInterval, options.HousekeepingInterval);
    }

    /// <summary>Users, ACL, anonymous policy and failed-login throttling.</summary>
    public Security.SecurityManager Security { get; }

    /// <summary>
    /// Counts a new connection against the broker-wide and per-address limits; the reason when it is one too many.
    /// Every admitted connection is released with <see cref="Release"/>.
    /// </summary>
    internal DisconnectReason? Admit(System.Net.IPAddress? address)
    {
        if (address is not null && _connectionsPerAddress.AddOrUpdate(address, 1, (_, n) => n + 1) > Options.MaxConnectionsPerAddress)
        {
            return DisconnectReason.QuotaExceeded;
        }

        return Volatile.Read(ref _connectionCount) > Options.MaxConnections ? DisconnectReason.ServerBusy : null;
    }

    internal void Release(System.Net.IPAddress? address)
    {
        if (address is not null && _connectionsPerAddress.AddOrUpdate(address, 0, (_, n) => n - 1) <= 0)
        {
            _connectionsPerAddress.TryRemove(new KeyValuePair<System.Net.IPAddress, int>(address, 0));
        }
    }

    /// <summary>Where retained messages, persistent sessions and their queues are kept durably.</summary>
    public IBrokerStore Store { get; }

    public BrokerOptions Options { get; }

    public BrokerMetrics Metrics { get; }

    public SubscriptionTrie Subscriptions { get; }

    public RetainedMessageStore Retained { get; }

    public MessageRouter Router { get; }

    public SessionRegistry Sessions { get; }

    /// <summary>The bridges to upstream brokers (issue #10), set once they are started.</summary>
    public IReadOnlyList<Bridging.Bridge> Bridges { get; internal set; } = [];

    public ILoggerFactory LoggerFactory { get; }

    internal ILogger Logger { get; }

    public bool IsShuttingDown => _shuttingDown;

    /// <summary>Persistent sessions (and their delayed wills) survive a shutdown: false when the broker keeps nothing on disk.</summary>
    internal bool SessionsOutliveShutdown => !_shuttingDown || _storeOutlivesProcess;

    public int ConnectionCount => Volatile.Read(ref _connectionCount);

    private static IBrokerStore OpenStore(BrokerOptions options, ILogger logger) => options.Persistence switch
    {
        PersistenceMode.Memory => new InMemoryBrokerStore(keepsRetained: false),
        _ => SqliteBrokerStore.Open(options.DataDirectory, options.Durability, logger, options.RecoverDamagedStore),
    };

    /// <summary>Rebuilds retained messages and persistent sessions (subscriptions, queues, in-flight state) from the store.</summary>
    private void Recover()
    {
        var clock = Stopwatch.StartNew();
        StoredState state = Store.Load();
        foreach (ApplicationMessage retained in state.Retained)
        {
            Retained.Apply(retained);
        }

        int queued = 0;
        foreach (StoredSession stored in state.Sessions)
        {
            Session session = Sessions.Restore(stored.ClientId, stored.ExpiryInterval);
            foreach ((string filter, byte qos, SubscriptionOptions options) in stored.Subscriptions)
            {
                var subscription = new Subscription(session, filter, qos, options);
                session.SetSubscription(subscription);
                Subscriptions.Add(subscription);
            }

            session.Restore(stored);
            queued += stored.Queue.Count;
        }

        _lastMessageId = state.LastMessageId;
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        foreach ((string clientId, ApplicationMessage stored, long dueAt) in state.DelayedWills)
        {
            Session? owner = Sessions.Find(clientId);
            if (StoreOperation.ConnectedWillDelay(dueAt) is not { } delay)
            {
                if (owner is not null)
                {
                    Schedule(owner, stored, TimeSpan.FromMilliseconds(dueAt - now));
                }

                continue;
            }

            // Its Message Expiry Interval counts from now, when it is published, not from the CONNECT that carried it.
            ApplicationMessage will = ApplicationMessage.FromPublish(stored.Topic, stored.EncodedTopic[2..], stored.PayloadSpan, stored.Qos, stored.Retain, stored.Properties, now);

            // Connected when the broker went down without closing the connection (a crash): the connection is gone, so
            // its will is due [MQTT-3.1.2-8], after its delay if the session lives on and its client does not return.
            if (owner is not null && delay > 0)
            {
                Schedule(owner, will, TimeSpan.FromSeconds(Math.Min(delay, owner.ExpiryInterval)));
                continue;
            }

            Logger.LogInformation("Publishing the will of {ClientId}, connected when the broker last stopped without closing its connection", clientId);
            Store.Submit(StoreOperation.DeleteWill(clientId));
            Publish(will);
        }

        if (state.Retained.Count + state.Sessions.Count > 0 || Options.Persistence != PersistenceMode.Memory)
        {
            Logger.LogInformation(
                "Loaded {Retained} retained messages, {Sessions} persistent sessions and {Queued} queued messages in {Elapsed} ms ({Store})",
                state.Retained.Count, state.Sessions.Count, queued, clock.ElapsedMilliseconds, Store is SqliteBrokerStore sqlite ? sqlite.Path : "memory");
        }
    }

    /// <summary>
    /// Works out what a publish does: its targets, and the store writes that make it durable (the retained
    /// message, unless the store keeps none, and the message queued for each persistent session it reaches at
    /// QoS 1 or 2). Returns what <see cref="MessageRouter.Deliver"/> takes as <c>matchedAt</c>.
    /// </summary>
    public long PreparePublish(ApplicationMessage message, List<RouteTarget> targets, List<StoreOperation> operations, Session? publisher = null)
    {
        long matchedAt = Router.Match(message, targets, publisher);
        if (message.Retain && _storesRetained)
        {
            operations.Add(message.PayloadSpan.IsEmpty
                ? StoreOperation.DeleteRetained(message.Topic)
                : StoreOperation.PutRetained(message));
        }

        long messageId = 0;
        Span<RouteTarget> span = CollectionsMarshal.AsSpan(targets);
        for (int i = 0; i < span.Length; i++)
        {
            ref RouteTarget target = ref span[i];
            if (target.Qos == 0 || !target.Session.IsStored)
            {
                continue;
            }

            if (messageId == 0)
            {
                messageId = Interlocked.Increment(ref _lastMessageId);
                operations.Add(StoreOperation.PutMessage(messageId, message));
            }

            target.StoreSequence = target.Session.NextStoreSequence();
            operations.Add(StoreOperation.PutQueued(target.Session.ClientId, target.StoreSequence, messageId, target.Qos, target.Retain, target.SubscriptionIds, target.Shared?.Filter));
        }

        return matchedAt;
    }

    /// <summary>
    /// Publishes a message as if a client had sent it ($SYS, tools, tests). It takes effect once durable;
    /// await <see cref="IBrokerStore.FlushAsync"/> to know it has.
    /// </summary>
    public void Publish(ApplicationMessage message)
    {
        var targets = new List<RouteTarget>();
        var operations = new List<StoreOperation>();
        long matchedAt = PreparePublish(message, targets, operations);
        if (operations.Count == 0)
        {
            Router.Deliver(message, CollectionsMarshal.AsSpan(targets), matchedAt);
            return;
        }

        RouteTarget[] captured = [.. targets];
        Store.Submit(CollectionsMarshal.AsSpan(operations), () => Router.Deliver(message, captured, matchedAt));
    }

    /// <summary>
    /// Applies the filters of a SUBSCRIBE and returns the SUBACK codes: the granted QoS, or for a filter over the
    /// length or level limits 0x80 (3.1.1) / 0x8F Topic Filter invalid (5.0). A client's malformed filter never gets
    /// here (the decoder closes its connection); callers inside the broker get the same codes for one. A filter the
    /// session already has is replaced [MQTT-3.8.4-3]. Subscriptions whose retained messages are due (Retain
    /// Handling 0, or 1 for a new subscription; never for a shared one) are added to <paramref name="retainedDue"/>.
    /// </summary>
    public byte[] Subscribe(Session session, IReadOnlyList<SubscriptionRequest> requested, List<StoreOperation>? operations = null, bool mqtt5 = false, List<Subscription>? retainedDue = null)
    {
        byte[] codes = new byte[requested.Count];
        for (int i = 0; i < requested.Count; i++)
        {
            (string filter, byte qos, SubscriptionOptions options) = requested[i];
            bool shared = SharedSubscription.IsShared(filter);
            if (shared ? !SharedSubscription.IsValid(filter) : !TopicRules.IsValidTopicFilter(filter))
            {
                codes[i] = mqtt5 ? (byte)ReasonCode.TopicFilterInvalid : SubAckPacket.Failure;
                Logger.LogInformation("Client {ClientId} subscription to invalid filter '{Filter}' refused", session.ClientId, filter);
                continue;
            }

            string matched = shared && SharedSubscription.TryParse(filter, out _, out string? inner) ? inner : filter;
            if (matched.Length > Options.MaxTopicLength || matched.AsSpan().Count('/') + 1 > Options.MaxTopicLevels)
            {
                codes[i] = mqtt5 ? (byte)ReasonCode.TopicFilterInvalid : SubAckPacket.Failure;
                continue;
            }

            if (session.Access is { } access && !access.Rules.CanSubscribe(matched))
            {
                // Not allowed by the ACL: 0x80 (3.1.1) / 0x87 Not authorized (5.0).
                codes[i] = mqtt5 ? (byte)ReasonCode.NotAuthorized : SubAckPacket.Failure;
                Metrics.CountAclDenied();
                continue;
            }

            if (session.SubscriptionCount >= Options.MaxSubscriptionsPerClient && !session.HasSubscription(filter))
            {
                codes[i] = mqtt5 ? (byte)ReasonCode.QuotaExceeded : SubAckPacket.Failure;
                continue;
            }

            var subscription = new Subscription(session, filter, qos, options);
            Subscription? previous = session.SetSubscription(subscription);
            bool replay = retainedDue is not null && !shared && (options.RetainHandling == 0 || (options.RetainHandling == 1 && previous is null));
            subscription.RetainedReplayPending = replay;
            Subscriptions.Add(subscription);
            codes[i] = qos;
            if (session.IsStored)
            {
                operations?.Add(StoreOperation.PutSubscription(session.ClientId, filter, qos, options));
            }

            if (replay)
            {
                retainedDue!.Add(subscription);
            }
        }

        return codes;
    }

    /// <summary>Queues the retained messages matching each subscription, with RETAIN=1 [MQTT-3.3.1-6] [MQTT-3.3.1-8].</summary>
    public void SendRetained(Session session, List<Subscription> subscriptions)
    {
        foreach (Subscription subscription in subscriptions)
        {
            // From the match to the queueing no retained publish takes effect: one that comes meanwhile is queued
            // after the replay, so an older value never arrives after a newer one.
            lock (Retained.UpdateGate)
            {
                subscription.RetainedReplayPending = false;
                var matches = new List<RetainedMessage>();
                Retained.Match(subscription.Filter, matches);
                if (matches.Count == 0)
                {
                    continue;
                }

                if (session.Access?.Rules is { } rules)
                {
                    matches.RemoveAll(m => !rules.CanRead(System.Text.Encoding.UTF8.GetString(m.TopicUtf8)));
                }

                uint[]? ids = subscription.Options.Identifier != 0 ? [subscription.Options.Identifier] : null;
                session.EnqueueRetained(new RetainedReplay(matches, subscription.Qos, ids));
            }
        }
    }

    /// <summary>Removes a subscription; returns false when the session had none for that filter.</summary>
    public bool Unsubscribe(Session session, string filter, List<StoreOperation>? operations = null)
    {
        if (!session.RemoveSubscription(filter))
        {
            return false;
        }

        Subscriptions.Remove(filter, session);
        if (session.IsStored)
        {
            operations?.Add(StoreOperation.DeleteSubscription(session.ClientId, filter));
        }

        return true;
    }

    /// <summary>
    /// Removes a session's subscriptions from routing and its state from the store; what it held from shared
    /// subscriptions goes to other members of their groups, and a will it still owes is published now.
    /// </summary>
    public void DiscardSession(Session session)
    {
        foreach (Subscription subscription in session.GetSubscriptions())
        {
            Subscriptions.Remove(subscription.Filter, session);
        }

        HandOverShared(session);
        session.ReleaseQueued();
        if (_delayedWills.TryRemove(session, out DelayedWill? owed))
        {
            owed.Timer.Dispose();
            Publish(owed.Will);
        }

        // DeleteSession also removes a stored delayed will.
        if (session.IsStored)
        {
            Store.Submit(StoreOperation.DeleteSession(session.ClientId));
        }
    }

    /// <summary>
    /// A member of a share group is gone with messages it had not acknowledged: each goes to another member of the
    /// same group, or is dropped when none is left (§4.8.2). A copy for a stored session is stored, before the leaving
    /// session's deletion is: a crash in between must not lose a message both of them were told about.
    /// </summary>
    private void HandOverShared(Session leaving)
    {
        List<StoreOperation>? operations = null;
        List<(Subscription To, Delivery Delivery, byte Qos, long Sequence)>? moves = null;
        if (leaving.TakeSharedUndelivered() is not { } undelivered)
        {
            return;
        }

        foreach (Delivery delivery in undelivered)
        {
            if (delivery.SharedVia is not { } via || Subscriptions.PickShared(via, leaving) is not { } other)
            {
                continue;
            }

            byte qos = Math.Min(delivery.Message.Qos, other.Qos);
            long sequence = 0;
            if (qos > 0 && other.Subscriber.IsStored)
            {
                long messageId = Interlocked.Increment(ref _lastMessageId);
                sequence = other.Subscriber.NextStoreSequence();
                operations ??= [];
                operations.Add(StoreOperation.PutMessage(messageId, delivery.Message));
                operations.Add(StoreOperation.PutQueued(other.Subscriber.ClientId, sequence, messageId, qos, delivery.Retain, IdentifierOf(other), other.Filter));
            }

            (moves ??= []).Add((other, delivery, qos, sequence));
        }

        if (operations is not null)
        {
            Store.Submit(CollectionsMarshal.AsSpan(operations));
        }

        if (moves is null)
        {
            return;
        }

        // Queued after the submission: an acknowledgement's deletion of the stored copy must come after its insertion.
        foreach ((Subscription to, Delivery delivery, byte qos, long sequence) in moves)
        {
            to.Subscriber.Enqueue(delivery.Message, qos, delivery.Retain, storeSequence: sequence, subscriptionIds: IdentifierOf(to), sharedVia: to);
        }

        static uint[]? IdentifierOf(Subscription subscription) => subscription.Options.Identifier != 0 ? [subscription.Options.Identifier] : null;
    }

    /// <summary>
    /// Publishes a will after its Will Delay Interval (MQTT 5 §3.1.3.2.2), unless the client resumes the session
    /// first (<see cref="CancelDelayedWill"/>); the session ending earlier publishes it then.
    /// </summary>
    public void PublishWillLater(Session session, ApplicationMessage will, TimeSpan delay)
    {
        CancelDelayedWill(session);
        if (session.IsStored)
        {
            // Kept in the store so that a restart during the delay neither loses nor forgets the will.
            Store.Submit(StoreOperation.PutWill(session.ClientId, will, DateTimeOffset.UtcNow.Add(delay).ToUnixTimeMilliseconds()));
        }

        Schedule(session, will, delay);
    }

    private void Schedule(Session session, ApplicationMessage will, TimeSpan delay)
    {
        var owed = new DelayedWill(will);
        owed.Timer = new Timer(_ =>
        {
            if (_delayedWills.TryRemove(new KeyValuePair<Session, DelayedWill>(session, owed)))
            {
                owed.Timer.Dispose();
                ForgetStoredWill(session);
                Publish(will);
            }
        });
        _delayedWills[session] = owed;

        // Timers may fire a tick early; the will must not go out before its delay, so a few milliseconds are added.
        owed.Timer.Change(delay < TimeSpan.Zero ? TimeSpan.Zero : delay + TimeSpan.FromMilliseconds(15), Timeout.InfiniteTimeSpan);
    }

    /// <summary>
    /// Keeps the will of a connection just accepted in the store while the connection lasts (or forgets the previous
    /// connection's, when this one has none), so that a crash does not lose it: it is published at the next start.
    /// </summary>
    internal void RecordConnectedWill(string clientId, ApplicationMessage? will, uint willDelaySeconds)
    {
        if (!_storeOutlivesProcess)
        {
            return;
        }

        if (will is not null)
        {
            _connectedWills[clientId] = 0;
            Store.Submit(StoreOperation.PutConnectedWill(clientId, will, willDelaySeconds));
        }
        else
        {
            ForgetConnectedWill(clientId);
        }
    }

    /// <summary>The connection of <paramref name="clientId"/> ended and its will was dealt with: the stored copy goes.</summary>
    internal void ForgetConnectedWill(string clientId)
    {
        if (_connectedWills.TryRemove(clientId, out _))
        {
            Store.Submit(StoreOperation.DeleteWill(clientId));
        }
    }

    /// <summary>Wills waiting out their Will Delay Interval.</summary>
    public int DelayedWillCount => _delayedWills.Count;

    /// <summary>The client came back within the will delay: its will is not published [MQTT-3.1.3-9].</summary>
    public bool CancelDelayedWill(Session session)
    {
        if (_delayedWills.TryRemove(session, out DelayedWill? owed))
        {
            owed.Timer.Dispose();
            ForgetStoredWill(session);
            return true;
        }

        return false;
    }

    private void ForgetStoredWill(Session session)
    {
        if (session.IsStored)
        {
            Store.Submit(StoreOperation.DeleteWill(session.ClientId));
        }
    }

    private sealed class DelayedWill(ApplicationMessage will)
    {
        public ApplicationMessage Will { get; } = will;

        public Timer Timer { get; set; } = null!;
    }

    internal void Register(MqttConnection connection)
    {
        if (_connections.TryAdd(connection, 0))
        {
            // Counted here: the dictionary's Count takes all its locks, and Admit asks on every connect.
            int count = Interlocked.Increment(ref _connectionCount);
            if (count > Volatile.Read(ref _connectionPeak))
            {
                Volatile.Write(ref _connectionPeak, count);
            }
        }
    }

    internal void Unregister(MqttConnection connection)
    {
        if (_connections.TryRemove(connection, out _))
        {
            Interlocked.Decrement(ref _connectionCount);
        }
    }

    /// <summary>Closes every connection now, without waiting for what is queued (the end of a shutdown that took too long).</summary>
    internal void CloseAll(DisconnectReason reason)
    {
        foreach (MqttConnection connection in _connections.Keys)
        {
            connection.Close(reason);
        }
    }

    /// <summary>Stops taking new clients and asks every connection to flush what it has queued and close.</summary>
    public void BeginShutdown()
    {
        _shuttingDown = true;
        if (!SessionsOutliveShutdown)
        {
            // In memory every session ends with the process, and a delayed will is due when its session ends [MQTT-3.1.3-9].
            foreach (Session session in _delayedWills.Keys)
            {
                if (_delayedWills.TryRemove(session, out DelayedWill? owed))
                {
                    owed.Timer.Dispose();
                    Publish(owed.Will);
                }
            }
        }

        foreach (MqttConnection connection in _connections.Keys)
        {
            connection.BeginGracefulClose();
        }
    }

    /// <summary>
    /// Expires persistent sessions whose client stayed away too long, gives memory back after many clients left, and
    /// reports drops once per interval.
    /// </summary>
    internal void Housekeeping()
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        foreach (Session session in Sessions.Sessions)
        {
            ExpireIfDue(session, now);
        }

        TrimMemoryAfterShedding();

        if (Environment.TickCount64 - Interlocked.Read(ref _lastDropReport) < 60_000)
        {
            return;
        }

        Interlocked.Exchange(ref _lastDropReport, Environment.TickCount64);
        long dropped = Metrics.Dropped;
        long sinceLast = dropped - Interlocked.Exchange(ref _droppedReported, dropped);
        if (sinceLast > 0)
        {
            Logger.LogWarning(
                "Dropped {Count} queued messages since the last report (per-session bounds: {QueueFull} in total, broker-wide budget: {Budget} in total)",
                sinceLast, Metrics.DroppedQueueFull, Metrics.DroppedBrokerQueueBudget);
        }
    }

    private int _connectionCount;
    private int _connectionPeak;

    /// <summary>Connections that must have gone, at least half of the peak, before memory is given back.</summary>
    internal int TrimAfterShedding { get; set; } = 1_000;

    /// <summary>How many times <see cref="TrimMemoryAfterShedding"/> collected.</summary>
    internal int MemoryTrims { get; private set; }

    /// <summary>
    /// When at least half of the connections, and many, have gone since the peak, one compacting collection gives their
    /// memory back to the system. Without it a broker that had 10,000 clients keeps their memory: the collector has
    /// nothing to collect for once they are gone (10,000 idle connections, AOT: 36.7 MB held 20 s after they left).
    /// </summary>
    private void TrimMemoryAfterShedding()
    {
        int now = Volatile.Read(ref _connectionCount);
        int peak = Volatile.Read(ref _connectionPeak);
        if (peak - now >= TrimAfterShedding && now <= peak / 2)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            MemoryTrims++;
            Volatile.Write(ref _connectionPeak, now);
        }
    }

    /// <summary>
    /// A CONNECT for <paramref name="clientId"/> is about to resume its session: one whose expiry interval has run out
    /// is gone now, not at the next sweep of <see cref="Housekeeping"/> (up to 5 s later), so the client starts afresh
    /// (Session Present 0, MQTT 5 §3.1.2.11.2, §4.1).
    /// </summary>
    public void ExpireBeforeResuming(string clientId)
    {
        if (Sessions.Find(clientId) is { IsConnected: false } session)
        {
            ExpireIfDue(session, DateTimeOffset.UtcNow);
        }
    }

    private void ExpireIfDue(Session session, DateTimeOffset now)
    {
        if (Sessions.RemoveIfExpired(session, now, Options.Sessions.PersistentSessionExpiry))
        {
            DiscardSession(session);
            Metrics.CountSessionExpired();
            Logger.LogInformation("Session {ClientId} expired after {Offline} offline", session.ClientId, now - session.OfflineSince);
        }
    }

    private void CheckTimeouts()
    {
        long now = Environment.TickCount64;
        // The dictionary itself, not its Keys (a copy of every key, several times a second).
        foreach (KeyValuePair<MqttConnection, byte> entry in _connections)
        {
            entry.Key.CheckTimeouts(now);
        }
    }

    public void Dispose()
    {
        _timeoutTimer.Dispose();
        _housekeepingTimer.Dispose();
        Security.Dispose();
        foreach (DelayedWill owed in _delayedWills.Values)
        {
            owed.Timer.Dispose();
        }

        if (_ownsStore)
        {
            Store.Dispose();
        }
    }
}
