using MQTTnet;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>Quality of service levels and their flows (MQTT 3.1.1 §4.3) in both directions, through MQTTnet.</summary>
public sealed class QosTests
{
    // [MQTT-3.8.4-6] the delivered QoS is the minimum of the published QoS and the granted QoS; all 9 combinations.
    // Publisher→broker exercises PUBACK / PUBREC-PUBREL-PUBCOMP inbound, broker→subscriber the same outbound.
    [Theory]
    [InlineData(MqttQualityOfServiceLevel.AtMostOnce, MqttQualityOfServiceLevel.AtMostOnce)]
    [InlineData(MqttQualityOfServiceLevel.AtMostOnce, MqttQualityOfServiceLevel.AtLeastOnce)]
    [InlineData(MqttQualityOfServiceLevel.AtMostOnce, MqttQualityOfServiceLevel.ExactlyOnce)]
    [InlineData(MqttQualityOfServiceLevel.AtLeastOnce, MqttQualityOfServiceLevel.AtMostOnce)]
    [InlineData(MqttQualityOfServiceLevel.AtLeastOnce, MqttQualityOfServiceLevel.AtLeastOnce)]
    [InlineData(MqttQualityOfServiceLevel.AtLeastOnce, MqttQualityOfServiceLevel.ExactlyOnce)]
    [InlineData(MqttQualityOfServiceLevel.ExactlyOnce, MqttQualityOfServiceLevel.AtMostOnce)]
    [InlineData(MqttQualityOfServiceLevel.ExactlyOnce, MqttQualityOfServiceLevel.AtLeastOnce)]
    [InlineData(MqttQualityOfServiceLevel.ExactlyOnce, MqttQualityOfServiceLevel.ExactlyOnce)]
    public async Task Delivered_qos_is_min_of_published_and_granted_MQTT_3_8_4_6(MqttQualityOfServiceLevel published, MqttQualityOfServiceLevel granted)
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        MqttClientSubscribeResult subscribed = await subscriber.SubscribeAsync("qos/t", granted);
        Assert.Equal((int)granted, (int)Assert.Single(subscribed.Items).ResultCode);

        MqttClientPublishResult result = await publisher.PublishAsync("qos/t", $"{published}->{granted}", published);

        Assert.True(result.IsSuccess);
        ReceivedMessage received = await subscriber.NextAsync();
        Assert.Equal($"{published}->{granted}", received.Payload);
        Assert.Equal((MqttQualityOfServiceLevel)Math.Min((int)published, (int)granted), received.Qos);
        Assert.False(received.Retain);

        // Exactly one copy.
        await subscriber.AssertNothingReceivedAsync(publisher);
    }

    // [MQTT-4.3.2-2] QoS 1 PUBLISH from the client is acknowledged with PUBACK (MQTTnet: PublishAsync returns success).
    [Fact]
    public async Task Qos1_publish_is_acknowledged_with_PUBACK_MQTT_4_3_2_2()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);

        MqttClientPublishResult result = await publisher.PublishAsync("nobody/listens", "q1", MqttQualityOfServiceLevel.AtLeastOnce);

        Assert.True(result.IsSuccess);
        Assert.Equal(MqttClientPublishReasonCode.Success, result.ReasonCode);
        Assert.NotNull(result.PacketIdentifier);
    }

    // [MQTT-4.3.3-2] QoS 2 inbound: PUBREC, and after PUBREL, PUBCOMP (MQTTnet's PublishAsync completes only
    // after PUBCOMP); the message reaches a subscriber exactly once.
    [Fact]
    public async Task Qos2_publish_completes_with_PUBCOMP_and_arrives_exactly_once_MQTT_4_3_3_2()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("exactly/once", MqttQualityOfServiceLevel.ExactlyOnce);

        MqttClientPublishResult result = await publisher.PublishAsync("exactly/once", "one", MqttQualityOfServiceLevel.ExactlyOnce);

        Assert.True(result.IsSuccess);
        Assert.Equal(MqttClientPublishReasonCode.Success, result.ReasonCode);
        ReceivedMessage received = await subscriber.NextAsync();
        Assert.Equal(("one", MqttQualityOfServiceLevel.ExactlyOnce), (received.Payload, received.Qos));
        await subscriber.AssertNothingReceivedAsync(publisher);
    }

    // [MQTT-4.3.3-2] on the wire: PUBLISH QoS 2 → PUBREC(id); PUBREL(id) → PUBCOMP(id). A PUBLISH re-sent with DUP
    // before PUBREL is acknowledged again but not delivered again (§4.3.3 method B).
    [Fact]
    public async Task Qos2_inbound_flow_on_the_wire_and_duplicate_not_redelivered_MQTT_4_3_3_2()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient marker = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("raw/q2", MqttQualityOfServiceLevel.ExactlyOnce);
        await using RawMqttClient raw = await RawMqttClient.ConnectMqttAsync(broker.Port, "raw-q2");

        var publish = new PublishPacket { Topic = "raw/q2", Payload = "x"u8.ToArray(), Qos = 2, PacketId = 77 };
        await raw.SendAsync(publish);
        AssertAck(PacketType.PubRec, 77, await raw.ReceiveAsync());
        await raw.SendAsync(new PublishPacket { Topic = "raw/q2", Payload = "x"u8.ToArray(), Qos = 2, PacketId = 77, Dup = true });
        AssertAck(PacketType.PubRec, 77, await raw.ReceiveAsync());
        await raw.SendAsync(new PacketIdPacket(PacketType.PubRel, 77));
        AssertAck(PacketType.PubComp, 77, await raw.ReceiveAsync());

        ReceivedMessage received = await subscriber.NextAsync();
        Assert.Equal("x", received.Payload);
        await subscriber.AssertNothingReceivedAsync(marker);
    }

    // [MQTT-4.3.2-1] / [MQTT-4.3.3-1] outbound QoS 1/2 complete with the client's acknowledgements: with an in-flight
    // window of ONE, each next message can only be sent after MQTTnet's PUBACK (QoS 1) or PUBREC/PUBREL/PUBCOMP (QoS 2)
    // completed the previous one.
    [Theory]
    [InlineData(MqttQualityOfServiceLevel.AtLeastOnce)]
    [InlineData(MqttQualityOfServiceLevel.ExactlyOnce)]
    public async Task Outbound_flow_completes_so_an_inflight_window_of_one_keeps_moving_MQTT_4_3_3_1(MqttQualityOfServiceLevel qos)
    {
        const int count = 20;
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.Sessions.MaxInflightMessages = 1);
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("window/one", qos);

        for (int i = 0; i < count; i++)
        {
            await publisher.PublishAsync("window/one", i.ToString(), qos);
        }

        List<ReceivedMessage> received = await subscriber.NextManyAsync(count);
        Assert.Equal(Enumerable.Range(0, count).Select(i => i.ToString()), received.Select(m => m.Payload));
        Assert.All(received, m => Assert.Equal(qos, m.Qos));
    }

    // [MQTT-4.3.3-1] outbound QoS 2 on the wire: PUBLISH(QoS 2, id) → client PUBREC(id) → broker PUBREL(id) →
    // client PUBCOMP(id); the PUBLISH carries a non-zero packet identifier [MQTT-2.3.1-1].
    [Fact]
    public async Task Qos2_outbound_flow_on_the_wire_MQTT_4_3_3_1()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient raw = await RawMqttClient.ConnectMqttAsync(broker.Port, "raw-q2-out");
        await raw.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("out/q2", 2)] });
        var subAck = Assert.IsType<SubAckPacket>(await raw.ReceiveAsync());
        Assert.Equal(new byte[] { 2 }, subAck.ReturnCodes);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);

        await publisher.PublishAsync("out/q2", "payload", MqttQualityOfServiceLevel.ExactlyOnce);

        var publish = Assert.IsType<PublishPacket>(await raw.ReceiveAsync());
        Assert.Equal(2, publish.Qos);
        Assert.NotEqual(0, publish.PacketId);
        Assert.False(publish.Dup);
        await raw.SendAsync(new PacketIdPacket(PacketType.PubRec, publish.PacketId));
        AssertAck(PacketType.PubRel, publish.PacketId, await raw.ReceiveAsync());
        await raw.SendAsync(new PacketIdPacket(PacketType.PubComp, publish.PacketId));

        // The flow is finished: nothing is re-sent, and a ping round trip proves the broker processed PUBCOMP.
        await raw.SendAsync(EmptyPacket.PingReq);
        Assert.Equal(PacketType.PingResp, Assert.IsType<EmptyPacket>(await raw.ReceiveAsync()).Type);
        Assert.Equal(0, broker.Broker.Sessions.Find("raw-q2-out")!.InflightCount);
    }

    private static void AssertAck(PacketType type, ushort packetId, MqttPacket? packet)
    {
        var ack = Assert.IsType<PacketIdPacket>(packet);
        Assert.Equal(type, ack.Type);
        Assert.Equal(packetId, ack.PacketId);
    }
}
