using MQTTnet.Protocol;
using SensorNode.Broker.Bridging;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Infrastructure;
using static SensorNode.Broker.Tests.Bridging.BridgeTestKit;

namespace SensorNode.Broker.Tests.Bridging;

/// <summary>Messages go up and come down through a bridge to a real mosquitto, renamed by the topic rules.</summary>
[Trait("Category", "Bridging")]
public sealed class BridgeForwardingTests
{
    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Forwards_both_ways_with_remapping(bool mqtt5)
    {
        await using MosquittoUpstream upstream = await MosquittoUpstream.StartAsync();
        BridgeOptions options = Options("remap", mqtt5, upstream.Port);
        options.Topics.Add(new BridgeTopicRule { Direction = BridgeDirection.Both, Local = "sensor/#", Remote = "site-a/sensor/#", MaxQos = 1 });
        options.Topics.Add(new BridgeTopicRule { Direction = BridgeDirection.In, Local = "cmd/site-a/#", Remote = "commands/a/#", MaxQos = 1 });
        await using BrokerServer server = await StartBrokerAsync(options);
        Bridge bridge = Assert.Single(server.Broker.Bridges);
        await WaitConnectedAsync(bridge);

        await using MqttNetClient remote = await ClientAsync(upstream.Port);
        await remote.SubscribeAsync("site-a/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await using MqttNetClient local = await ClientAsync(server.Port);
        await local.SubscribeAsync("sensor/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await local.SubscribeAsync("cmd/#", MqttQualityOfServiceLevel.AtLeastOnce);

        // Up: sensor/t1 → site-a/sensor/t1.
        await local.PublishAsync("sensor/t1", "up-1", MqttQualityOfServiceLevel.AtLeastOnce);
        ReceivedMessage up = await remote.NextAsync(Wait);
        Assert.Equal(("site-a/sensor/t1", "up-1"), (up.Topic, up.Payload));
        Assert.Equal("up-1", (await local.NextAsync(Wait)).Payload);

        // Down: site-a/sensor/t2 → sensor/t2, and commands/a/reboot → cmd/site-a/reboot.
        await remote.PublishAsync("site-a/sensor/t2", "down-1", MqttQualityOfServiceLevel.AtLeastOnce);
        await remote.PublishAsync("commands/a/reboot", "down-2", MqttQualityOfServiceLevel.AtLeastOnce);
        List<ReceivedMessage> down = await ReceiveUntilAsync(local, "down-2");
        Assert.Equal(
            [("sensor/t2", "down-1"), ("cmd/site-a/reboot", "down-2")],
            down.Select(m => (m.Topic, m.Payload)));

        // What came down did not go back up: the next thing upstream sees is the remote's own down-1, then a fence.
        Assert.Equal("down-1", (await remote.NextAsync(Wait)).Payload);
        await local.PublishAsync("sensor/fence", "fence", MqttQualityOfServiceLevel.AtLeastOnce);
        ReceivedMessage fence = await remote.NextAsync(Wait);
        Assert.Equal(("site-a/sensor/fence", "fence"), (fence.Topic, fence.Payload));

        Assert.True(bridge.ForwardedMessages >= 2);
        Assert.Equal(2, bridge.ReceivedMessages);
    }

    /// <summary>
    /// A message larger than the upstream takes ([MQTT-3.1.2-24]; Mosquitto's max_packet_size closes the connection of
    /// whoever sends one) is dropped and logged, and what queued behind it still goes up. An MQTT 5 upstream announces
    /// its limit; a 3.1.1 one cannot, so the bridge's maxPacketSize says it. Without it the message was re-sent at every
    /// reconnect and nothing behind it ever went up.
    /// </summary>
    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_message_too_large_for_the_upstream_is_dropped_and_the_queue_goes_on(bool mqtt5)
    {
        await using MosquittoUpstream upstream = await MosquittoUpstream.StartAsync("max_packet_size 200");
        BridgeOptions options = Options("small", mqtt5, upstream.Port);
        options.Topics.Add(new BridgeTopicRule { Direction = BridgeDirection.Out, Local = "sensor/#", MaxQos = 1 });
        if (!mqtt5)
        {
            options.MaxPacketSize = 200;
        }

        await using BrokerServer server = await StartBrokerAsync(options);
        Bridge bridge = Assert.Single(server.Broker.Bridges);
        await WaitConnectedAsync(bridge);
        await using MqttNetClient remote = await ClientAsync(upstream.Port);
        await remote.SubscribeAsync("sensor/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await using MqttNetClient local = await ClientAsync(server.Port);

        await local.PublishAsync("sensor/camera", new string('x', 500), MqttQualityOfServiceLevel.AtLeastOnce);
        await local.PublishAsync("sensor/t1", "after", MqttQualityOfServiceLevel.AtLeastOnce);

        ReceivedMessage after = await remote.NextAsync(Wait);
        Assert.Equal(("sensor/t1", "after"), (after.Topic, after.Payload));
        Assert.Equal(1, bridge.DroppedMessages);
        Assert.Equal(1, bridge.Connects);
    }

    [SkippableFact]
    public async Task State_topic_is_retained_and_names_the_reason()
    {
        int port = MosquittoUpstream.FreePort();
        await using MosquittoUpstream upstream = await MosquittoUpstream.StartAsync(port: port, start: false);
        BridgeOptions options = Options("state", mqtt5: true, port);
        options.Topics.Add(new BridgeTopicRule { Local = "sensor/#" });
        await using BrokerServer server = await StartBrokerAsync(options);
        Bridge bridge = Assert.Single(server.Broker.Bridges);
        await WaitForAsync(bridge, b => b.State.Contains("cannot connect", StringComparison.Ordinal), "disconnected with a reason");

        await using MqttNetClient watcher = await ClientAsync(server.Port);
        await watcher.SubscribeAsync("$SYS/broker/bridge/state/state", MqttQualityOfServiceLevel.AtMostOnce);
        ReceivedMessage retained = await watcher.NextAsync(Wait);
        Assert.True(retained.Retain);
        Assert.StartsWith("disconnected: ", retained.Payload, StringComparison.Ordinal);

        await upstream.StartAgainAsync();
        await WaitConnectedAsync(bridge);
        List<ReceivedMessage> states = await ReceiveUntilAsync(watcher, "connected");
        Assert.Equal("connected", states[^1].Payload);

        string metrics = Http.PrometheusExporter.Render(server.Status, null);
        Assert.Contains("sensornode_bridge_connected{bridge=\"state\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("sensornode_bridge_queued_messages{bridge=\"state\"}", metrics, StringComparison.Ordinal);
    }
}
