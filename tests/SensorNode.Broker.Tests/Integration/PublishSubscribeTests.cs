using MQTTnet;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>Topic filters, SUBSCRIBE / UNSUBSCRIBE and routing (MQTT 3.1.1 §3.8, §3.10, §4.6, §4.7) through MQTTnet.</summary>
public sealed class PublishSubscribeTests
{
    // One subscriber per case: whether the filter matches the topic (§4.7).
    [Theory]
    [InlineData("sensor/+/temp", "sensor/kitchen/temp", true)] // [MQTT-4.7.1-3] '+' matches one level
    [InlineData("sensor/+/temp", "sensor/kitchen/attic/temp", false)] // '+' matches exactly one level
    [InlineData("sensor/+/temp", "sensor/temp", false)]
    [InlineData("sport/+", "sport", false)] // §4.7.1.3: "sport/+" does not match "sport"
    [InlineData("sport/+", "sport/", true)] // §4.7.1.3: "sport/+" matches "sport/" (empty level)
    [InlineData("+/+", "/finance", true)] // §4.7.1.3: "+/+" matches "/finance" (empty first level)
    [InlineData("/+", "/finance", true)] // §4.7.1.3
    [InlineData("+", "/finance", false)] // §4.7.1.3: "+" does not match "/finance"
    [InlineData("sport/+/player", "sport//player", true)] // '+' matches an empty middle level
    [InlineData("sport/tennis/#", "sport/tennis/player1", true)] // [MQTT-4.7.1-2]
    [InlineData("sport/tennis/#", "sport/tennis/player1/ranking", true)] // [MQTT-4.7.1-2] any number of levels
    [InlineData("sport/tennis/#", "sport/golf", false)]
    [InlineData("sport/#", "sport", true)] // [MQTT-4.7.1-2] '#' includes the parent level
    [InlineData("#", "any/topic/at/all", true)] // [MQTT-4.7.1-2]
    [InlineData("+/tennis/#", "sport/tennis", true)] // '+' then '#' including the parent
    [InlineData("sport/tennis", "Sport/Tennis", false)] // [MQTT-4.7.3-4] case-sensitive, no normalisation
    [InlineData("#", "$app/broker/load", false)] // [MQTT-4.7.2-1] '#' does not match '$' topics
    [InlineData("+/broker/load", "$app/broker/load", false)] // [MQTT-4.7.2-1] '+' first level does not match '$'
    [InlineData("$app/#", "$app/broker/load", true)] // [MQTT-4.7.2-1] an explicit '$' first level does
    [InlineData("$app/broker/+", "$app/broker/load", true)] // explicit '$' first level, '+' later
    public async Task Filter_matching_MQTT_4_7(string filter, string topic, bool matches)
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync(filter, MqttQualityOfServiceLevel.AtLeastOnce);

        await publisher.PublishAsync(topic, "payload", MqttQualityOfServiceLevel.AtLeastOnce);

        List<ReceivedMessage> received = await subscriber.ReceiveUntilMarkerAsync(publisher);
        if (matches)
        {
            ReceivedMessage only = Assert.Single(received);
            Assert.Equal(topic, only.Topic);
            Assert.Equal("payload", only.Payload);
        }
        else
        {
            Assert.Empty(received);
        }
    }

    // [MQTT-4.7.2-1] '$' topics: not matched by '#' or '+/...' but matched by an explicit '$app/#', all in one broker.
    // ($SYS/ itself is the broker's own: clients cannot publish there, see Security/SysTopicTests.)
    [Fact]
    public async Task Dollar_topics_reach_only_explicit_dollar_filters_MQTT_4_7_2_1()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient wildcards = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient sys = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await wildcards.SubscribeAsync("#", MqttQualityOfServiceLevel.AtLeastOnce);
        await wildcards.SubscribeAsync("+/x", MqttQualityOfServiceLevel.AtLeastOnce);
        await sys.SubscribeAsync("$app/#", MqttQualityOfServiceLevel.AtLeastOnce);

        await publisher.PublishAsync("$app/x", "sys", MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.PublishAsync("normal/x", "normal", MqttQualityOfServiceLevel.AtLeastOnce);

        ReceivedMessage sysMessage = await sys.NextAsync();
        Assert.Equal("$app/x", sysMessage.Topic);

        // The wildcard subscriber got the ordinary topic (once, despite '#' and '+/x' both matching) and no '$' topic.
        List<ReceivedMessage> received = await wildcards.ReceiveUntilMarkerAsync(publisher);
        ReceivedMessage only = Assert.Single(received);
        Assert.Equal("normal/x", only.Topic);
    }

    // §3.3.5 (the broker delivers one copy per client): overlapping filters of one client give ONE copy at the
    // highest granted QoS; delivered QoS is min(published, granted) [MQTT-3.8.4-6].
    [Fact]
    public async Task Overlapping_subscriptions_deliver_one_copy_at_highest_granted_qos_MQTT_3_3_5()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("home/#", MqttQualityOfServiceLevel.AtMostOnce);
        await subscriber.SubscribeAsync("home/+/temp", MqttQualityOfServiceLevel.ExactlyOnce);
        await subscriber.SubscribeAsync("home/kitchen/temp", MqttQualityOfServiceLevel.AtLeastOnce);

        await publisher.PublishAsync("home/kitchen/temp", "q2", MqttQualityOfServiceLevel.ExactlyOnce);
        await publisher.PublishAsync("home/kitchen/temp", "q1", MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.PublishAsync("home/kitchen/light", "only-hash", MqttQualityOfServiceLevel.ExactlyOnce);

        List<ReceivedMessage> received = await subscriber.ReceiveUntilMarkerAsync(publisher);
        Assert.Collection(
            received,
            m => Assert.Equal(("q2", MqttQualityOfServiceLevel.ExactlyOnce), (m.Payload, m.Qos)),
            m => Assert.Equal(("q1", MqttQualityOfServiceLevel.AtLeastOnce), (m.Payload, m.Qos)),
            m => Assert.Equal(("only-hash", MqttQualityOfServiceLevel.AtMostOnce), (m.Payload, m.Qos)));
    }

    // [MQTT-3.9.3-1] SUBACK return codes in order of the filters, each the granted QoS.
    [Fact]
    public async Task Suback_grants_the_requested_qos_per_filter_MQTT_3_9_3_1()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);

        MqttClientSubscribeResult result = await subscriber.Client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter("a/0", MqttQualityOfServiceLevel.AtMostOnce)
            .WithTopicFilter("a/1", MqttQualityOfServiceLevel.AtLeastOnce)
            .WithTopicFilter("a/2", MqttQualityOfServiceLevel.ExactlyOnce)
            .Build());

        Assert.Equal(
            [MqttClientSubscribeResultCode.GrantedQoS0, MqttClientSubscribeResultCode.GrantedQoS1, MqttClientSubscribeResultCode.GrantedQoS2],
            result.Items.Select(i => i.ResultCode).ToArray());
        Assert.Equal(3, broker.Broker.Subscriptions.Count);
    }

    // [MQTT-3.10.4-2] after UNSUBSCRIBE the server stops adding new messages for the client; [MQTT-3.10.4-4] UNSUBACK.
    [Fact]
    public async Task Unsubscribe_stops_delivery_MQTT_3_10_4_2()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("unsub/t", MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.PublishAsync("unsub/t", "before", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal("before", (await subscriber.NextAsync()).Payload);

        MqttClientUnsubscribeResult result = await subscriber.UnsubscribeAsync("unsub/t");
        Assert.Equal(MqttClientUnsubscribeResultCode.Success, Assert.Single(result.Items).ResultCode);
        Assert.Equal(0, broker.Broker.Subscriptions.Count);

        await publisher.PublishAsync("unsub/t", "after", MqttQualityOfServiceLevel.AtLeastOnce);
        await subscriber.AssertNothingReceivedAsync(publisher);
    }

    // [MQTT-3.10.4-2] unsubscribing one of two overlapping filters leaves the other in force.
    [Fact]
    public async Task Unsubscribe_removes_only_the_named_filter_MQTT_3_10_4_1()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("keep/#", MqttQualityOfServiceLevel.AtMostOnce);
        await subscriber.SubscribeAsync("keep/t", MqttQualityOfServiceLevel.ExactlyOnce);

        await subscriber.UnsubscribeAsync("keep/t");
        await publisher.PublishAsync("keep/t", "via-hash", MqttQualityOfServiceLevel.ExactlyOnce);

        List<ReceivedMessage> received = await subscriber.ReceiveUntilMarkerAsync(publisher);
        ReceivedMessage only = Assert.Single(received);
        Assert.Equal("via-hash", only.Payload);
        Assert.Equal(MqttQualityOfServiceLevel.AtMostOnce, only.Qos);
    }

    // [MQTT-3.10.4-5] UNSUBACK even when no subscription is deleted (MQTTnet: the call completes).
    [Fact]
    public async Task Unsubscribe_of_a_filter_never_subscribed_gets_UNSUBACK_MQTT_3_10_4_5()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient client = await MqttNetClient.ConnectAsync(broker.Port);

        MqttClientUnsubscribeResult result = await client.UnsubscribeAsync("never/subscribed");

        Assert.Single(result.Items);
        Assert.True(client.Client.IsConnected);
    }

    // [MQTT-3.10.4-4] [MQTT-3.10.4-5] on the wire: UNSUBACK with the same packet identifier.
    [Fact]
    public async Task Unsubscribe_of_a_filter_never_subscribed_gets_UNSUBACK_with_same_packet_id_raw_MQTT_3_10_4_5()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient raw = await RawMqttClient.ConnectMqttAsync(broker.Port, "raw-unsub");

        await raw.SendAsync(new UnsubscribePacket { PacketId = 4242, Filters = ["never/subscribed", "nor/this/#"] });

        var unsubAck = Assert.IsType<PacketIdPacket>(await raw.ReceiveAsync());
        Assert.Equal(PacketType.UnsubAck, unsubAck.Type);
        Assert.Equal(4242, unsubAck.PacketId);
    }

    // [MQTT-3.8.4-3] a SUBSCRIBE with a filter identical to an existing one replaces it: one copy, at the NEW QoS
    // (a downgrade, so keeping both would show up as a duplicate or as the old, higher QoS).
    [Fact]
    public async Task Subscribing_twice_to_same_filter_replaces_the_subscription_MQTT_3_8_4_3()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("replace/t", MqttQualityOfServiceLevel.ExactlyOnce);
        MqttClientSubscribeResult second = await subscriber.SubscribeAsync("replace/t", MqttQualityOfServiceLevel.AtMostOnce);
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS0, Assert.Single(second.Items).ResultCode);
        Assert.Equal(1, broker.Broker.Subscriptions.Count);

        await publisher.PublishAsync("replace/t", "once", MqttQualityOfServiceLevel.ExactlyOnce);

        List<ReceivedMessage> received = await subscriber.ReceiveUntilMarkerAsync(publisher);
        ReceivedMessage only = Assert.Single(received);
        Assert.Equal("once", only.Payload);
        Assert.Equal(MqttQualityOfServiceLevel.AtMostOnce, only.Qos);
    }

    // §3.3.5: every client with a matching subscription receives the message.
    [Fact]
    public async Task Many_subscribers_all_receive_a_message_MQTT_3_3_5()
    {
        const int count = 20;
        await using BrokerServer broker = await TestBroker.StartAsync();
        var subscribers = new List<MqttNetClient>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port, $"fan-{i}");
                subscribers.Add(subscriber);
                await subscriber.SubscribeAsync(i % 2 == 0 ? "fan/out" : "fan/+", MqttQualityOfServiceLevel.AtLeastOnce);
            }

            await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
            await publisher.PublishAsync("fan/out", "all", MqttQualityOfServiceLevel.AtLeastOnce);

            ReceivedMessage[] received = await Task.WhenAll(subscribers.Select(s => s.NextAsync()));
            Assert.All(received, m => Assert.Equal(("fan/out", "all"), (m.Topic, m.Payload)));
        }
        finally
        {
            foreach (MqttNetClient subscriber in subscribers)
            {
                await subscriber.DisposeAsync();
            }
        }
    }

    // [MQTT-4.6.0-6] each topic is an ordered topic: 200 QoS 1 messages arrive in the order published.
    [Fact]
    public async Task Order_per_topic_is_kept_for_200_qos1_messages_MQTT_4_6_0_6()
    {
        const int count = 200;
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("ordered/t", MqttQualityOfServiceLevel.AtLeastOnce);

        for (int i = 0; i < count; i++)
        {
            await publisher.PublishAsync("ordered/t", i.ToString(), MqttQualityOfServiceLevel.AtLeastOnce);
        }

        List<ReceivedMessage> received = await subscriber.NextManyAsync(count);
        Assert.Equal(Enumerable.Range(0, count).Select(i => i.ToString()), received.Select(m => m.Payload));
        Assert.All(received, m => Assert.Equal(MqttQualityOfServiceLevel.AtLeastOnce, m.Qos));
        await subscriber.AssertNothingReceivedAsync(publisher);
    }

    // [MQTT-4.6.0-6] order also holds when the publisher pipelines (does not wait for each PUBACK) and the
    // subscriber's in-flight window (MaxInflightMessages = 10) forces queueing in the broker.
    [Fact]
    public async Task Order_is_kept_with_pipelined_publishes_and_a_small_inflight_window_MQTT_4_6_0_6()
    {
        const int count = 200;
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.Sessions.MaxInflightMessages = 10);
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await using RawMqttClient publisher = await RawMqttClient.ConnectMqttAsync(broker.Port, "pipelined-publisher");
        await subscriber.SubscribeAsync("ordered/pipelined", MqttQualityOfServiceLevel.AtLeastOnce);

        // One write with all 200 PUBLISH packets, then read the 200 PUBACKs.
        byte[] batch = [.. Enumerable.Range(0, count).SelectMany(i => MqttPacketWriter.ToArray(new PublishPacket
        {
            Topic = "ordered/pipelined",
            Payload = System.Text.Encoding.UTF8.GetBytes(i.ToString()),
            Qos = 1,
            PacketId = (ushort)(i + 1),
        }))];
        await publisher.SendAsync(batch);
        for (int i = 0; i < count; i++)
        {
            var ack = Assert.IsType<PacketIdPacket>(await publisher.ReceiveAsync());
            Assert.Equal(PacketType.PubAck, ack.Type);
            Assert.Equal(i + 1, ack.PacketId);
        }

        List<ReceivedMessage> received = await subscriber.NextManyAsync(count);
        Assert.Equal(Enumerable.Range(0, count).Select(i => i.ToString()), received.Select(m => m.Payload));
    }
}
