using MQTTnet;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>MQTT 5.0 Subscription Options (§3.8.3.1), Subscription Identifiers (§3.8.2.1.2) and SUBACK/UNSUBACK reason codes.</summary>
public sealed class V5SubscribeOptionsTests
{
    // [MQTT-3.8.3-3] No Local: messages are not forwarded to the connection that published them; others still get them.
    [Fact]
    public async Task V5_no_local_subscription_does_not_receive_own_messages_MQTT_3_8_3_3()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client self = await MqttNet5Client.ConnectAsync(broker.Port);
        await self.SubscribeAsync("nl/t", configure: f => f.WithNoLocal(true));
        await using MqttNet5Client other = await MqttNet5Client.ConnectAsync(broker.Port);
        await other.SubscribeAsync("nl/t");

        await self.PublishAsync("nl/t", "mine");
        await other.PublishAsync("nl/t", "theirs");

        Assert.Equal("mine", (await other.NextAsync()).Payload);
        Assert.Equal("theirs", (await other.NextAsync()).Payload);
        List<V5Message> own = await self.ReceiveUntilMarkerAsync(other);
        Assert.Equal(["theirs"], own.Select(m => m.Payload));
    }

    // [MQTT-3.3.1-12] Retain As Published 0: forwarded with RETAIN 0; [MQTT-3.3.1-13] 1: with the RETAIN flag as published.
    [Fact]
    public async Task V5_retain_as_published_keeps_the_retain_flag_MQTT_3_3_1_13()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client keep = await MqttNet5Client.ConnectAsync(broker.Port);
        await keep.SubscribeAsync("rap/t", configure: f => f.WithRetainAsPublished(true));
        await using MqttNet5Client clear = await MqttNet5Client.ConnectAsync(broker.Port);
        await clear.SubscribeAsync("rap/t", configure: f => f.WithRetainAsPublished(false));
        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);

        await publisher.PublishAsync("rap/t", "retained", retain: true);
        await publisher.PublishAsync("rap/t", "plain", retain: false);

        Assert.Equal([("retained", true), ("plain", false)], (await keep.NextManyAsync(2)).Select(m => (m.Payload, m.Retain)));
        Assert.Equal([("retained", false), ("plain", false)], (await clear.NextManyAsync(2)).Select(m => (m.Payload, m.Retain)));
    }

    // [MQTT-3.3.1-9] Retain Handling 0: retained messages are sent at every SUBSCRIBE, also when it replaces the
    // subscription [MQTT-3.8.4-4].
    [Fact]
    public async Task V5_retain_handling_0_sends_retained_at_every_subscribe_MQTT_3_3_1_9()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);
        await publisher.PublishAsync("rh/t", "kept", retain: true);
        await using MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(broker.Port);

        for (int i = 0; i < 2; i++)
        {
            await subscriber.SubscribeAsync("rh/t", configure: f => f.WithRetainHandling(MqttRetainHandling.SendAtSubscribe));
            V5Message retained = await subscriber.NextAsync();
            Assert.Equal(("kept", true), (retained.Payload, retained.Retain));
        }
    }

    // [MQTT-3.3.1-10] Retain Handling 1: retained messages only when the subscription did not exist yet.
    [Fact]
    public async Task V5_retain_handling_1_sends_retained_only_for_a_new_subscription_MQTT_3_3_1_10()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);
        await publisher.PublishAsync("rh/t", "kept", retain: true);
        await using MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(broker.Port);

        await subscriber.SubscribeAsync("rh/t", configure: f => f.WithRetainHandling(MqttRetainHandling.SendAtSubscribeIfNewSubscriptionOnly));
        V5Message first = await subscriber.NextAsync();
        Assert.Equal(("kept", true), (first.Payload, first.Retain));
        await subscriber.SubscribeAsync("rh/t", configure: f => f.WithRetainHandling(MqttRetainHandling.SendAtSubscribeIfNewSubscriptionOnly));
        Assert.Empty(await subscriber.ReceiveUntilMarkerAsync(publisher));
    }

    // [MQTT-3.3.1-11] Retain Handling 2: no retained messages at SUBSCRIBE; live messages still come.
    [Fact]
    public async Task V5_retain_handling_2_sends_no_retained_messages_MQTT_3_3_1_11()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);
        await publisher.PublishAsync("rh/t", "kept", retain: true);
        await using MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(broker.Port);

        await subscriber.SubscribeAsync("rh/t", configure: f => f.WithRetainHandling(MqttRetainHandling.DoNotSendOnSubscribe));
        await publisher.PublishAsync("rh/t", "live");
        Assert.Equal(["live"], (await subscriber.ReceiveUntilMarkerAsync(publisher)).Select(m => m.Payload));
    }

    // [MQTT-3.3.4-3] [MQTT-3.3.4-4] overlapping subscriptions with different Subscription Identifiers: one copy
    // carrying both identifiers (order not significant); a message matching one of them carries only its identifier.
    [Fact]
    public async Task V5_overlapping_subscriptions_give_one_copy_with_all_subscription_identifiers_MQTT_3_3_4_4()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("sid/+/temp", subscriptionIdentifier: 5);
        await subscriber.SubscribeAsync("sid/#", subscriptionIdentifier: 268_435_455);
        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);

        await publisher.PublishAsync("sid/kitchen/temp", "both");
        await publisher.PublishAsync("sid/kitchen/humidity", "one");

        List<V5Message> received = await subscriber.ReceiveUntilMarkerAsync(publisher);
        Assert.Equal(["both", "one"], received.Select(m => m.Payload));
        Assert.Equal([5u, 268_435_455u], received[0].SubscriptionIdentifiers.Order());
        Assert.Equal([268_435_455u], received[1].SubscriptionIdentifiers);
    }

    // [MQTT-3.3.4-3] retained messages sent at SUBSCRIBE carry that subscription's identifier as well.
    [Fact]
    public async Task V5_retained_message_carries_the_subscription_identifier_MQTT_3_3_4_3()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);
        await publisher.PublishAsync("sid/retained", "kept", retain: true);
        await using MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(broker.Port);

        await subscriber.SubscribeAsync("sid/retained", subscriptionIdentifier: 42);
        V5Message retained = await subscriber.NextAsync();
        Assert.True(retained.Retain);
        Assert.Equal([42u], retained.SubscriptionIdentifiers);
    }

    // A wildcard out of place ([MQTT-4.7.1-2] [MQTT-4.7.1-3]) is not a well-formed filter: the broker sends DISCONNECT
    // 0x81 (Malformed Packet) and closes, as Mosquitto does. SUBACK 0x8F (Table 3-8) is for a filter that is correctly
    // formed but not allowed. Seen through MQTTnet, a client we did not write, which lets a misplaced '+' through (it
    // refuses a misplaced '#' itself; the raw-frame cases are in MalformedSequenceTableTests).
    [Fact]
    public async Task V5_malformed_topic_filter_gets_DISCONNECT_0x81_and_nothing_of_the_SUBSCRIBE_is_applied()
    {
        const string bad = "al+so/bad";
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client client = await MqttNet5Client.ConnectAsync(broker.Port);
        var options = new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(new MqttTopicFilterBuilder().WithTopic("good/+").Build())
            .WithTopicFilter(new MqttTopicFilterBuilder().WithTopic(bad).Build())
            .Build();

        using var cts = new CancellationTokenSource(TestBroker.Timeout);
        await Assert.ThrowsAnyAsync<Exception>(() => client.Client.SubscribeAsync(options, cts.Token));

        MqttClientDisconnectedEventArgs disconnected = await client.WaitForDisconnectedAsync();
        Assert.Equal(MqttClientDisconnectReason.MalformedPacket, disconnected.Reason);
        Assert.Equal(0, broker.Broker.Subscriptions.Count);
    }

    // Table 3-8 [MQTT-3.9.3-2]: a well-formed filter over the broker's level limit gets 0x8F (Topic Filter invalid), in
    // filter order [MQTT-3.9.3-1], beside the valid ones, which are granted.
    [Fact]
    public async Task V5_filter_over_the_level_limit_gets_SUBACK_0x8F_MQTT_3_9_3_2()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.MaxTopicLevels = 3);
        await using RawMqttClient client = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "deep-filter");
        await client.SendAsync(new SubscribePacket
        {
            PacketId = 9,
            Subscriptions = [new TopicSubscription("good/+", 1), new TopicSubscription("a/b/c/d", 1), new TopicSubscription("ok/#", 0)],
        });

        var subAck = Assert.IsType<SubAckPacket>(await client.ReceiveAsync());
        Assert.Equal((ushort)9, subAck.PacketId);
        Assert.Equal(new byte[] { 0x01, (byte)ReasonCode.TopicFilterInvalid, 0x00 }, subAck.ReturnCodes);
    }

    // Table 3-9 [MQTT-3.11.3-2]: UNSUBACK 0x11 (No subscription existed) for a filter never subscribed, 0x00 for one that
    // was, in filter order [MQTT-3.11.3-1].
    [Fact]
    public async Task V5_unsubscribe_from_a_filter_never_subscribed_gets_UNSUBACK_0x11_MQTT_3_11_3_2()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client client = await MqttNet5Client.ConnectAsync(broker.Port);
        MqttClientUnsubscribeResult never = await client.UnsubscribeAsync("never/subscribed");
        Assert.Equal(MqttClientUnsubscribeResultCode.NoSubscriptionExisted, Assert.Single(never.Items).ResultCode);

        await using RawMqttClient raw = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "unsub-raw");
        await raw.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("was/here", 0)] });
        Assert.IsType<SubAckPacket>(await raw.ReceiveAsync());
        await raw.SendAsync(new UnsubscribePacket { PacketId = 2, Filters = ["never/here", "was/here"] });
        var unsubAck = Assert.IsType<UnsubAckPacket>(await raw.ReceiveAsync());
        Assert.Equal((ushort)2, unsubAck.PacketId);
        Assert.Equal([ReasonCode.NoSubscriptionExisted, ReasonCode.Success], unsubAck.ReasonCodes);
    }
}
