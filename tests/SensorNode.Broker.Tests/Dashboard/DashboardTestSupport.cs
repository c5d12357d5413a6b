using System.Net;
using System.Text.Json;
using SensorNode.Broker.Dashboard;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Infrastructure;
using SensorNode.Broker.Tests.Interop;

namespace SensorNode.Broker.Tests.Dashboard;

/// <summary>A clock the test moves by hand (retention and downsampling without waiting).</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;

    public void Set(DateTimeOffset to) => _now = to;
}

/// <summary>A broker with an MQTT and an HTTP listener on 127.0.0.1, an HTTP client with cookies, and waits on the dashboard's state.</summary>
public sealed class DashboardHost : IAsyncDisposable
{
    private DashboardHost(BrokerServer server)
    {
        Server = server;
        Http = new HttpClient(new HttpClientHandler { CookieContainer = Cookies, UseCookies = true })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{server.HttpPort}/"),
            Timeout = TimeSpan.FromSeconds(15),
        };
    }

    private int _disposed;

    public BrokerServer Server { get; }

    public CookieContainer Cookies { get; } = new();

    public HttpClient Http { get; }

    public DashboardService Dashboard => (DashboardService)Server.Services.GetService(typeof(DashboardService))!;

    public int MqttPort => Server.Port;

    public static async Task<DashboardHost> StartAsync(Action<BrokerOptions>? configure = null, int httpPort = 0)
    {
        BrokerServer server = await TestBroker.StartAsync(o =>
        {
            o.Listeners.Add(new ListenerOptions { Kind = ListenerKind.Mqtt, BindAddress = "127.0.0.1", Port = 0 });
            o.Listeners.Add(new ListenerOptions { Kind = ListenerKind.Http, BindAddress = "127.0.0.1", Port = httpPort });
            configure?.Invoke(o);
        });
        return new DashboardHost(server);
    }

    /// <summary>Waits until the dashboard has taken in what was published (the observer's queue is drained and written).</summary>
    public async Task SettleAsync(Func<DashboardService, bool> condition, string what)
    {
        await BrokerWait.UntilAsync(() => condition(Dashboard), what);
        await Dashboard.FlushAsync();
    }

    public async Task<JsonElement> GetJsonAsync(string path, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using HttpResponseMessage response = await Http.GetAsync(path);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"GET {path}: expected {expected}, got {response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public async Task<HttpResponseMessage> LoginAsync(string user, string password) =>
        await Http.PostAsync("api/login", new FormUrlEncodedContent([new("user", user), new("password", password)]));

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        Http.Dispose();
        await Server.DisposeAsync();
    }
}
