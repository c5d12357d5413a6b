using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using MQTTnet;
using MQTTnet.Protocol;
using SensorNode.Broker.Diagnostics;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Infrastructure;
using SensorNode.Broker.Tests.Interop;

namespace SensorNode.Broker.Tests.Operations;

/// <summary>$SYS/broker/... topics, Prometheus /metrics and /health, checked against known traffic.</summary>
public sealed partial class ObservabilityTests
{
    private static Task<BrokerServer> StartAsync(TimeSpan? sysInterval = null) => TestBroker.StartAsync(o =>
    {
        o.SysInterval = sysInterval ?? TimeSpan.Zero;
        o.Listeners.Add(new ListenerOptions { Kind = ListenerKind.Mqtt, BindAddress = "127.0.0.1", Port = 0 });
        o.Listeners.Add(new ListenerOptions { Kind = ListenerKind.Http, BindAddress = "127.0.0.1", Port = 0 });
    });

    /// <summary>Two subscribers (left connected; the caller disposes them), one publisher: 3 messages in (one retained), 6 out.</summary>
    private static async Task<IAsyncDisposable> KnownTrafficAsync(BrokerServer broker)
    {
        MqttNetClient a = await MqttNetClient.ConnectAsync(broker.Port, "sub-a");
        MqttNetClient b = await MqttNetClient.ConnectAsync(broker.Port, "sub-b");
        await a.SubscribeAsync("known/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await b.SubscribeAsync("known/#");
        await using (MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port, "publisher"))
        {
            for (int i = 0; i < 3; i++)
            {
                await publisher.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"known/{i}").WithPayload("v")
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag(i == 0).Build());
            }
        }

        for (int i = 0; i < 3; i++)
        {
            await a.NextAsync();
            await b.NextAsync();
        }

        await BrokerWait.UntilAsync(() => broker.Broker.Metrics.ClientsConnected == 2, "the publisher to be gone");
        return new Both(a, b);
    }

    private sealed class Both(MqttNetClient a, MqttNetClient b) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await a.DisposeAsync();
            await b.DisposeAsync();
        }
    }

    [Fact]
    public async Task Sys_topics_report_clients_messages_and_retained_with_mosquitto_names()
    {
        await using BrokerServer broker = await StartAsync(TimeSpan.FromMilliseconds(200));
        await using IAsyncDisposable subscribers = await KnownTrafficAsync(broker);

        await using MqttNetClient watcher = await MqttNetClient.ConnectAsync(broker.Port, "watcher");
        await BrokerWait.UntilAsync(() => broker.Broker.Metrics.ClientsConnected == 3, "the watcher to connect");
        await watcher.SubscribeAsync("$SYS/#");
        var values = new Dictionary<string, string>();
        string[] wanted = ["version", "uptime", "clients/connected", "clients/total", "messages/received", "messages/sent", "publish/messages/received",
            "bytes/received", "bytes/sent", "retained messages/count", "subscriptions/count", "load/messages/received/1min", "heap/current"];
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        // Values change from one interval to the next (a value is re-published when it changed): read until they settle.
        bool Settled() => !wanted.Any(w => !values.ContainsKey(w)) && values["clients/connected"] == "3" && values["messages/received"] == "3"
            && values["subscriptions/count"] == "3";
        while (!Settled())
        {
            Assert.False(deadline.IsCancellationRequested, "$SYS values did not settle: " + string.Join(", ", values.Select(v => $"{v.Key}={v.Value}")));
            ReceivedMessage message = await watcher.NextAsync();
            Assert.StartsWith(SysTopicsPublisher.Prefix, message.Topic);
            values[message.Topic[SysTopicsPublisher.Prefix.Length..]] = message.Payload;
        }

        Assert.Equal($"sensornode-broker {BrokerStatus.Version}", values["version"]);
        Assert.Matches(@"^\d+ seconds$", values["uptime"]);
        Assert.Equal("3", values["clients/connected"]);
        Assert.Equal("3", values["messages/received"]);
        // 6 to the two subscribers, plus the $SYS messages sent to the watcher itself (Mosquitto counts those too).
        Assert.True(long.Parse(values["messages/sent"], CultureInfo.InvariantCulture) >= 6, values["messages/sent"]);
        Assert.Equal("3", values["publish/messages/received"]);
        Assert.Equal("3", values["subscriptions/count"]); // a, b and the watcher
        Assert.True(long.Parse(values["bytes/received"], CultureInfo.InvariantCulture) > 0);
        Assert.True(long.Parse(values["bytes/sent"], CultureInfo.InvariantCulture) > 0);

        // The known retained message plus the $SYS topics themselves (retained, as in Mosquitto).
        int retained = int.Parse(values["retained messages/count"], CultureInfo.InvariantCulture);
        Assert.True(retained > 10, $"retained count {retained}");
        Assert.NotNull(broker.Broker.Retained.Find("$SYS/broker/version"));
    }

    [Fact]
    public async Task Sys_topics_are_not_matched_by_a_hash_subscription_and_not_stored()
    {
        await using BrokerServer broker = await StartAsync(TimeSpan.FromMilliseconds(100));
        await using MqttNetClient everything = await MqttNetClient.ConnectAsync(broker.Port);
        await everything.SubscribeAsync("#");
        await BrokerWait.UntilAsync(() => broker.Broker.Retained.Find("$SYS/broker/uptime") is not null, "$SYS/broker/uptime");
        await Assert.ThrowsAnyAsync<Exception>(() => everything.NextAsync(TimeSpan.FromMilliseconds(500)));
        await broker.Broker.Store.FlushAsync();
        Assert.DoesNotContain(broker.Broker.Store.Load().Retained, m => m.Topic.StartsWith("$SYS/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Metrics_count_the_known_traffic_in_prometheus_format()
    {
        await using BrokerServer broker = await StartAsync();
        await using IAsyncDisposable subscribers = await KnownTrafficAsync(broker);
        using var http = new HttpClient();
        HttpResponseMessage response = await http.GetAsync($"http://127.0.0.1:{broker.HttpPort}/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("0.0.4", response.Content.Headers.ContentType?.Parameters.Single(p => p.Name == "version").Value);
        string text = await response.Content.ReadAsStringAsync();
        Dictionary<string, double> samples = Parse(text);

        Assert.Equal(2, samples["sensornode_clients_connected"]);
        Assert.Equal(2, samples["sensornode_connections"]);
        Assert.Equal(3, samples["sensornode_connections_accepted_total"]);
        Assert.Equal(3, samples["sensornode_messages_received_total"]);
        Assert.Equal(6, samples["sensornode_messages_sent_total"]);
        Assert.Equal(1, samples["sensornode_retained_messages"]);
        Assert.Equal(2, samples["sensornode_subscriptions"]);
        Assert.Equal(0, samples["sensornode_messages_dropped_total{reason=\"queue_full\"}"]);
        Assert.Equal(0, samples["sensornode_messages_dropped_total{reason=\"expired\"}"]);
        Assert.Equal(0, samples["sensornode_queued_messages"]);
        Assert.Equal(0, samples["sensornode_auth_failures_total"]);
        Assert.True(samples["sensornode_bytes_received_total"] > 0);
        Assert.True(samples["sensornode_store_size_bytes"] > 0);
        Assert.True(samples["sensornode_uptime_seconds"] > 0);
        Assert.True(samples["process_resident_memory_bytes"] > 0);

        // Collection counts per generation: an older generation's collection also collects the younger ones.
        Assert.True(samples["dotnet_gc_collections_total{generation=\"0\"}"] >= samples["dotnet_gc_collections_total{generation=\"1\"}"]);
        Assert.True(samples["dotnet_gc_collections_total{generation=\"1\"}"] >= samples["dotnet_gc_collections_total{generation=\"2\"}"]);
        Assert.True(samples["dotnet_gc_pause_seconds_total"] >= 0);
        Assert.True(samples["dotnet_gc_allocated_bytes_total"] > 0, "a broker that has served clients has allocated");
        Assert.Equal(1, samples[$"sensornode_build_info{{version=\"{BrokerStatus.Version}\"}}"]);

        // Every sample has its TYPE line before it, as the exposition format requires.
        var typed = new HashSet<string>(TypeLine().Matches(text).Select(m => m.Groups[1].Value));
        Assert.All(samples.Keys, k => Assert.Contains(k.Split('{')[0], typed));

        // And each family's lines form one group: a family is never taken up again once another has begun.
        Assert.True(samples.ContainsKey("sensornode_messages_sent_by_qos_total{qos=\"1\"}"), "the per-QoS families are exported");
        var finished = new HashSet<string>();
        string? current = null;
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            string family = line.StartsWith('#') ? line.Split(' ')[2] : line.Split('{', ' ')[0];
            if (family != current)
            {
                Assert.True(current is null || finished.Add(current), $"{current} is split");
                Assert.DoesNotContain(family, finished);
                current = family;
            }
        }
    }

    [Fact]
    public async Task Health_is_200_with_the_store_ok_while_serving()
    {
        await using BrokerServer broker = await StartAsync();
        using var http = new HttpClient();
        HttpResponseMessage response = await http.GetAsync($"http://127.0.0.1:{broker.HttpPort}/health");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        JsonElement health = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("serving", health.GetProperty("status").GetString());
        Assert.Equal("ok", health.GetProperty("store").GetString());
        Assert.Equal("sqlite", health.GetProperty("storeKind").GetString());
        Assert.Equal(BrokerStatus.Version, health.GetProperty("version").GetString());

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"http://127.0.0.1:{broker.HttpPort}/nothing")).StatusCode);
    }

    [Fact]
    public async Task Health_is_503_once_shutdown_begins()
    {
        await using BrokerServer broker = await StartAsync();
        broker.Broker.BeginShutdown();
        using var http = new HttpClient();
        HttpResponseMessage response = await http.GetAsync($"http://127.0.0.1:{broker.HttpPort}/health");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("stopping", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private static Dictionary<string, double> Parse(string text)
    {
        var samples = new Dictionary<string, double>();
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith('#'))
            {
                continue;
            }

            int space = line.LastIndexOf(' ');
            samples[line[..space]] = double.Parse(line[(space + 1)..], CultureInfo.InvariantCulture);
        }

        return samples;
    }

    [GeneratedRegex(@"^# TYPE (\S+) (counter|gauge)$", RegexOptions.Multiline)]
    private static partial Regex TypeLine();
}
