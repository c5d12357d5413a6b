using System.Buffers;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using SensorNode.Broker.Diagnostics;
using SensorNode.Broker.Persistence;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;
using SensorNode.Broker.Routing;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Bridging;

/// <summary>
/// One bridge. The local side is a persistent session of the broker (<c>$bridge/&lt;name&gt;</c>) subscribed to the
/// outbound filters with No Local: the broker queues for it durably, bounds it and restores it with its in-flight
/// state after a restart. The bridge plays the part a client connection plays for that session: it takes queued
/// messages in order, sends them upstream under the session's packet identifiers, and completes them only on
/// the upstream's PUBACK / PUBREC→PUBREL→PUBCOMP; on every reconnect the unacknowledged ones are re-sent with DUP=1
/// and PUBRELs re-sent [MQTT-4.4.0-1]. Inbound messages are published locally with the bridge session as publisher
/// (so its No Local subscriptions never send them back) and acknowledged upstream once durable.
/// </summary>
public sealed partial class Bridge : ISessionConnection, IAsyncDisposable
{
    private const int MaxBatch = 64;

    private readonly MqttBroker _broker;
    private readonly ILogger _logger;
    private readonly Channel<byte> _output = Channel.CreateBounded<byte>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly CancellationTokenSource _stop = new();
    private Session? _session;
    private Task? _run;
    private long _lastReceivedAt;
    private long _forwarded;
    private long _pacedPauses;
    private long _received;
    private long _dropped;
    private long _droppedReported;
    private long _connects;
    private int _disposed;

    /// <summary>3.1.1 upstreams that refused the bridge protocol flag.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<UpstreamAddress, byte> _noBridgeFlag = new();

    /// <summary>Packet ids of QoS 2 messages sent at QoS 1 on the current connection (the upstream's Maximum QoS is 1).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<ushort, byte> _downgraded = new();
    private TaskCompletionSource _subscribed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Bridge(MqttBroker broker, BridgeOptions options)
    {
        _broker = broker;
        Options = options;
        _logger = broker.LoggerFactory.CreateLogger("SensorNode.Broker.Bridge");
    }

    public BridgeOptions Options { get; }

    public string Name => Options.Name;

    /// <summary>True while the MQTT session with an upstream is up.</summary>
    public bool IsConnected { get; private set; }

    /// <summary>"connected" or "disconnected: reason": the retained value of <c>$SYS/broker/bridge/&lt;name&gt;/state</c>.</summary>
    public string State { get; private set; } = "disconnected: starting";

    /// <summary>The upstream address of the current (or last) connection.</summary>
    public UpstreamAddress? Upstream { get; private set; }

    /// <summary>Messages waiting to go upstream, queued and in flight.</summary>
    public int QueuedMessages => _session is { } s ? s.QueuedCount + s.InflightCount : 0;

    public long QueuedBytes => _session?.PendingBytes ?? 0;

    /// <summary>Messages bound upstream the bridge gave up: queue bounds, age, broker-wide budget.</summary>
    public long DroppedMessages => Interlocked.Read(ref _dropped);

    /// <summary>PUBLISH packets sent upstream (re-sends included).</summary>
    public long ForwardedMessages => Interlocked.Read(ref _forwarded);

    /// <summary>Pauses the drain of a backlog took to keep to <see cref="BridgeOptions.DrainRatePerSecond"/>.</summary>
    public long PacedPauses => Interlocked.Read(ref _pacedPauses);

    /// <summary>PUBLISH packets received from the upstream.</summary>
    public long ReceivedMessages => Interlocked.Read(ref _received);

    /// <summary>Successful connections to an upstream since start.</summary>
    public long Connects => Interlocked.Read(ref _connects);

    /// <summary>Raised after every change of <see cref="State"/> (tests wait on it).</summary>
    public event Action<Bridge>? StateChanged;

    /// <summary>Opens the local session and its subscriptions, then connects in the background.</summary>
    public void Start()
    {
        _session = OpenSession();
        PublishState();
        _run = Task.Run(RunAsync);
    }

    private Session OpenSession()
    {
        SessionLimits global = _broker.Options.Sessions;
        var limits = new SessionLimits
        {
            MaxInflightMessages = Options.MaxInflight,
            MaxQueuedMessages = Options.MaxQueuedMessages,
            MaxQueuedBytes = Options.MaxQueuedBytes,
            MaxTotalQueuedBytes = global.MaxTotalQueuedBytes,
            PersistentSessionExpiry = null,
            OverflowPolicy = Options.OverflowPolicy,
            QueueQos0WhileOffline = true,
            MaxQueuedAge = Options.MaxMessageAge,
        };
        SessionOpenResult opened = _broker.Sessions.Open(Options.LocalClientId, cleanStart: false, this, expiryInterval: Session.NeverExpires);
        if (opened.TakenOver is { } other && !ReferenceEquals(other, this))
        {
            other.Close(DisconnectReason.SessionTakenOver);
        }

        Session session = opened.Session;
        session.UseLimits(limits);
        session.Dropped = OnDropped;
        if (session.IsStored)
        {
            _broker.Store.Submit(StoreOperation.PutSession(session.ClientId, Session.NeverExpires));
        }

        SyncSubscriptions(session);
        return session;
    }

    /// <summary>Makes the session's subscriptions those of the outbound rules: stale ones (from an earlier configuration) go.</summary>
    private void SyncSubscriptions(Session session)
    {
        var wanted = new Dictionary<string, SubscriptionRequest>(StringComparer.Ordinal);
        foreach (BridgeTopicRule rule in Options.Topics.Where(r => r.IsOut))
        {
            byte qos = wanted.TryGetValue(rule.Local, out SubscriptionRequest existing) ? Math.Max(existing.Qos, rule.MaxQos) : rule.MaxQos;
            bool keepRetain = rule.Retain == BridgeRetainMode.Keep || (existing.Filter is not null && existing.Options.RetainAsPublished);

            // No Local: what the bridge brought in never goes back out [MQTT-3.8.3-3]. Retained messages are
            // sent up once, when the subscription is new (Retain Handling 1).
            wanted[rule.Local] = new SubscriptionRequest(rule.Local, qos, new SubscriptionOptions(NoLocal: true, RetainAsPublished: keepRetain, RetainHandling: 1));
        }

        var operations = new List<StoreOperation>();
        foreach (Subscription stale in session.GetSubscriptions())
        {
            if (!wanted.TryGetValue(stale.Filter, out SubscriptionRequest request) || request.Qos != stale.Qos || request.Options.RetainAsPublished != stale.Options.RetainAsPublished)
            {
                _broker.Unsubscribe(session, stale.Filter, operations);
            }
        }

        var retainedDue = new List<Subscription>();
        List<SubscriptionRequest> requests = [.. wanted.Values.Where(r => !session.HasSubscription(r.Filter))];
        byte[] codes = _broker.Subscribe(session, requests, operations, mqtt5: true, retainedDue);
        for (int i = 0; i < codes.Length; i++)
        {
            if (codes[i] > 2)
            {
                _logger.LogWarning("Bridge {Name}: local filter '{Filter}' refused (0x{Code:X2})", Name, requests[i].Filter, codes[i]);
            }
        }

        if (operations.Count > 0)
        {
            _broker.Store.Submit(CollectionsMarshal.AsSpan(operations));
        }

        _broker.SendRetained(session, retainedDue);
    }

    private void OnDropped(ApplicationMessage message, DropReason reason) => Interlocked.Increment(ref _dropped);

    /// <summary>Logs drops since the last report (at most once per call; the manager calls it every few seconds).</summary>
    internal void ReportDrops()
    {
        long dropped = Interlocked.Read(ref _dropped);
        long since = dropped - Interlocked.Exchange(ref _droppedReported, dropped);
        if (since > 0)
        {
            _logger.LogWarning(
                "Bridge {Name}: dropped {Count} messages bound upstream ({Which} first; {Total} in total, queue bound {Bytes} bytes / {Messages} messages, age {Age})",
                Name, since, Options.OverflowPolicy == Sessions.QueueOverflowPolicy.DropNewest ? "newest" : "oldest", dropped, Options.MaxQueuedBytes, Options.MaxQueuedMessages, Options.MaxMessageAge?.ToString() ?? "unbounded");
        }
    }

    public void SignalOutput() => _output.Writer.TryWrite(0);

    /// <summary>Only a client taking over the reserved client id would ask this; the broker refuses such clients.</summary>
    public void Close(DisconnectReason reason) => _logger.LogWarning("Bridge {Name}: local session asked to close ({Reason})", Name, reason);

    private void SetState(bool connected, string state, UpstreamAddress? upstream)
    {
        if (State == state && IsConnected == connected)
        {
            return;
        }

        IsConnected = connected;
        Upstream = upstream ?? Upstream;
        State = state;
        if (connected)
        {
            _logger.LogInformation("Bridge {Name}: connected to {Upstream} (MQTT {Version}), {Queued} messages waiting", Name, upstream, Options.Mqtt5 ? "5.0" : "3.1.1", QueuedMessages);
        }
        else
        {
            _logger.LogWarning("Bridge {Name}: {State}; {Queued} messages waiting", Name, state, QueuedMessages);
        }

        PublishState();
        StateChanged?.Invoke(this);
    }

    private void PublishState()
    {
        // Retained in memory, like the other $SYS topics (not written to the store).
        ApplicationMessage message = ApplicationMessage.Create(BridgeManager.SysPrefix + Name + "/state", System.Text.Encoding.UTF8.GetBytes(State), qos: 0, retain: true);
        _broker.Router.Publish(message);
    }

    private async Task RunAsync()
    {
        CancellationToken stop = _stop.Token;
        TimeSpan delay = Options.ReconnectMin;
        while (!stop.IsCancellationRequested)
        {
            UpstreamLink? link = null;
            string reason = "no upstream address";
            foreach (UpstreamAddress address in Options.Addresses)
            {
                for (int attempt = 0; attempt < 2 && link is null; attempt++)
                {
                    try
                    {
                        link = await UpstreamLink.ConnectAsync(Options, address, stop, bridgeFlag: !_noBridgeFlag.ContainsKey(address));
                    }
                    catch (UpstreamException ex)
                    {
                        reason = ex.Message;
                        _logger.LogDebug("Bridge {Name}: {Reason}", Name, reason);
                        if (!ex.BridgeFlagRefused || !_noBridgeFlag.TryAdd(address, 0))
                        {
                            break;
                        }

                        // An upstream that does not know Mosquitto's bridge mode: plain 3.1.1 from now on (it may echo).
                        _logger.LogWarning("Bridge {Name}: {Upstream} refused the bridge protocol flag ({Reason}); connecting as a plain MQTT 3.1.1 client", Name, address, ex.Message);
                    }
                    catch (OperationCanceledException) when (stop.IsCancellationRequested)
                    {
                        return;
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        // A bad certificate file, an unexpected answer: reported, and the bridge keeps trying.
                        reason = $"{address}: {ex.Message}";
                        _logger.LogError(ex, "Bridge {Name}: connecting to {Upstream} failed", Name, address);
                        break;
                    }
                }

                if (link is not null)
                {
                    break;
                }
            }

            if (link is not null)
            {
                delay = Options.ReconnectMin;
                Interlocked.Increment(ref _connects);
                reason = await RunConnectedAsync(link, stop);
                await link.DisposeAsync();
                if (stop.IsCancellationRequested)
                {
                    return;
                }

                SetState(false, "disconnected: " + reason, link.Address);
            }
            else
            {
                SetState(false, "disconnected: " + reason, null);
            }

            try
            {
                await Task.Delay(delay, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, Options.ReconnectMax.Ticks));
        }
    }

    /// <summary>Runs one upstream connection until it fails or the bridge stops; returns why it ended.</summary>
    private async Task<string> RunConnectedAsync(UpstreamLink link, CancellationToken stop)
    {
        using var connection = CancellationTokenSource.CreateLinkedTokenSource(stop);
        CancellationToken token = connection.Token;
        Volatile.Write(ref _lastReceivedAt, Environment.TickCount64);
        _subscribed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!link.SessionPresent)
        {
            // A new upstream session will not release QoS 2 messages it sent before; their identifiers are free again.
            List<StoreOperation> forget = _session!.ForgetInboundQos2();
            if (forget.Count > 0)
            {
                _broker.Store.Submit(CollectionsMarshal.AsSpan(forget));
            }
        }

        // Re-attaching re-sends what is in flight (PUBLISH with DUP=1, PUBREL) before anything new [MQTT-4.4.0-1].
        _session!.Attach(this, sessionPresent: false, inflightWindow: Math.Min(link.ReceiveMaximum, Options.MaxInflight));
        _downgraded.Clear();
        byte highest = Options.Topics.Where(r => r.IsOut).Select(r => r.MaxQos).DefaultIfEmpty((byte)0).Max();
        if (highest > link.MaximumQos)
        {
            _logger.LogWarning("Bridge {Name}: {Upstream} takes at most QoS {Max}: messages queued at QoS {Qos} are sent at QoS {Max}", Name, link.Address, link.MaximumQos, highest, link.MaximumQos);
        }

        Task<string>[] loops = [ReadLoopAsync(link, token), WriteLoopAsync(link, token), KeepAliveLoopAsync(link, token)];
        Task<string> subscribed = SubscribeUpstreamAsync(link, token);
        string reason;
        Task<string> first = await Task.WhenAny([.. loops, subscribed]);
        if (first == subscribed && subscribed.IsCompletedSuccessfully)
        {
            // "connected" once the upstream has answered the subscriptions: from then on nothing is missed.
            SetState(true, "connected", link.Address);
            first = await Task.WhenAny(loops);
        }

        reason = await Outcome(first, link);
        await connection.CancelAsync();
        if (stop.IsCancellationRequested)
        {
            await link.DisconnectAsync();
        }

        foreach (Task<string> task in loops.Append(subscribed))
        {
            await Outcome(task, link);
        }

        return reason;
    }

    private async Task<string> Outcome(Task<string> task, UpstreamLink link)
    {
        try
        {
            return await task;
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException or TimeoutException or System.Net.Sockets.SocketException)
        {
            return ex switch
            {
                OperationCanceledException => "stopped",
                TimeoutException => $"{link.Address} did not answer SUBSCRIBE in time",
                _ => $"connection to {link.Address} lost: {ex.Message}",
            };
        }
        catch (Exception ex)
        {
            // Whatever went wrong ends this connection only; the bridge reconnects.
            _logger.LogError(ex, "Bridge {Name}: connection to {Upstream} failed", Name, link.Address);
            return $"connection to {link.Address} failed: {ex.Message}";
        }
    }

    private async Task<string> SubscribeUpstreamAsync(UpstreamLink link, CancellationToken token)
    {
        // A filter another one covers is not subscribed: the upstream could send a message once per matching
        // subscription [MQTT-3.3.4-2], and each copy would be published here. The covering one takes the highest QoS.
        var subscriptions = new List<TopicSubscription>();
        List<BridgeTopicRule> inbound = [.. Options.Topics.Where(r => r.IsIn)];
        for (int i = 0; i < inbound.Count; i++)
        {
            BridgeTopicRule rule = inbound[i];
            string filter = rule.RemoteFilter;
            bool covered = false;
            for (int j = 0; j < inbound.Count && !covered; j++)
            {
                string other = inbound[j].RemoteFilter;
                covered = j != i && TopicMapper.Covers(other, filter) && (other != filter || j < i);
            }

            if (covered)
            {
                continue;
            }

            byte qos = inbound.Where(r => TopicMapper.Covers(filter, r.RemoteFilter)).Max(r => r.MaxQos);

            // No Local: the upstream does not send back what the bridge published there [MQTT-3.8.3-3];
            // Retain As Published keeps RETAIN on live messages [MQTT-3.3.1-12].
            subscriptions.Add(new TopicSubscription(filter, Math.Min(qos, link.MaximumQos))
            {
                NoLocal = link.IsV5,
                RetainAsPublished = link.IsV5 && rule.Retain == BridgeRetainMode.Keep,

                // Retained messages only for a new subscription: a resumed upstream session does not replay them.
                RetainHandling = (byte)(link.IsV5 ? 1 : 0),
            });
        }

        if (subscriptions.Count == 0)
        {
            return "subscribed";
        }

        var subscribe = new SubscribePacket { PacketId = 1, Subscriptions = subscriptions };
        await link.WriteAsync(output => MqttPacketWriter.Write(output, subscribe, link.Level), token);
        await _subscribed.Task.WaitAsync(Options.ConnectTimeout, token);
        return "subscribed";
    }

    private async Task<string> KeepAliveLoopAsync(UpstreamLink link, CancellationToken token)
    {
        if (link.KeepAliveSeconds == 0)
        {
            await Task.Delay(Timeout.Infinite, token);
            return "stopped";
        }

        long keepAliveMs = link.KeepAliveSeconds * 1000L;
        TimeSpan tick = TimeSpan.FromMilliseconds(Math.Max(500, keepAliveMs / 2));
        long lastPing = Environment.TickCount64;
        while (true)
        {
            await Task.Delay(tick, token);
            long now = Environment.TickCount64;
            if (now - Volatile.Read(ref _lastReceivedAt) > keepAliveMs * 3 / 2)
            {
                return $"no packet from {link.Address} for {link.KeepAliveSeconds * 1.5:0.#} s (keep alive)";
            }

            if (now - lastPing >= keepAliveMs / 2)
            {
                lastPing = now;
                await link.WriteAsync(output => MqttPacketWriter.WriteEmpty(output, PacketType.PingReq), token);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync();
        if (_run is not null)
        {
            try
            {
                await _run;
            }
            catch (OperationCanceledException)
            {
            }
        }

        // The session stays, offline and persistent: what it holds goes up after the next start.
        _session?.Detach(this);
        _stop.Dispose();
    }
}
