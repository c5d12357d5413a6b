using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Sessions;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>Clean and persistent sessions (MQTT 3.1.1 §3.1.2.4, §4.1) and the offline queue bound, through MQTTnet.</summary>
public sealed class SessionTests
{
    // [MQTT-3.1.2-4] [MQTT-3.1.2-5] CleanSession=0: the session, its subscriptions and the QoS 1/2 messages that
    // arrive while the client is disconnected are kept and delivered when it reconnects, without re-subscribing.
    [Fact]
    public async Task Persistent_session_keeps_subscriptions_and_delivers_qos1_and_qos2_published_while_offline_MQTT_3_1_2_5()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await using (MqttNetClient first = await MqttNetClient.ConnectAsync(broker.Port, "persistent", cleanSession: false))
        {
            await first.SubscribeAsync("persistent/t", MqttQualityOfServiceLevel.ExactlyOnce);
        }

        await publisher.PublishAsync("persistent/t", "offline-q1", MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.PublishAsync("persistent/t", "offline-q2", MqttQualityOfServiceLevel.ExactlyOnce);

        await using MqttNetClient resumed = await MqttNetClient.ConnectAsync(broker.Port, "persistent", cleanSession: false);
        Assert.True(resumed.ConnectResult!.IsSessionPresent);
        List<ReceivedMessage> queued = await resumed.NextManyAsync(2);
        Assert.Equal(
            [("offline-q1", MqttQualityOfServiceLevel.AtLeastOnce), ("offline-q2", MqttQualityOfServiceLevel.ExactlyOnce)],
            queued.Select(m => (m.Payload, m.Qos)).ToArray());

        // The subscription itself survived: live traffic flows without a new SUBSCRIBE.
        await publisher.PublishAsync("persistent/t", "live", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal("live", (await resumed.NextAsync()).Payload);
        await resumed.AssertNothingReceivedAsync(publisher);
    }

    // §3.1.2.4: QoS 0 messages for an offline persistent session MAY be kept; this broker's default
    // (QueueQos0WhileOffline = false) drops them, while QoS 1/2 are queued [MQTT-3.1.2-5].
    [Fact]
    public async Task Qos0_published_while_offline_is_not_delivered_but_qos1_and_qos2_are_MQTT_3_1_2_5()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await GoOfflineWithSubscriptionAsync(broker.Port, "offline-q0", "offline/t", qos: 2);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);

        await publisher.PublishAsync("offline/t", "q0", MqttQualityOfServiceLevel.AtMostOnce);
        await publisher.PublishAsync("offline/t", "q1", MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.PublishAsync("offline/t", "q2", MqttQualityOfServiceLevel.ExactlyOnce);

        await using MqttNetClient resumed = await MqttNetClient.ConnectAsync(broker.Port, "offline-q0", cleanSession: false);
        Assert.True(resumed.ConnectResult!.IsSessionPresent);
        List<ReceivedMessage> received = await resumed.ReceiveUntilMarkerAsync(publisher);
        Assert.Equal(["q1", "q2"], received.Select(m => m.Payload));
    }

    // [MQTT-3.1.2-6] CleanSession=1 discards any previous session and starts a new one: no subscriptions, and the
    // state is not reused by a following CleanSession=0 connection (session present 0, still no subscriptions).
    [Fact]
    public async Task Clean_session_starts_empty_and_a_following_persistent_connect_finds_no_session_MQTT_3_1_2_6()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await using (MqttNetClient persistent = await MqttNetClient.ConnectAsync(broker.Port, "clean-reset", cleanSession: false))
        {
            await persistent.SubscribeAsync("clean/t", MqttQualityOfServiceLevel.AtLeastOnce);
        }

        await using (MqttNetClient clean = await MqttNetClient.ConnectAsync(broker.Port, "clean-reset", cleanSession: true))
        {
            Assert.False(clean.ConnectResult!.IsSessionPresent);
            await publisher.PublishAsync("clean/t", "to-clean", MqttQualityOfServiceLevel.AtLeastOnce);
            await clean.AssertNothingReceivedAsync(publisher);
        }

        await using MqttNetClient again = await MqttNetClient.ConnectAsync(broker.Port, "clean-reset", cleanSession: false);
        Assert.False(again.ConnectResult!.IsSessionPresent);
        await publisher.PublishAsync("clean/t", "to-new-persistent", MqttQualityOfServiceLevel.AtLeastOnce);
        await again.AssertNothingReceivedAsync(publisher);
    }

    // §3.1.2.4 [MQTT-3.1.2-6]: a clean session ends with its connection: nothing is queued for it meanwhile and the
    // broker forgets it.
    [Fact]
    public async Task Clean_session_is_removed_when_its_connection_ends_MQTT_3_1_2_6()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using (RawMqttClient raw = await RawMqttClient.ConnectMqttAsync(broker.Port, "clean-gone", cleanSession: true))
        {
            await raw.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("gone/t", 1)] });
            Assert.IsType<SubAckPacket>(await raw.ReceiveAsync());
            await raw.SendAsync(EmptyPacket.Disconnect);
            await raw.AssertClosedAsync();
        }

        Assert.Null(broker.Broker.Sessions.Find("clean-gone"));
        Assert.Equal(0, broker.Broker.Subscriptions.Count);
    }

    // §3.1.2.4 (the server MAY bound stored messages): MaxQueuedMessages = 5, 10 QoS 1 messages while offline;
    // the default DropOldest policy keeps the newest 5 and counts 5 drops.
    [Fact]
    public async Task Offline_queue_bound_with_DropOldest_keeps_the_newest_messages()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.Sessions.MaxQueuedMessages = 5);
        Assert.Equal(QueueOverflowPolicy.DropOldest, broker.Broker.Options.Sessions.OverflowPolicy);
        await GoOfflineWithSubscriptionAsync(broker.Port, "bounded-oldest", "bounded/t", qos: 1);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);

        for (int i = 0; i < 10; i++)
        {
            await publisher.PublishAsync("bounded/t", i.ToString(), MqttQualityOfServiceLevel.AtLeastOnce);
        }

        Assert.Equal(5, broker.Broker.Metrics.DroppedQueueFull);
        await using MqttNetClient resumed = await MqttNetClient.ConnectAsync(broker.Port, "bounded-oldest", cleanSession: false);
        List<ReceivedMessage> received = await resumed.ReceiveUntilMarkerAsync(publisher);
        Assert.Equal(["5", "6", "7", "8", "9"], received.Select(m => m.Payload));
        Assert.Equal(5, broker.Broker.Metrics.DroppedQueueFull);
    }

    // The DropNewest policy refuses new messages once the queue is full: the oldest 5 are kept.
    [Fact]
    public async Task Offline_queue_bound_with_DropNewest_keeps_the_oldest_messages()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o =>
        {
            o.Sessions.MaxQueuedMessages = 5;
            o.Sessions.OverflowPolicy = QueueOverflowPolicy.DropNewest;
        });
        await GoOfflineWithSubscriptionAsync(broker.Port, "bounded-newest", "bounded/t", qos: 1);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);

        for (int i = 0; i < 10; i++)
        {
            await publisher.PublishAsync("bounded/t", i.ToString(), MqttQualityOfServiceLevel.AtLeastOnce);
        }

        Assert.Equal(5, broker.Broker.Metrics.DroppedQueueFull);
        await using MqttNetClient resumed = await MqttNetClient.ConnectAsync(broker.Port, "bounded-newest", cleanSession: false);
        List<ReceivedMessage> received = await resumed.ReceiveUntilMarkerAsync(publisher);
        Assert.Equal(["0", "1", "2", "3", "4"], received.Select(m => m.Payload));
    }

    // [MQTT-4.4.0-1] on reconnect with CleanSession=0, unacknowledged PUBLISH packets are re-sent with their original
    // packet identifiers (and DUP=1 [MQTT-3.3.1-1]) before anything new.
    [Fact]
    public async Task Unacknowledged_qos1_message_is_resent_with_DUP_and_same_packet_id_on_reconnect_MQTT_4_4_0_1()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        ushort packetId;
        await using (RawMqttClient first = await RawMqttClient.ConnectMqttAsync(broker.Port, "resend", cleanSession: false))
        {
            await first.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("resend/t", 1)] });
            Assert.IsType<SubAckPacket>(await first.ReceiveAsync());
            await publisher.PublishAsync("resend/t", "unacked", MqttQualityOfServiceLevel.AtLeastOnce);
            var original = Assert.IsType<PublishPacket>(await first.ReceiveAsync());
            Assert.False(original.Dup);
            packetId = original.PacketId;
            first.Abort(); // no PUBACK
        }

        await using RawMqttClient second = await RawMqttClient.ConnectAsync(broker.Port);
        await second.SendAsync(new ConnectPacket { ClientId = "resend", CleanSession = false, KeepAliveSeconds = 60 });
        var connAck = Assert.IsType<ConnAckPacket>(await second.ReceiveAsync());
        Assert.True(connAck.SessionPresent);
        var resent = Assert.IsType<PublishPacket>(await second.ReceiveAsync());
        Assert.True(resent.Dup);
        Assert.Equal(packetId, resent.PacketId);
        Assert.Equal(1, resent.Qos);
        Assert.Equal("unacked", System.Text.Encoding.UTF8.GetString(resent.Payload.Span));
        await second.SendAsync(new PacketIdPacket(PacketType.PubAck, packetId));
    }

    /// <summary>
    /// Creates a persistent session with one subscription on a raw socket and ends it with DISCONNECT. The broker
    /// closes the socket only after detaching the session, so once this returns the session is certainly offline.
    /// </summary>
    private static async Task GoOfflineWithSubscriptionAsync(int port, string clientId, string filter, byte qos)
    {
        await using RawMqttClient raw = await RawMqttClient.ConnectMqttAsync(port, clientId, cleanSession: false);
        await raw.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription(filter, qos)] });
        var subAck = Assert.IsType<SubAckPacket>(await raw.ReceiveAsync());
        Assert.Equal(new[] { qos }, subAck.ReturnCodes);
        await raw.SendAsync(EmptyPacket.Disconnect);
        await raw.AssertClosedAsync();
    }
}
