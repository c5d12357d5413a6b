using System.Globalization;
using MQTTnet.Protocol;
using SensorNode.Broker.Bridging;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Infrastructure;
using static SensorNode.Broker.Tests.Bridging.BridgeTestKit;

namespace SensorNode.Broker.Tests.Bridging;

/// <summary>
/// Store-and-forward: what is published locally while the upstream is away arrives once it is back, in order, at
/// least once (QoS 1: a message in flight when the link broke is re-sent with DUP=1 [MQTT-4.4.0-1], so the upstream may
/// see it twice; the first copies are in publication order).
/// </summary>
[Trait("Category", "Bridging")]
public sealed class BridgeStoreAndForwardTests
{
    private static string Text(int i) => i.ToString("D4", CultureInfo.InvariantCulture);

    /// <summary>
    /// Gives <paramref name="clientId"/> a persistent session upstream subscribed to data/#, before the bridge can
    /// connect: whatever the bridge sends once the upstream is back is kept for it, however soon the bridge gets there
    /// (a watcher that subscribed only after the restart could miss the first of the backlog).
    /// </summary>
    private static async Task WatchUpstreamAsync(int port, string clientId)
    {
        await using MqttNetClient watcher = await ClientAsync(port, clientId, cleanSession: false);
        await watcher.SubscribeAsync("data/#", MqttQualityOfServiceLevel.AtLeastOnce);
    }

    /// <summary>Asserts every message 0..count-1 arrived, and that their first copies came in order.</summary>
    internal static void AssertAllInOrder(IEnumerable<string> payloads, int count)
    {
        var first = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string payload in payloads)
        {
            if (seen.Add(payload))
            {
                first.Add(payload);
            }
        }

        Assert.Equal(Enumerable.Range(0, count).Select(Text), first);
    }

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Upstream_stopped_mid_stream_and_restarted_gets_every_qos1_message_in_order(bool mqtt5)
    {
        await using MosquittoUpstream upstream = await MosquittoUpstream.StartAsync();
        BridgeOptions options = Options("midstream", mqtt5, upstream.Port);
        options.MaxInflight = 10;
        options.Topics.Add(new BridgeTopicRule { Direction = BridgeDirection.Out, Local = "data/#", Remote = "site/data/#", MaxQos = 1 });
        await using BrokerServer server = await StartBrokerAsync(options);
        Bridge bridge = Assert.Single(server.Broker.Bridges);
        await WaitConnectedAsync(bridge);

        const string verifierId = "verifier";
        var received = new List<string>();
        MqttNetClient verifier = await ClientAsync(upstream.Port, verifierId, cleanSession: false);
        await verifier.SubscribeAsync("site/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await using MqttNetClient publisher = await ClientAsync(server.Port);

        const int count = 300;
        for (int i = 0; i < 100; i++)
        {
            await publisher.PublishAsync("data/reading", Text(i), MqttQualityOfServiceLevel.AtLeastOnce);
        }

        // Mid-stream: some of the first hundred are through, some queued or in flight.
        for (int i = 0; i < 30; i++)
        {
            received.Add((await verifier.NextAsync(Wait)).Payload);
        }

        await upstream.StopAsync();
        await WaitDisconnectedAsync(bridge);

        // What the verifier had received (and acknowledged) before the upstream went down.
        await verifier.DisposeAsync();
        for (int i = 0; i < count && verifier.TryTake(out ReceivedMessage? early); i++)
        {
            received.Add(early!.Payload);
        }

        for (int i = 100; i < 200; i++)
        {
            await publisher.PublishAsync("data/reading", Text(i), MqttQualityOfServiceLevel.AtLeastOnce);
        }

        Assert.True(bridge.QueuedMessages >= 100, $"queued {bridge.QueuedMessages}");
        await upstream.StartAgainAsync();
        await using MqttNetClient verifierAgain = await ClientAsync(upstream.Port, verifierId, cleanSession: false);
        await WaitConnectedAsync(bridge);
        for (int i = 200; i < count; i++)
        {
            await publisher.PublishAsync("data/reading", Text(i), MqttQualityOfServiceLevel.AtLeastOnce);
        }

        try
        {
            for (int i = 0; i < 100_000; i++)
            {
                string payload = (await verifierAgain.NextAsync(Wait)).Payload;
                received.Add(payload);
                if (payload == Text(count - 1))
                {
                    break;
                }
            }
        }
        catch (TimeoutException)
        {
            Assert.Fail($"{received.Count} received, last {received.LastOrDefault()}; bridge {bridge.State}, {bridge.QueuedMessages} waiting, {bridge.ForwardedMessages} forwarded\n{upstream.Log}");
        }

        AssertAllInOrder(received, count);
    }

    [SkippableFact]
    public async Task Byte_cap_drops_the_oldest_counts_them_and_the_bridge_keeps_working()
    {
        int port = MosquittoUpstream.FreePort();
        await using MosquittoUpstream upstream = await MosquittoUpstream.StartAsync(port: port);
        await WatchUpstreamAsync(port, "cap-watcher");
        await upstream.StopAsync();
        BridgeOptions options = Options("capped", mqtt5: true, port);
        string payload100 = new('x', 96);

        // Each message is charged 2 + topic + payload + 64 bytes: "data/r" + 100 → 172; room for ten.
        options.MaxQueuedBytes = 1720;
        options.Topics.Add(new BridgeTopicRule { Local = "data/#", MaxQos = 1 });
        await using BrokerServer server = await StartBrokerAsync(options);
        Bridge bridge = Assert.Single(server.Broker.Bridges);
        await WaitForAsync(bridge, b => b.State.StartsWith("disconnected: cannot connect", StringComparison.Ordinal), "refused");

        await using MqttNetClient publisher = await ClientAsync(server.Port);
        for (int i = 0; i < 50; i++)
        {
            await publisher.PublishAsync("data/r", Text(i) + payload100, MqttQualityOfServiceLevel.AtLeastOnce);
        }

        Assert.Equal(10, bridge.QueuedMessages);
        Assert.Equal(40, bridge.DroppedMessages);
        string metrics = Http.PrometheusExporter.Render(server.Status, null);
        Assert.Contains("sensornode_bridge_dropped_total{bridge=\"capped\"} 40", metrics, StringComparison.Ordinal);
        await using (MqttNetClient sys = await ClientAsync(server.Port))
        {
            await sys.SubscribeAsync("$SYS/broker/bridge/capped/dropped");
            List<ReceivedMessage> values = await ReceiveUntilAsync(sys, "40");
            Assert.Equal("40", values[^1].Payload);
        }

        await upstream.StartAgainAsync();
        await WaitConnectedAsync(bridge);
        await using MqttNetClient remote = await ClientAsync(port, "cap-watcher", cleanSession: false);
        await publisher.PublishAsync("data/r", "after", MqttQualityOfServiceLevel.AtLeastOnce);
        List<ReceivedMessage> arrived = await ReceiveUntilAsync(remote, "after");

        // The oldest forty went; the newest ten arrive in order, then live traffic.
        Assert.Equal(Enumerable.Range(40, 10).Select(i => Text(i) + payload100).Append("after"), arrived.Select(m => m.Payload));
    }

    [SkippableFact]
    public async Task Age_cap_drops_messages_older_than_the_limit()
    {
        int port = MosquittoUpstream.FreePort();
        await using MosquittoUpstream upstream = await MosquittoUpstream.StartAsync(port: port, start: false);
        BridgeOptions options = Options("aged", mqtt5: true, port);
        options.MaxMessageAge = TimeSpan.FromSeconds(1);
        options.Topics.Add(new BridgeTopicRule { Local = "data/#", MaxQos = 1 });
        await using BrokerServer server = await StartBrokerAsync(options);
        Bridge bridge = Assert.Single(server.Broker.Bridges);

        await using MqttNetClient publisher = await ClientAsync(server.Port);
        for (int i = 0; i < 5; i++)
        {
            await publisher.PublishAsync("data/old", Text(i), MqttQualityOfServiceLevel.AtLeastOnce);
        }

        // Not a synchronisation: the messages must grow older than the cap, which takes that long.
        await Task.Delay(TimeSpan.FromMilliseconds(1500));
        await upstream.StartAgainAsync();
        await using MqttNetClient remote = await ClientAsync(port);
        await remote.SubscribeAsync("data/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await WaitConnectedAsync(bridge);
        await publisher.PublishAsync("data/new", "fresh", MqttQualityOfServiceLevel.AtLeastOnce);
        List<ReceivedMessage> arrived = await ReceiveUntilAsync(remote, "fresh");
        Assert.Equal(["fresh"], arrived.Select(m => m.Payload));
        Assert.Equal(5, bridge.DroppedMessages);
    }

    [SkippableFact]
    public async Task Fails_over_to_the_second_upstream_and_back_to_the_first()
    {
        await using MosquittoUpstream primary = await MosquittoUpstream.StartAsync(start: false);
        await using MosquittoUpstream secondary = await MosquittoUpstream.StartAsync();
        BridgeOptions options = Options("failover", mqtt5: true, primary.Port, secondary.Port);
        options.Topics.Add(new BridgeTopicRule { Local = "data/#", MaxQos = 1 });
        await using BrokerServer server = await StartBrokerAsync(options);
        Bridge bridge = Assert.Single(server.Broker.Bridges);

        await using MqttNetClient onSecondary = await ClientAsync(secondary.Port);
        await onSecondary.SubscribeAsync("data/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await WaitConnectedAsync(bridge);
        Assert.Equal(secondary.Port, bridge.Upstream!.Port);
        await using MqttNetClient publisher = await ClientAsync(server.Port);
        await publisher.PublishAsync("data/a", "to-secondary", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal("to-secondary", (await onSecondary.NextAsync(Wait)).Payload);

        // The secondary goes away and the primary comes up: the bridge moves, and what was queued follows.
        await primary.StartAgainAsync();
        await using MqttNetClient onPrimary = await ClientAsync(primary.Port);
        await onPrimary.SubscribeAsync("data/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await secondary.StopAsync();
        await WaitForAsync(bridge, b => b.IsConnected && b.Upstream!.Port == primary.Port, "connected to the primary");
        await publisher.PublishAsync("data/a", "to-primary", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal("to-primary", (await onPrimary.NextAsync(Wait)).Payload);
        Assert.True(bridge.Connects >= 2);
    }
    [SkippableFact]
    public async Task A_backlog_drains_in_order_at_the_configured_rate()
    {
        int port = MosquittoUpstream.FreePort();
        await using MosquittoUpstream upstream = await MosquittoUpstream.StartAsync(port: port);

        await WatchUpstreamAsync(port, "drain-watcher");
        await upstream.StopAsync();
        BridgeOptions options = Options("paced", mqtt5: true, port);
        options.DrainRatePerSecond = 40;
        options.Topics.Add(new BridgeTopicRule { Local = "data/#", MaxQos = 1 });
        await using BrokerServer server = await StartBrokerAsync(options);
        Bridge bridge = Assert.Single(server.Broker.Bridges);
        await using MqttNetClient publisher = await ClientAsync(server.Port);
        const int count = 40;
        for (int i = 0; i < count; i++)
        {
            await publisher.PublishAsync("data/r", Text(i), MqttQualityOfServiceLevel.AtLeastOnce);
        }

        await upstream.StartAgainAsync();
        await WaitConnectedAsync(bridge);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await using MqttNetClient remote = await ClientAsync(port, "drain-watcher", cleanSession: false);
        List<ReceivedMessage> arrived = await ReceiveUntilAsync(remote, Text(count - 1));
        AssertAllInOrder(arrived.Select(m => m.Payload), count);

        // 40 messages at 40 per second: a lower bound only (pacing can only slow the drain down).
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(600), $"drained in {clock.Elapsed}");

        // Live traffic once the backlog is up is not paced: a site publishing faster than the drain rate would fall
        // behind for good and shed messages.
        long pauses = bridge.PacedPauses;
        Assert.True(pauses > 0);
        for (int i = count; i < 2 * count; i++)
        {
            await publisher.PublishAsync("data/r", Text(i), MqttQualityOfServiceLevel.AtLeastOnce);
        }

        List<ReceivedMessage> live = await ReceiveUntilAsync(remote, Text((2 * count) - 1));
        Assert.Equal(count, live.Count);
        Assert.Equal(pauses, bridge.PacedPauses);
    }

    [SkippableFact]
    public async Task A_refused_connection_is_reported_with_the_reason_and_retried()
    {
        await using MosquittoUpstream upstream = await MosquittoUpstream.StartAsync("allow_anonymous false");
        BridgeOptions options = Options("refused", mqtt5: true, upstream.Port);
        options.Topics.Add(new BridgeTopicRule { Local = "data/#" });
        await using BrokerServer server = await StartBrokerAsync(options);
        Bridge bridge = Assert.Single(server.Broker.Bridges);
        await WaitForAsync(bridge, b => b.State.Contains("refused the connection", StringComparison.Ordinal), "refused");
        Assert.Matches("^disconnected: 127\\.0\\.0\\.1:\\d+ refused the connection: (NotAuthorized|BadUserNameOrPassword)$", bridge.State);
        Assert.False(bridge.IsConnected);
    }
}
