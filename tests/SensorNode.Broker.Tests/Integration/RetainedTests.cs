using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>Retained messages (MQTT 3.1.1 §3.3.1.3) through MQTTnet.</summary>
public sealed class RetainedTests
{
    // [MQTT-3.3.1-5] the server keeps the latest retained message per topic, replacing the previous one;
    // [MQTT-3.3.1-6] a new subscription gets it with RETAIN=1 [MQTT-3.3.1-8].
    [Fact]
    public async Task Late_subscriber_gets_only_the_latest_retained_message_with_RETAIN_1_MQTT_3_3_1_5_and_6()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await publisher.PublishAsync("retained/latest", "first", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        await publisher.PublishAsync("retained/latest", "second", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        await publisher.PublishAsync("retained/other", "other", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);

        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("retained/latest", MqttQualityOfServiceLevel.AtLeastOnce);

        ReceivedMessage received = await subscriber.NextAsync();
        Assert.Equal(("retained/latest", "second"), (received.Topic, received.Payload));
        Assert.True(received.Retain);
        await subscriber.AssertNothingReceivedAsync(publisher);
    }

    // [MQTT-3.3.1-9] a retained message forwarded live to an existing subscription carries RETAIN=0.
    [Fact]
    public async Task Live_forwarding_of_a_retained_publish_has_RETAIN_0_MQTT_3_3_1_9()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("retained/live", MqttQualityOfServiceLevel.AtLeastOnce);

        await publisher.PublishAsync("retained/live", "now", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);

        ReceivedMessage live = await subscriber.NextAsync();
        Assert.Equal("now", live.Payload);
        Assert.False(live.Retain);

        // It was stored all the same: a new subscription (same client, re-subscribing) replays it with RETAIN=1.
        await subscriber.SubscribeAsync("retained/live", MqttQualityOfServiceLevel.AtLeastOnce);
        ReceivedMessage replay = await subscriber.NextAsync();
        Assert.Equal("now", replay.Payload);
        Assert.True(replay.Retain);
    }

    // [MQTT-3.3.1-10] a zero-length retained PUBLISH is forwarded to current subscribers as a normal message;
    // [MQTT-3.3.1-11] it removes the retained message, so later subscribers get nothing.
    [Fact]
    public async Task Zero_length_retained_payload_is_forwarded_and_deletes_the_retained_message_MQTT_3_3_1_10_and_11()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient current = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await publisher.PublishAsync("retained/clear", "value", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        Assert.Equal(1, broker.Broker.Retained.Count);
        await current.SubscribeAsync("retained/clear", MqttQualityOfServiceLevel.AtLeastOnce);
        ReceivedMessage replay = await current.NextAsync();
        Assert.Equal(("value", true), (replay.Payload, replay.Retain));

        await publisher.PublishAsync("retained/clear", string.Empty, MqttQualityOfServiceLevel.AtLeastOnce, retain: true);

        ReceivedMessage empty = await current.NextAsync();
        Assert.Equal("retained/clear", empty.Topic);
        Assert.Equal(string.Empty, empty.Payload);
        Assert.False(empty.Retain);
        Assert.Equal(0, broker.Broker.Retained.Count);

        await using MqttNetClient late = await MqttNetClient.ConnectAsync(broker.Port);
        await late.SubscribeAsync("retained/clear", MqttQualityOfServiceLevel.AtLeastOnce);
        await late.AssertNothingReceivedAsync(publisher);
    }

    // [MQTT-3.3.1-6] a wildcard subscription gets every matching retained message (and no others), each RETAIN=1.
    [Fact]
    public async Task Wildcard_subscription_gets_all_matching_retained_messages_MQTT_3_3_1_6()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        string[] matching = ["house/kitchen/temp", "house/hall/temp", "house/temp", "house/attic/north/temp"];
        string[] others = ["house/kitchen/light", "garden/temp", "$SYS/house/temp"];
        foreach (string topic in matching.Concat(others))
        {
            await publisher.PublishAsync(topic, "v:" + topic, MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        }

        await using MqttNetClient plus = await MqttNetClient.ConnectAsync(broker.Port);
        await plus.SubscribeAsync("house/+/temp", MqttQualityOfServiceLevel.AtLeastOnce);
        List<ReceivedMessage> plusReceived = await plus.ReceiveUntilMarkerAsync(publisher);
        Assert.Equal(["house/hall/temp", "house/kitchen/temp"], plusReceived.Select(m => m.Topic).Order());
        Assert.All(plusReceived, m => Assert.True(m.Retain));
        Assert.All(plusReceived, m => Assert.Equal("v:" + m.Topic, m.Payload));

        await using MqttNetClient hash = await MqttNetClient.ConnectAsync(broker.Port);
        await hash.SubscribeAsync("house/#", MqttQualityOfServiceLevel.AtLeastOnce);
        List<ReceivedMessage> hashReceived = await hash.ReceiveUntilMarkerAsync(publisher);
        Assert.Equal(
            ["house/attic/north/temp", "house/hall/temp", "house/kitchen/light", "house/kitchen/temp", "house/temp"],
            hashReceived.Select(m => m.Topic).Order());
        Assert.All(hashReceived, m => Assert.True(m.Retain));

        // [MQTT-4.7.2-1] '#' alone: every retained message except the '$' topic.
        await using MqttNetClient all = await MqttNetClient.ConnectAsync(broker.Port);
        await all.SubscribeAsync("#", MqttQualityOfServiceLevel.AtLeastOnce);
        List<ReceivedMessage> allReceived = await all.ReceiveUntilMarkerAsync(publisher);
        Assert.Equal(matching.Concat(others).Where(t => t[0] != '$').Order(), allReceived.Select(m => m.Topic).Order());
    }

    // A replay larger than the in-flight window arrives whole, each message once with RETAIN=1 [MQTT-3.3.1-6]
    // [MQTT-3.3.1-8], ahead of what is published after the SUBSCRIBE; also without persistence, where the broker's
    // own in-memory store keeps no copy of the retained messages.
    [Fact]
    public async Task A_large_replay_arrives_whole_and_ahead_of_later_messages_without_persistence_MQTT_3_3_1_6()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.Persistence = PersistenceMode.Memory);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        string[] topics = [.. Enumerable.Range(0, 1000).Select(i => $"many/{i / 100}/{i % 100}")];
        foreach (string topic in topics)
        {
            await publisher.PublishAsync(topic, "v:" + topic, MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        }

        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("many/#", MqttQualityOfServiceLevel.AtLeastOnce);
        List<ReceivedMessage> received = await subscriber.ReceiveUntilMarkerAsync(publisher);

        Assert.Equal(topics.Order(StringComparer.Ordinal), received.Select(m => m.Topic).Order(StringComparer.Ordinal));
        Assert.All(received, m => Assert.Equal(("v:" + m.Topic, true, MqttQualityOfServiceLevel.AtLeastOnce), (m.Payload, m.Retain, m.Qos)));
    }

    // [MQTT-3.8.4-6] / §3.3.1.3: a retained message is sent to a new subscription at min(retained QoS, granted QoS).
    [Theory]
    [InlineData(MqttQualityOfServiceLevel.ExactlyOnce, MqttQualityOfServiceLevel.AtMostOnce)]
    [InlineData(MqttQualityOfServiceLevel.ExactlyOnce, MqttQualityOfServiceLevel.AtLeastOnce)]
    [InlineData(MqttQualityOfServiceLevel.ExactlyOnce, MqttQualityOfServiceLevel.ExactlyOnce)]
    [InlineData(MqttQualityOfServiceLevel.AtLeastOnce, MqttQualityOfServiceLevel.ExactlyOnce)]
    [InlineData(MqttQualityOfServiceLevel.AtMostOnce, MqttQualityOfServiceLevel.ExactlyOnce)]
    public async Task Retained_message_is_delivered_at_min_of_retained_and_granted_qos_MQTT_3_8_4_6(MqttQualityOfServiceLevel retainedQos, MqttQualityOfServiceLevel granted)
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await publisher.PublishAsync("retained/qos", "r", retainedQos, retain: true);

        // A QoS 0 publish has no acknowledgement: a QoS 1 publish after it on the same connection proves it was routed.
        await publisher.PublishAsync("retained/after", "sync", MqttQualityOfServiceLevel.AtLeastOnce);

        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("retained/qos", granted);

        ReceivedMessage received = await subscriber.NextAsync();
        Assert.Equal("r", received.Payload);
        Assert.True(received.Retain);
        Assert.Equal((MqttQualityOfServiceLevel)Math.Min((int)retainedQos, (int)granted), received.Qos);
    }
}
