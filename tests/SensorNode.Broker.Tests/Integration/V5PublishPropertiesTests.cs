using System.Diagnostics;
using System.Text;
using MQTTnet;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>MQTT 5.0 PUBLISH properties (§3.3.2.3) as the broker handles and forwards them.</summary>
public sealed class V5PublishPropertiesTests
{
    // [MQTT-3.3.2-5] a message whose Message Expiry Interval passes while it waits for an offline persistent session
    // is not delivered; [MQTT-3.3.2-6] one still alive is forwarded with the interval minus the time it waited.
    [Fact]
    public async Task V5_expired_message_is_not_delivered_to_a_returning_session_MQTT_3_3_2_5()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        const string clientId = "expiry-offline";
        Action<MqttClientOptionsBuilder> persistent = o => o.WithCleanStart(false).WithSessionExpiryInterval(300);
        MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(broker.Port, clientId, persistent);
        await subscriber.SubscribeAsync("expiry/msg", MqttQualityOfServiceLevel.AtLeastOnce);
        await subscriber.DisposeAsync();
        await Eventually.AssertAsync(() => broker.Broker.Sessions.Find(clientId) is { IsConnected: false }, "the session is offline");

        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);
        var published = Stopwatch.StartNew();
        await publisher.PublishAsync("expiry/msg", "short-lived", configure: m => m.WithMessageExpiryInterval(1));
        await publisher.PublishAsync("expiry/msg", "long-lived", configure: m => m.WithMessageExpiryInterval(120));
        await publisher.PublishAsync("expiry/msg", "forever");

        // Time must pass here: the short-lived message's 1 s interval.
        await Eventually.AssertAsync(() => published.Elapsed > TimeSpan.FromMilliseconds(1300), "the 1 s expiry has passed", TimeSpan.FromSeconds(5));
        await using MqttNet5Client back = await MqttNet5Client.ConnectAsync(broker.Port, clientId, persistent);
        Assert.True(back.ConnectResult.IsSessionPresent);

        List<V5Message> received = await back.ReceiveUntilMarkerAsync(publisher);
        Assert.Equal(["long-lived", "forever"], received.Select(m => m.Payload));
        Assert.InRange(received[0].MessageExpiryInterval, 1u, 119u);
        Assert.Equal(0u, received[1].MessageExpiryInterval);
    }

    // [MQTT-3.3.2-6] a live subscriber gets a Message Expiry Interval no larger than the one published.
    [Fact]
    public async Task V5_message_expiry_interval_forwarded_is_at_most_the_published_one_MQTT_3_3_2_6()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient subscriber = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "expiry-live");
        await subscriber.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("expiry/live", 1)] });
        Assert.IsType<SubAckPacket>(await subscriber.ReceiveAsync());
        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);

        await publisher.PublishAsync("expiry/live", "x", configure: m => m.WithMessageExpiryInterval(30));

        var publish = Assert.IsType<PublishPacket>(await subscriber.ReceiveAsync());
        Assert.NotNull(publish.Properties?.MessageExpiryInterval);
        Assert.InRange(publish.Properties!.MessageExpiryInterval!.Value, 1u, 30u);
    }

    // §3.3.2.3.3 does not say what an interval of 0 means. Read as "expired at once", the message went to nobody, retained
    // or not, while its publisher got PUBACK 0x00; Mosquitto (and now SensorNode) take it as no expiry.
    [Fact]
    public async Task V5_a_message_expiry_interval_of_0_is_no_expiry_as_in_Mosquitto()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("expiry/zero/#");
        await using RawMqttClient publisher = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "expiry-zero");

        await publisher.SendAsync(new PublishPacket { Topic = "expiry/zero/live", Payload = "now"u8.ToArray(), Qos = 1, PacketId = 1, Properties = new MqttProperties { MessageExpiryInterval = 0 } });
        Assert.IsType<PacketIdPacket>(await publisher.ReceiveAsync());
        await publisher.SendAsync(new PublishPacket { Topic = "expiry/zero/kept", Payload = "kept"u8.ToArray(), Qos = 1, PacketId = 2, Retain = true, Properties = new MqttProperties { MessageExpiryInterval = 0 } });
        Assert.IsType<PacketIdPacket>(await publisher.ReceiveAsync());

        Assert.Equal("now", (await subscriber.NextAsync()).Payload);
        Assert.Equal("kept", (await subscriber.NextAsync()).Payload);
        Assert.NotNull(broker.Broker.Retained.Find("expiry/zero/kept"));
    }

    // [MQTT-3.3.2-4] the receiver may validate a payload marked UTF-8 (Payload Format Indicator 1); if it is not, it
    // answers with Reason Code 0x99 (Payload format invalid): PUBACK for QoS 1 (Table 3-4 [MQTT-3.4.2-1]), and the
    // message is not forwarded.
    [Fact]
    public async Task V5_invalid_UTF8_payload_marked_as_UTF8_gets_PUBACK_0x99_MQTT_3_3_2_4()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("format/#");
        await using RawMqttClient publisher = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "format-qos1");

        await publisher.SendAsync(new PublishPacket { Topic = "format/bad", Payload = new byte[] { 0xC3, 0x28 }, Qos = 1, PacketId = 7, Properties = new MqttProperties { PayloadFormatIndicator = 1 } });
        var pubAck = Assert.IsType<PacketIdPacket>(await publisher.ReceiveAsync());
        Assert.Equal((PacketType.PubAck, (ushort)7, ReasonCode.PayloadFormatInvalid), (pubAck.Type, pubAck.PacketId, pubAck.ReasonCode));

        // The connection stays usable, and a valid UTF-8 payload with the indicator goes through unaltered.
        await publisher.SendAsync(new PublishPacket { Topic = "format/good", Payload = Encoding.UTF8.GetBytes("ünïcödé"), Qos = 1, PacketId = 8, Properties = new MqttProperties { PayloadFormatIndicator = 1 } });
        var ok = Assert.IsType<PacketIdPacket>(await publisher.ReceiveAsync());
        Assert.Equal((ushort)8, ok.PacketId);
        Assert.Equal(ReasonCode.Success, ok.ReasonCode);

        V5Message first = await subscriber.NextAsync();
        Assert.Equal(("format/good", "ünïcödé"), (first.Topic, first.Payload));
        Assert.Equal(MqttPayloadFormatIndicator.CharacterData, first.PayloadFormatIndicator);
    }

    // [MQTT-3.3.2-4] §3.3.2.3.2: for QoS 0 there is no PUBACK: the receiver uses DISCONNECT 0x99.
    [Fact]
    public async Task V5_invalid_UTF8_payload_at_QoS_0_gets_DISCONNECT_0x99_MQTT_3_3_2_4()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient publisher = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "format-qos0");

        await publisher.SendAsync(new PublishPacket { Topic = "format/bad", Payload = new byte[] { 0xFF, 0xFE, 0xFD }, Properties = new MqttProperties { PayloadFormatIndicator = 1 } });
        var disconnect = Assert.IsType<DisconnectPacket>(await publisher.ReceiveAsync());
        Assert.Equal(ReasonCode.PayloadFormatInvalid, disconnect.ReasonCode);
        await publisher.AssertClosedAsync();
    }

    // [MQTT-3.3.2-4] Payload Format Indicator, [MQTT-3.3.2-20] Content Type, [MQTT-3.3.2-15] Response Topic,
    // [MQTT-3.3.2-16] Correlation Data, [MQTT-3.3.2-17] User Properties unaltered and [MQTT-3.3.2-18] in order, to a
    // 5.0 subscriber; a 3.1.1 subscriber (no properties in its protocol) still gets topic and payload.
    [Fact]
    public async Task V5_publish_properties_are_forwarded_unaltered_and_in_order_MQTT_3_3_2_18()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client v5 = await MqttNet5Client.ConnectAsync(broker.Port);
        await v5.SubscribeAsync("props/t");
        await using MqttNetClient v311 = await MqttNetClient.ConnectAsync(broker.Port);
        await v311.SubscribeAsync("props/t", MqttQualityOfServiceLevel.AtLeastOnce);
        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);

        byte[] correlation = [0x00, 0x01, 0xFE, 0xFF, 0x42];
        await publisher.PublishAsync("props/t", "{\"t\":21.5}", configure: m => m
            .WithPayloadFormatIndicator(MqttPayloadFormatIndicator.CharacterData)
            .WithContentType("application/json")
            .WithResponseTopic("props/reply")
            .WithCorrelationData(correlation)
            .WithUserProperty("zeta", Utf8("1"))
            .WithUserProperty("alpha", Utf8("2"))
            .WithUserProperty("zeta", Utf8("3"))
            .WithUserProperty("ünï", Utf8("çödé")));

        V5Message received = await v5.NextAsync();
        Assert.Equal(("props/t", "{\"t\":21.5}"), (received.Topic, received.Payload));
        Assert.Equal(MqttPayloadFormatIndicator.CharacterData, received.PayloadFormatIndicator);
        Assert.Equal("application/json", received.ContentType);
        Assert.Equal("props/reply", received.ResponseTopic);
        Assert.Equal(correlation, received.CorrelationData);
        Assert.Equal([("zeta", "1"), ("alpha", "2"), ("zeta", "3"), ("ünï", "çödé")], received.UserProperties);

        ReceivedMessage old = await v311.NextAsync();
        Assert.Equal(("props/t", "{\"t\":21.5}"), (old.Topic, old.Payload));
    }

    private static ReadOnlyMemory<byte> Utf8(string value) => Encoding.UTF8.GetBytes(value);

    // Table 3-4 [MQTT-3.4.2-1]: PUBACK 0x10 (No matching subscribers) when nobody subscribes; still a success, and
    // 0x00 once there is a subscriber.
    [Fact]
    public async Task V5_PUBACK_says_no_matching_subscribers_MQTT_3_4_2_1()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);

        MqttClientPublishResult nobody = await publisher.PublishAsync("nobody/listens", "x");
        Assert.Equal(MqttClientPublishReasonCode.NoMatchingSubscribers, nobody.ReasonCode);
        Assert.True(nobody.IsSuccess);

        await using MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("nobody/listens");
        MqttClientPublishResult somebody = await publisher.PublishAsync("nobody/listens", "y");
        Assert.Equal(MqttClientPublishReasonCode.Success, somebody.ReasonCode);
    }

    // A retained message nobody subscribes to yet is kept, and its PUBACK still says 0x10, as Mosquitto's does.
    [Fact]
    public async Task V5_PUBACK_of_a_retained_message_nobody_receives_says_no_matching_subscribers_MQTT_3_4_2_1()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);

        MqttClientPublishResult kept = await publisher.PublishAsync("nobody/yet", "x", retain: true);

        Assert.Equal(MqttClientPublishReasonCode.NoMatchingSubscribers, kept.ReasonCode);
        await using MqttNet5Client late = await MqttNet5Client.ConnectAsync(broker.Port);
        await late.SubscribeAsync("nobody/yet");
        Assert.Equal("x", (await late.NextAsync()).Payload);
    }
}
