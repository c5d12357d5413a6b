using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SensorNode.Broker.Diagnostics;
using SensorNode.Broker.Protocol;

namespace SensorNode.Broker.Dashboard;

/// <summary>One thing that happened, for the dashboards watching: <see cref="Topic"/> decides who may see it (null: the broker panel).</summary>
public sealed record DashboardEvent(string Name, string? Topic, string Json);

/// <summary>The broker panel: clients, message rates, retained messages, store sizes and bridge states.</summary>
public sealed record BrokerPanel(
    long ClientsConnected,
    double MessagesInPerSecond,
    double MessagesOutPerSecond,
    int RetainedMessages,
    long StoreBytes,
    long HistoryBytes,
    IReadOnlyList<BridgeState> Bridges);

/// <summary>A bridge and its state, from its retained <c>$SYS/broker/bridge/&lt;name&gt;/state</c> topic.</summary>
public sealed record BridgeState(string Name, string State, string Topic);

/// <summary>
/// The dashboard's engine: observes every publish the router delivers (a topic check and a channel write on the
/// publish path, nothing more), keeps the rooms' live state, records readings into the <see cref="HistoryStore"/>
/// in batches, samples the broker's numbers every second and fans events out to the open dashboards.
/// </summary>
public sealed class DashboardService : IHostedService, IDisposable
{
    private readonly MqttBroker _broker;
    private readonly ILogger _logger;
    private readonly Channel<Observed> _observed = Channel.CreateBounded<Observed>(new BoundedChannelOptions(65_536)
    {
        SingleReader = true,
        FullMode = BoundedChannelFullMode.DropWrite,
    });

    private readonly ConcurrentDictionary<Channel<DashboardEvent>, byte> _watchers = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Action<ApplicationMessage> _observer;
    private Task _consumer = Task.CompletedTask;
    private Task _ticker = Task.CompletedTask;
    private long _lastReceived;
    private long _lastSent;
    private long _lastSampleAt;
    private long _dropped;
    private int _tooManyReported;
    private BrokerPanel _panel = new(0, 0, 0, 0, 0, 0, []);

    public DashboardService(MqttBroker broker, TimeProvider clock)
    {
        _broker = broker;
        Clock = clock;
        Options = broker.Options.Dashboard;
        Options.Validate();
        _logger = broker.LoggerFactory.CreateLogger("SensorNode.Broker.Dashboard");
        Logins = new DashboardLogins(broker.Security, Options, clock) { FailedLoginDelay = broker.Options.Security.FailedLoginDelay };
        _observer = OnDelivered;
    }

    /// <summary>Registers the dashboard when it is enabled and some listener speaks HTTP.</summary>
    public static void Register(IServiceCollection services, BrokerOptions options)
    {
        if (!options.Dashboard.Enabled || !options.EffectiveListeners.Any(l => l.Kind is not (Hosting.ListenerKind.Mqtt or Hosting.ListenerKind.MqttTls)))
        {
            return;
        }

        services.AddSingleton(sp => new DashboardService(sp.GetRequiredService<MqttBroker>(), options.Dashboard.Clock));
        services.AddHostedService(sp => sp.GetRequiredService<DashboardService>());
    }

    public DashboardOptions Options { get; }

    public TimeProvider Clock { get; }

    public DashboardLogins Logins { get; }

    public RoomStates Rooms { get; } = new();

    public HistoryStore History { get; private set; } = null!;

    /// <summary>Publishes the dashboard could not keep up with (its queue was full).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>The broker panel as last sampled (once a second).</summary>
    public BrokerPanel Panel => Volatile.Read(ref _panel);

    /// <summary>The broker panel now: the rates of the last sample, the other numbers as they are.</summary>
    public BrokerPanel CurrentPanel() => Panel with
    {
        ClientsConnected = _broker.Metrics.ClientsConnected,
        RetainedMessages = _broker.Retained.Count,
        StoreBytes = _broker.Store.SizeOnDisk,
        HistoryBytes = History.SizeOnDisk,
        Bridges = Bridges(),
    };

    /// <summary>Cancelled when the broker stops: open event streams end.</summary>
    public CancellationToken Stopping => _stopping.Token;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        BrokerOptions options = _broker.Options;
        try
        {
            History = HistoryStore.Open(options.Persistence == PersistenceMode.Sqlite ? options.DataDirectory : null, Options, Clock);
        }
        catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or IOException or UnauthorizedAccessException)
        {
            // The broker's job comes first: a damaged or unwritable history costs the charts their past, nothing more.
            _logger.LogError("Dashboard: cannot open the history in {Directory} ({Message}); keeping it in memory until the next start", options.DataDirectory, ex.Message);
            History = HistoryStore.Open(null, Options, Clock);
        }

        Seed();
        _lastReceived = _broker.Metrics.MessagesReceived;
        _lastSent = _broker.Metrics.MessagesSent;
        _lastSampleAt = Stopwatch.GetTimestamp();
        _broker.Router.Delivered += _observer;
        _consumer = Task.Run(ConsumeAsync, CancellationToken.None);
        _ticker = Task.Run(TickAsync, CancellationToken.None);
        _logger.LogInformation("Dashboard at / on the HTTP and WebSocket listeners; history of sensor readings in {History}", History.Path ?? "memory");
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _broker.Router.Delivered -= _observer;
        await _stopping.CancelAsync();
        _observed.Writer.TryComplete();
        await Task.WhenAll(_consumer, _ticker).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        History?.Flush();
    }

    /// <summary>A new event stream for one dashboard; <see cref="Unwatch"/> ends it.</summary>
    public Channel<DashboardEvent> Watch()
    {
        Channel<DashboardEvent> channel = Channel.CreateBounded<DashboardEvent>(new BoundedChannelOptions(1024)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.DropOldest,
        });
        _watchers[channel] = 0;
        return channel;
    }

    public void Unwatch(Channel<DashboardEvent> channel) => _watchers.TryRemove(channel, out _);

    /// <summary>Number of open event streams.</summary>
    public int WatcherCount => _watchers.Count;

    /// <summary>Writes buffered readings now (tests; normally once per <see cref="DashboardOptions.FlushInterval"/>).</summary>
    public async Task FlushAsync()
    {
        // Readings observed so far are first taken off the queue, then written.
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (_observed.Reader.Count > 0 && !deadline.IsCancellationRequested)
        {
            await Task.Delay(2, CancellationToken.None);
        }

        lock (_consumeGate)
        {
            History.Flush();
        }
    }

    private readonly object _consumeGate = new();

    /// <summary>On the publishing thread: a prefix check, and for sensor topics one channel write of a reference.</summary>
    private void OnDelivered(ApplicationMessage message)
    {
        if (message.Topic.StartsWith(SensorTopic.Prefix, StringComparison.Ordinal)
            && !_observed.Writer.TryWrite(new Observed(message, Clock.GetUtcNow())))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    private async Task ConsumeAsync()
    {
        try
        {
            // The first event of each kind would otherwise pay for the serializer's set-up while a page waits for it.
            _ = JsonSerializer.Serialize(new ReadingEvent(string.Empty, string.Empty, 0, default), DashboardJson.Default.ReadingEvent);
            _ = JsonSerializer.Serialize(new StatusEvent(string.Empty, false, default), DashboardJson.Default.StatusEvent);
            _ = JsonSerializer.Serialize(_panel, DashboardJson.Default.BrokerPanel);
            while (await _observed.Reader.WaitToReadAsync(_stopping.Token))
            {
                lock (_consumeGate)
                {
                    while (_observed.Reader.TryRead(out Observed observed))
                    {
                        Handle(observed.Message.Topic, observed.Message.PayloadSpan, observed.At);
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Dashboard stopped observing publishes");
        }
    }

    private void Handle(string topic, ReadOnlySpan<byte> payload, DateTimeOffset at)
    {
        if (!SensorTopic.TryParse(topic, out string type, out string room))
        {
            return;
        }

        if (!Rooms.Admits(room, type))
        {
            if (Interlocked.Exchange(ref _tooManyReported, 1) == 0)
            {
                _logger.LogWarning("Dashboard: more than {Max} rooms or {MaxTypes} types per room; {Topic} and further new ones are not shown nor recorded", RoomStates.MaxRooms, RoomStates.MaxTypesPerRoom, topic);
            }

            return;
        }

        if (type == SensorTopic.StatusType)
        {
            if (SensorTopic.ParseStatus(payload) is { } online && Rooms.SetStatus(room, online, at))
            {
                History.AddStatus(room, online, at);
                if (!_watchers.IsEmpty)
                {
                    Broadcast(new DashboardEvent("status", topic, JsonSerializer.Serialize(new StatusEvent(room, online, at), DashboardJson.Default.StatusEvent)));
                }
            }

            return;
        }

        if (SensorTopic.TryParseValue(payload, out double value))
        {
            Rooms.SetReading(room, type, value, at);
            History.Add(room, type, at, value);
            if (!_watchers.IsEmpty)
            {
                Broadcast(new DashboardEvent("reading", topic, JsonSerializer.Serialize(new ReadingEvent(room, type, value, at), DashboardJson.Default.ReadingEvent)));
            }
        }
    }

    private void Broadcast(DashboardEvent item)
    {
        foreach (Channel<DashboardEvent> watcher in _watchers.Keys)
        {
            watcher.Writer.TryWrite(item);
        }
    }

    private async Task TickAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1), Clock);
        DateTimeOffset lastFlush = Clock.GetUtcNow();
        DateTimeOffset lastPrune = DateTimeOffset.MinValue;
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token))
            {
                try
                {
                    DateTimeOffset now = Clock.GetUtcNow();
                    if (now - lastFlush >= Options.FlushInterval || History.PendingCount >= 1000)
                    {
                        History.Flush();
                        lastFlush = now;
                    }

                    if (now - lastPrune >= TimeSpan.FromMinutes(10))
                    {
                        History.Prune();
                        lastPrune = now;
                    }

                    Sample();
                }
                catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or IOException)
                {
                    _logger.LogWarning("Dashboard history: {Message}", ex.Message);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Takes the broker's numbers, works out the rates since the last sample and tells the dashboards.</summary>
    internal void Sample()
    {
        long received = _broker.Metrics.MessagesReceived;
        long sent = _broker.Metrics.MessagesSent;
        long now = Stopwatch.GetTimestamp();
        double seconds = Math.Max(Stopwatch.GetElapsedTime(_lastSampleAt, now).TotalSeconds, 0.001);
        var panel = new BrokerPanel(
            _broker.Metrics.ClientsConnected,
            Math.Round((received - _lastReceived) / seconds, 1),
            Math.Round((sent - _lastSent) / seconds, 1),
            _broker.Retained.Count,
            _broker.Store.SizeOnDisk,
            History.SizeOnDisk,
            Bridges());
        _lastReceived = received;
        _lastSent = sent;
        _lastSampleAt = now;
        Volatile.Write(ref _panel, panel);
        Broadcast(new DashboardEvent("broker", null, JsonSerializer.Serialize(panel, DashboardJson.Default.BrokerPanel)));
    }

    private List<BridgeState> Bridges()
    {
        var matches = new List<ApplicationMessage>();
        _broker.Retained.Match(SensorTopic.BridgeStateFilter, matches);
        return [.. matches
            .Select(m => new BridgeState(m.Topic.Split('/')[3], System.Text.Encoding.UTF8.GetString(m.PayloadSpan), m.Topic))
            .OrderBy(b => b.Name, StringComparer.Ordinal)];
    }

    /// <summary>After a restart the cards start from the history's newest values, then the retained messages fill gaps.</summary>
    private void Seed()
    {
        var known = new HashSet<(string, string)>();
        foreach (LatestReading reading in History.Latest())
        {
            Rooms.SetReading(reading.Room, reading.Type, reading.Value, reading.At);
            known.Add((reading.Room, reading.Type));
        }

        var statuses = History.LatestStatuses().ToDictionary(s => s.Room);
        foreach (LatestStatus status in statuses.Values)
        {
            Rooms.SetStatus(status.Room, status.Online, status.Since);
        }

        var retained = new List<ApplicationMessage>();
        _broker.Retained.Match("sensor/+/+", retained);
        foreach (ApplicationMessage message in retained)
        {
            if (!SensorTopic.TryParse(message.Topic, out string type, out string room))
            {
                continue;
            }

            if (type == SensorTopic.StatusType)
            {
                if (SensorTopic.ParseStatus(message.PayloadSpan) is { } online && (!statuses.TryGetValue(room, out LatestStatus last) || last.Online != online))
                {
                    Rooms.SetStatus(room, online, null);
                }
            }
            else if (!known.Contains((room, type)) && SensorTopic.TryParseValue(message.PayloadSpan, out double value))
            {
                Rooms.SetReading(room, type, value, null);
            }
        }
    }

    public void Dispose()
    {
        _broker.Router.Delivered -= _observer;
        _stopping.Dispose();
        History?.Dispose();
    }

    private readonly record struct Observed(ApplicationMessage Message, DateTimeOffset At);
}
