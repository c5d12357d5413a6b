using System.Diagnostics;
using System.Net;
using System.Text.Json;
using MQTTnet.Protocol;
using SensorNode.Broker.Dashboard;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Tests.Infrastructure;
using Xunit.Abstractions;
using static SensorNode.Broker.Tests.Security.SecurityTestSupport;

namespace SensorNode.Broker.Tests.Dashboard;

/// <summary>The dashboard's JSON API, CSV export, login, ACL filtering and live events, against a real broker.</summary>
public sealed class DashboardApiTests(ITestOutputHelper output)
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static bool HasReading(DashboardService d, string room, string type, double value) =>
        d.Rooms.Snapshot(Broker.Security.AccessRules.AllowAll).Any(r => r.Room == room && r.Readings.TryGetValue(type, out ReadingState? s) && s.Value == value);

    private static bool HasStatus(DashboardService d, string room, bool online) =>
        d.Rooms.Snapshot(Broker.Security.AccessRules.AllowAll).Any(r => r.Room == room && r.Online == online);

    [Fact]
    public async Task Rooms_show_the_latest_readings_with_their_time_and_the_status_with_since_when()
    {
        await using DashboardHost host = await DashboardHost.StartAsync();
        await using MqttNetClient node = await MqttNetClient.ConnectAsync(host.MqttPort, "node-kitchen");
        await node.PublishAsync("sensor/temperature/kitchen", "21.4", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        await node.PublishAsync("sensor/humidity/kitchen", "45", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        await node.PublishAsync("sensor/status/kitchen", "online", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        await node.PublishAsync("sensor/temperature/kitchen", "not a number");
        await node.PublishAsync("sensor/temperature/too/deep", "1");
        await host.SettleAsync(d => HasReading(d, "kitchen", "humidity", 45) && HasStatus(d, "kitchen", true), "the kitchen's readings");

        JsonElement body = await host.GetJsonAsync("api/rooms");
        JsonElement kitchen = Assert.Single(body.GetProperty("rooms").EnumerateArray());
        Assert.Equal("kitchen", kitchen.GetProperty("room").GetString());
        Assert.True(kitchen.GetProperty("online").GetBoolean());
        DateTimeOffset now = body.GetProperty("now").GetDateTimeOffset();
        Assert.InRange(now - kitchen.GetProperty("statusSince").GetDateTimeOffset(), TimeSpan.Zero, TimeSpan.FromSeconds(30));
        JsonElement temperature = kitchen.GetProperty("readings").GetProperty("temperature");
        Assert.Equal(21.4, temperature.GetProperty("value").GetDouble());
        Assert.InRange(now - temperature.GetProperty("at").GetDateTimeOffset(), TimeSpan.Zero, TimeSpan.FromSeconds(30));
        Assert.Equal(45, kitchen.GetProperty("readings").GetProperty("humidity").GetProperty("value").GetDouble());

        await node.PublishAsync("sensor/status/kitchen", "offline", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        await host.SettleAsync(d => HasStatus(d, "kitchen", false), "the kitchen offline");
        kitchen = Assert.Single((await host.GetJsonAsync("api/rooms")).GetProperty("rooms").EnumerateArray());
        Assert.False(kitchen.GetProperty("online").GetBoolean());
    }

    [Fact]
    public async Task History_returns_raw_readings_or_averages_for_a_range_and_exports_csv()
    {
        var clock = new ManualClock(T0);
        await using DashboardHost host = await DashboardHost.StartAsync(o => o.Dashboard.Clock = clock);
        await using MqttNetClient node = await MqttNetClient.ConnectAsync(host.MqttPort, "node-kitchen");
        double[] values = [20.0, 21.0, 22.5, 23.5];
        for (int i = 0; i < values.Length; i++)
        {
            clock.Set(T0.AddMinutes(2 * i));
            await node.PublishAsync("sensor/temperature/kitchen", values[i].ToString(System.Globalization.CultureInfo.InvariantCulture), MqttQualityOfServiceLevel.AtLeastOnce);
            await host.SettleAsync(d => HasReading(d, "kitchen", "temperature", values[i]), $"reading {i}");
        }

        clock.Set(T0.AddMinutes(10));
        long from = T0.AddMinutes(1).ToUnixTimeMilliseconds();
        long to = T0.AddMinutes(5).ToUnixTimeMilliseconds();
        JsonElement raw = await host.GetJsonAsync($"api/history?room=kitchen&type=temperature&from={from}&to={to}");
        Assert.Equal("raw", raw.GetProperty("resolution").GetString());
        Assert.Equal([21.0, 22.5], raw.GetProperty("points").EnumerateArray().Select(p => p.GetProperty("value").GetDouble()));
        Assert.Equal(T0.AddMinutes(2), raw.GetProperty("points")[0].GetProperty("at").GetDateTimeOffset());

        // 24 hours (the default range): 5-minute averages.
        JsonElement day = await host.GetJsonAsync("api/history?room=kitchen&type=temperature");
        Assert.Equal("average", day.GetProperty("resolution").GetString());
        Assert.Equal(300, day.GetProperty("intervalSeconds").GetDouble());
        JsonElement[] averages = [.. day.GetProperty("points").EnumerateArray()];
        Assert.Equal([Math.Round((20 + 21 + 22.5) / 3, 6), 23.5], averages.Select(p => Math.Round(p.GetProperty("value").GetDouble(), 6)));
        Assert.Equal([3, 1], averages.Select(p => p.GetProperty("count").GetInt32()));

        // ISO 8601 times work too, and the CSV has the same rows.
        using HttpResponseMessage csv = await host.Http.GetAsync($"api/history?room=kitchen&type=temperature&resolution=raw&format=csv&from={Uri.EscapeDataString(T0.ToString("O"))}&to={Uri.EscapeDataString(T0.AddHours(1).ToString("O"))}");
        Assert.Equal(HttpStatusCode.OK, csv.StatusCode);
        Assert.Equal("text/csv", csv.Content.Headers.ContentType?.MediaType);
        Assert.Contains("kitchen-temperature.csv", csv.Content.Headers.ContentDisposition?.ToString());
        string[] lines = (await csv.Content.ReadAsStringAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("time,room,type,value,count", lines[0]);
        Assert.Equal(["2026-03-01T12:00:00.000Z,kitchen,temperature,20,1", "2026-03-01T12:02:00.000Z,kitchen,temperature,21,1",
            "2026-03-01T12:04:00.000Z,kitchen,temperature,22.5,1", "2026-03-01T12:06:00.000Z,kitchen,temperature,23.5,1"], lines[1..]);

        // After 48 hours the raw readings are gone, the averages are not.
        clock.Advance(TimeSpan.FromHours(49));
        host.Dashboard.History.Prune();
        Assert.Empty((await host.GetJsonAsync($"api/history?room=kitchen&type=temperature&resolution=raw&from={T0.ToUnixTimeMilliseconds()}")).GetProperty("points").EnumerateArray());
        Assert.Equal(2, (await host.GetJsonAsync($"api/history?room=kitchen&type=temperature&from={T0.ToUnixTimeMilliseconds()}")).GetProperty("points").GetArrayLength());

        await host.GetJsonAsync("api/history?room=kitchen", HttpStatusCode.BadRequest);
        await host.GetJsonAsync("api/history?room=%2B&type=temperature", HttpStatusCode.BadRequest);
        await host.GetJsonAsync("api/history?room=kitchen&type=temperature&from=yesterday", HttpStatusCode.BadRequest);
        await host.GetJsonAsync($"api/history?room=kitchen&type=temperature&from={to}&to={from}", HttpStatusCode.BadRequest);
        await host.GetJsonAsync("api/history?room=kitchen&type=temperature&resolution=hourly", HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task A_login_is_required_when_the_broker_requires_users_and_failed_logins_are_throttled()
    {
        string users = WriteUsers(TestBroker.NewDataDirectory(), ("alice", "alice-pw"));
        await using DashboardHost host = await DashboardHost.StartAsync(o =>
        {
            o.Security.PasswordFile = users;
            o.Security.AllowAnonymous = false;
            o.Security.FailedLoginDelay = TimeSpan.FromMilliseconds(10);
        });

        JsonElement session = await host.GetJsonAsync("api/session");
        Assert.True(session.GetProperty("loginRequired").GetBoolean());
        Assert.False(session.GetProperty("authenticated").GetBoolean());
        await host.GetJsonAsync("api/rooms", HttpStatusCode.Unauthorized);
        await host.GetJsonAsync("api/history?room=kitchen&type=temperature", HttpStatusCode.Unauthorized);
        await host.GetJsonAsync("api/events", HttpStatusCode.Unauthorized);
        using (HttpResponseMessage page = await host.Http.GetAsync("/"))
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode); // the page itself is public: it shows the login form
        }

        using (HttpResponseMessage wrong = await host.LoginAsync("alice", "wrong"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
            Assert.False(wrong.Headers.Contains("Set-Cookie"));
        }

        using (HttpResponseMessage right = await host.LoginAsync("alice", "alice-pw"))
        {
            Assert.Equal(HttpStatusCode.OK, right.StatusCode);
            string cookie = Assert.Single(right.Headers.GetValues("Set-Cookie"));
            Assert.StartsWith(DashboardLogins.CookieName + "=", cookie);
            Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        }

        Assert.Equal("alice", (await host.GetJsonAsync("api/session")).GetProperty("user").GetString());
        await host.GetJsonAsync("api/rooms");

        using (HttpResponseMessage logout = await host.Http.PostAsync("api/logout", null))
        {
            Assert.Equal(HttpStatusCode.OK, logout.StatusCode);
        }

        await host.GetJsonAsync("api/rooms", HttpStatusCode.Unauthorized);

        // The broker's throttling: after 5 failures in a minute even the right password is refused for a while.
        var statuses = new List<HttpStatusCode>();
        for (int i = 0; i < 6; i++)
        {
            using HttpResponseMessage failed = await host.LoginAsync("alice", "guess-" + i);
            statuses.Add(failed.StatusCode);
        }

        Assert.Equal(HttpStatusCode.TooManyRequests, statuses[^1]);
        using HttpResponseMessage blocked = await host.LoginAsync("alice", "alice-pw");
        Assert.Equal(HttpStatusCode.TooManyRequests, blocked.StatusCode);
        Assert.True(host.Server.Broker.Security.AuthFailures >= 7);
    }

    [Fact]
    public async Task Each_user_sees_only_what_their_acl_lets_them_read_in_rooms_history_broker_panel_and_events()
    {
        string directory = TestBroker.NewDataDirectory();
        string users = WriteUsers(directory, ("alice", "alice-pw"), ("bob", "bob-pw"), ("node", "node-pw"));
        string acl = WriteAcl(directory, """
            user alice
            topic read sensor/+/kitchen
            user bob
            topic read sensor/#
            topic read $SYS/#
            user node
            topic readwrite sensor/#
            """);
        await using DashboardHost host = await DashboardHost.StartAsync(o =>
        {
            o.Security.PasswordFile = users;
            o.Security.AclFile = acl;
            o.Security.AllowAnonymous = false;
        });
        await using MqttNetClient node = await MqttNetClient.ConnectAsync(host.MqttPort, "node", configure: b => b.WithCredentials("node", "node-pw"));
        await node.PublishAsync("sensor/temperature/kitchen", "21.4", MqttQualityOfServiceLevel.AtLeastOnce);
        await node.PublishAsync("sensor/temperature/office", "19.8", MqttQualityOfServiceLevel.AtLeastOnce);
        await node.PublishAsync("sensor/status/office", "online", MqttQualityOfServiceLevel.AtLeastOnce);
        await host.SettleAsync(d => HasReading(d, "office", "temperature", 19.8) && HasStatus(d, "office", true), "both rooms");

        Assert.Equal(HttpStatusCode.OK, (await host.LoginAsync("alice", "alice-pw")).StatusCode);
        JsonElement rooms = await host.GetJsonAsync("api/rooms");
        Assert.Equal(["kitchen"], rooms.GetProperty("rooms").EnumerateArray().Select(r => r.GetProperty("room").GetString()));
        Assert.Single((await host.GetJsonAsync("api/history?room=kitchen&type=temperature")).GetProperty("points").EnumerateArray());
        await host.GetJsonAsync("api/history?room=office&type=temperature", HttpStatusCode.Forbidden);
        await host.GetJsonAsync("api/history?room=office&type=temperature&format=csv", HttpStatusCode.Forbidden);
        await host.GetJsonAsync("api/broker", HttpStatusCode.Forbidden);
        Assert.False((await host.GetJsonAsync("api/session")).GetProperty("broker").GetBoolean());

        // Alice's event stream: the office reading published first never reaches her, the kitchen one does.
        using (var events = await EventStream.OpenAsync(host.Http))
        {
            await node.PublishAsync("sensor/temperature/office", "30");
            await node.PublishAsync("sensor/temperature/kitchen", "25");
            (string name, JsonElement data) = await events.NextAsync(e => e != "broker");
            Assert.Equal("reading", name);
            Assert.Equal("kitchen", data.GetProperty("room").GetString());
            Assert.Equal(25, data.GetProperty("value").GetDouble());
        }

        using var bob = new DashboardClient(host.Server.HttpPort);
        Assert.Equal(HttpStatusCode.OK, (await bob.LoginAsync("bob", "bob-pw")).StatusCode);
        JsonElement all = await bob.GetJsonAsync("api/rooms");
        Assert.Equal(["kitchen", "office"], all.GetProperty("rooms").EnumerateArray().Select(r => r.GetProperty("room").GetString()));
        Assert.True(all.GetProperty("rooms")[1].GetProperty("online").GetBoolean());
        JsonElement panel = await bob.GetJsonAsync("api/broker");
        Assert.True(panel.GetProperty("clientsConnected").GetInt64() >= 1);
    }

    [Fact]
    public async Task Events_bring_a_reading_and_a_status_change_to_the_page_within_a_second()
    {
        // In memory: what is timed is the dashboard's part, not the disk's fsync of the QoS 1 messages.
        await using DashboardHost host = await DashboardHost.StartAsync(o => o.Persistence = PersistenceMode.Memory);
        using var events = await EventStream.OpenAsync(host.Http);
        await using RawMqttClient node = await RawMqttClient.ConnectMqttAsync(host.MqttPort, "node-office", will: new Broker.Protocol.Packets.WillMessage { Topic = "sensor/status/office", Payload = "offline"u8.ToArray(), Qos = 1, Retain = true });
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(host.MqttPort, "publisher");

        // A first reading warms up the path (JIT of client, broker and serializer); the second one is timed.
        await publisher.PublishAsync("sensor/humidity/office", "50", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal(50, (await events.NextAsync(e => e == "reading")).Data.GetProperty("value").GetDouble());
        var clock = Stopwatch.StartNew();
        await publisher.PublishAsync("sensor/humidity/office", "52.5", MqttQualityOfServiceLevel.AtLeastOnce);
        (string name, JsonElement data) = await events.NextAsync(e => e != "broker");
        TimeSpan readingLatency = clock.Elapsed;
        Assert.Equal("reading", name);
        Assert.Equal("humidity", data.GetProperty("type").GetString());
        Assert.Equal(52.5, data.GetProperty("value").GetDouble());

        // The node dies without DISCONNECT: its will turns the room offline.
        clock.Restart();
        node.Abort();
        (name, data) = await events.NextAsync(e => e != "broker");
        TimeSpan statusLatency = clock.Elapsed;
        Assert.Equal("status", name);
        Assert.Equal("office", data.GetProperty("room").GetString());
        Assert.False(data.GetProperty("online").GetBoolean());
        output.WriteLine($"reading after {readingLatency.TotalMilliseconds:F0} ms, offline after {statusLatency.TotalMilliseconds:F0} ms");
        Assert.True(readingLatency < TimeSpan.FromSeconds(1), $"reading took {readingLatency}");
        Assert.True(statusLatency < TimeSpan.FromSeconds(1), $"offline took {statusLatency}");

        // The broker panel comes once a second.
        (name, data) = await events.NextAsync(e => e == "broker");
        Assert.True(data.GetProperty("clientsConnected").GetInt64() >= 1);
        Assert.Equal(0, data.GetProperty("bridges").GetArrayLength());
    }

    [Fact]
    public async Task The_broker_panel_shows_the_bridge_states_that_are_retained()
    {
        await using DashboardHost host = await DashboardHost.StartAsync();
        host.Server.Broker.Publish(ApplicationMessage.Create("$SYS/broker/bridge/cloud/state", "connected"u8, 1, retain: true));
        host.Server.Broker.Publish(ApplicationMessage.Create("$SYS/broker/bridge/backup/state", "disconnected"u8, 1, retain: true));
        await host.Server.Broker.Store.FlushAsync();
        await Broker.Tests.Interop.BrokerWait.UntilAsync(() => host.Dashboard.Panel.Bridges.Count == 2, "the bridges on the panel");
        JsonElement panel = await host.GetJsonAsync("api/broker");
        Assert.Equal(["backup=disconnected", "cloud=connected"], panel.GetProperty("bridges").EnumerateArray().Select(b => b.GetProperty("name").GetString() + "=" + b.GetProperty("state").GetString()));
        Assert.True(panel.GetProperty("retainedMessages").GetInt32() >= 2);
        Assert.True(panel.GetProperty("storeBytes").GetInt64() > 0);
    }

    [Fact]
    public async Task Readings_and_status_since_survive_a_restart()
    {
        string data = TestBroker.NewDataDirectory();
        void Configure(BrokerOptions o) => o.DataDirectory = data;
        await using (DashboardHost first = await DashboardHost.StartAsync(Configure))
        {
            await using MqttNetClient node = await MqttNetClient.ConnectAsync(first.MqttPort, "node");
            await node.PublishAsync("sensor/temperature/kitchen", "21.4", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
            await node.PublishAsync("sensor/status/kitchen", "offline", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
            await first.SettleAsync(d => HasStatus(d, "kitchen", false), "the kitchen offline");
        }

        Assert.True(File.Exists(Path.Combine(data, HistoryStore.FileName)));
        await using DashboardHost second = await DashboardHost.StartAsync(Configure);
        JsonElement kitchen = Assert.Single((await second.GetJsonAsync("api/rooms")).GetProperty("rooms").EnumerateArray());
        Assert.False(kitchen.GetProperty("online").GetBoolean());
        Assert.Equal(JsonValueKind.String, kitchen.GetProperty("statusSince").ValueKind);
        Assert.Equal(JsonValueKind.String, kitchen.GetProperty("readings").GetProperty("temperature").GetProperty("at").ValueKind);
        Assert.Single((await second.GetJsonAsync("api/history?room=kitchen&type=temperature")).GetProperty("points").EnumerateArray());
    }

    [Fact]
    public async Task Without_a_data_directory_the_history_is_kept_in_memory()
    {
        await using DashboardHost host = await DashboardHost.StartAsync(o => o.Persistence = PersistenceMode.Memory);
        Assert.Null(host.Dashboard.History.Path);
        Assert.False(File.Exists(Path.Combine(host.Server.Broker.Options.DataDirectory, HistoryStore.FileName)));
        await using MqttNetClient node = await MqttNetClient.ConnectAsync(host.MqttPort, "node");
        await node.PublishAsync("sensor/temperature/kitchen", "21.4", MqttQualityOfServiceLevel.AtLeastOnce);
        await host.SettleAsync(d => HasReading(d, "kitchen", "temperature", 21.4), "the reading");
        Assert.Single((await host.GetJsonAsync("api/history?room=kitchen&type=temperature&resolution=raw")).GetProperty("points").EnumerateArray());
    }

    [Fact]
    public async Task A_history_file_that_cannot_be_opened_costs_the_history_not_the_broker()
    {
        string data = TestBroker.NewDataDirectory();
        Directory.CreateDirectory(Path.Combine(data, HistoryStore.FileName)); // a directory where the database belongs
        await using DashboardHost host = await DashboardHost.StartAsync(o => o.DataDirectory = data);
        Assert.Null(host.Dashboard.History.Path);
        await using MqttNetClient node = await MqttNetClient.ConnectAsync(host.MqttPort, "node");
        await node.PublishAsync("sensor/temperature/kitchen", "21.4", MqttQualityOfServiceLevel.AtLeastOnce);
        await host.SettleAsync(d => HasReading(d, "kitchen", "temperature", 21.4), "the reading");
        Assert.Single((await host.GetJsonAsync("api/history?room=kitchen&type=temperature&resolution=raw")).GetProperty("points").EnumerateArray());
    }

    [Fact]
    public async Task The_page_is_served_from_the_broker_with_nothing_from_elsewhere()
    {
        await using DashboardHost host = await DashboardHost.StartAsync();
        using HttpResponseMessage page = await host.Http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("default-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single());
        string html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<script src=\"/app.js\"", html);
        Assert.Contains("name=\"viewport\"", html);
        foreach (string asset in new[] { "/", "/app.js", "/app.css", "/favicon.svg" })
        {
            string text = await host.Http.GetStringAsync(asset);
            Assert.DoesNotMatch(@"(src|href|url)\s*[=(]\s*[""']?(https?:)?//", text);
            Assert.DoesNotContain("import ", text);
        }

        // /health and /metrics are unchanged; unknown API paths are 404.
        Assert.Equal(HttpStatusCode.OK, (await host.Http.GetAsync("/health")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await host.Http.GetAsync("/metrics")).StatusCode);
        await host.GetJsonAsync("api/nothing", HttpStatusCode.NotFound);
        Assert.Equal(HttpStatusCode.NotFound, (await host.Http.GetAsync("/nothing.js")).StatusCode);

        // Read-only: nothing can be posted except logging in and out.
        Assert.Equal(HttpStatusCode.NotFound, (await host.Http.PostAsync("api/rooms", null)).StatusCode);
    }

    [Fact]
    public async Task The_dashboard_can_be_turned_off_and_an_mqtt_only_broker_has_none()
    {
        await using (DashboardHost off = await DashboardHost.StartAsync(o => o.Dashboard.Enabled = false))
        {
            Assert.Null(off.Server.Services.GetService(typeof(DashboardService)));
            Assert.Equal(HttpStatusCode.NotFound, (await off.Http.GetAsync("/")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await off.Http.GetAsync("/api/rooms")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await off.Http.GetAsync("/health")).StatusCode);
            Assert.False(File.Exists(Path.Combine(off.Server.Broker.Options.DataDirectory, HistoryStore.FileName)));
        }

        await using BrokerServer mqttOnly = await TestBroker.StartAsync();
        Assert.Null(mqttOnly.Services.GetService(typeof(DashboardService)));
    }

    [Fact]
    public async Task Observing_publishes_costs_the_publish_path_no_allocation_for_other_topics_and_little_for_readings()
    {
        await using DashboardHost host = await DashboardHost.StartAsync(o => o.Persistence = PersistenceMode.Memory);
        Broker.Routing.MessageRouter router = host.Server.Broker.Router;
        ApplicationMessage other = ApplicationMessage.Create("plant/valve/3", "1"u8, 0, retain: false);
        ApplicationMessage reading = ApplicationMessage.Create("sensor/temperature/bench", "21.5"u8, 0, retain: false);
        const int count = 20_000;

        // The observer's queue grows to its working size once (a burst of readings), then is reused.
        for (int i = 0; i < count; i++)
        {
            router.Deliver(reading, [], matchedAt: 0);
        }

        await host.SettleAsync(d => d.Rooms.Snapshot(Broker.Security.AccessRules.AllowAll).Count == 1, "the first burst to be taken in");
        (double otherBytes, double otherNs) = Measure(other);
        (double readingBytes, double readingNs) = Measure(reading);
        output.WriteLine($"per Deliver with no subscribers: other topic {otherBytes:F1} B {otherNs:F0} ns, sensor reading {readingBytes:F1} B {readingNs:F0} ns");
        Assert.True(otherBytes < 1, $"{otherBytes} bytes per non-sensor publish");
        Assert.True(readingBytes < 64, $"{readingBytes} bytes per sensor reading");
        await host.SettleAsync(d => HasReading(d, "bench", "temperature", 21.5), "the readings to be taken in");

        (double Bytes, double Ns) Measure(ApplicationMessage message)
        {
            for (int i = 0; i < 1000; i++)
            {
                router.Deliver(message, [], matchedAt: 0);
            }

            long before = GC.GetAllocatedBytesForCurrentThread();
            long started = Stopwatch.GetTimestamp();
            for (int i = 0; i < count; i++)
            {
                router.Deliver(message, [], matchedAt: 0);
            }

            double ns = Stopwatch.GetElapsedTime(started).TotalNanoseconds / count;
            return ((GC.GetAllocatedBytesForCurrentThread() - before) / (double)count, ns);
        }
    }
}

/// <summary>A second browser: its own cookies.</summary>
public sealed class DashboardClient : IDisposable
{
    private readonly HttpClient _http;

    public DashboardClient(int port)
    {
        _http = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer() }) { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(15) };
    }

    public Task<HttpResponseMessage> LoginAsync(string user, string password) =>
        _http.PostAsync("api/login", new FormUrlEncodedContent([new("user", user), new("password", password)]));

    public async Task<JsonElement> GetJsonAsync(string path)
    {
        using HttpResponseMessage response = await _http.GetAsync(path);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"GET {path}: {response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>/api/events read as a browser's EventSource would: "event:" and "data:" lines, a blank line ends one.</summary>
public sealed class EventStream : IDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private EventStream(HttpResponseMessage response, StreamReader reader)
    {
        _response = response;
        _reader = reader;
    }

    /// <summary>Opens the stream; returns once the server has registered it (its first line has arrived).</summary>
    public static async Task<EventStream> OpenAsync(HttpClient http)
    {
        HttpResponseMessage response = await http.GetAsync("api/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        using var cts = new CancellationTokenSource(TestBroker.Timeout);
        Assert.Equal("retry: 1000", await reader.ReadLineAsync(cts.Token));
        return new EventStream(response, reader);
    }

    /// <summary>The next event whose name passes <paramref name="wanted"/>.</summary>
    public async Task<(string Name, JsonElement Data)> NextAsync(Func<string, bool> wanted)
    {
        using var cts = new CancellationTokenSource(TestBroker.Timeout);
        string? name = null;
        string? data = null;
        for (int lines = 0; lines < 10_000; lines++)
        {
            string? line = await _reader.ReadLineAsync(cts.Token);
            Assert.NotNull(line);
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data = line[6..];
            }
            else if (line.Length == 0 && name is not null && data is not null)
            {
                if (wanted(name))
                {
                    return (name, JsonDocument.Parse(data).RootElement.Clone());
                }

                name = data = null;
            }
        }

        throw new InvalidOperationException("no such event in 10,000 lines");
    }

    public void Dispose()
    {
        _reader.Dispose();
        _response.Dispose();
    }
}
