using MQTTnet.Protocol;
using SensorNode.Broker.Bridging;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Tests.Infrastructure;
using static SensorNode.Broker.Tests.Bridging.BridgeTestKit;

namespace SensorNode.Broker.Tests.Bridging;

/// <summary>
/// QoS 1/2 state towards the upstream survives a reconnect and a restart of our broker: an unacknowledged PUBLISH is
/// re-sent with DUP=1 and its packet identifier, and a QoS 2 message whose PUBREC came is released with PUBREL again,
/// never re-published [MQTT-4.4.0-1] [MQTT-4.3.3-2]; nothing new goes before the re-sends.
/// </summary>
[Trait("Category", "Bridging")]
public sealed class BridgeResendTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Pubrel_and_dup_publish_are_resent_after_reconnect_and_after_restart(bool mqtt5)
    {
        await using var upstream = new FakeUpstream();
        string dataDirectory = TestBroker.NewDataDirectory();
        BridgeOptions Configure()
        {
            BridgeOptions options = Options("resend", mqtt5, upstream.Port);
            options.Topics.Add(new BridgeTopicRule { Local = "data/#", MaxQos = 2 });
            return options;
        }

        SeenPacket qos2, qos1;
        BrokerServer server = await StartBrokerAsync(Configure(), dataDirectory);
        try
        {
            await using (FakeUpstream.Connection first = await upstream.AcceptAsync(mqtt5, sessionPresent: false, Wait))
            {
                // A persistent session upstream: clean start 0; 3.1.1 with the bridge flag.
                Assert.Equal(0, first.ConnectFlags & 0x02);
                Assert.Equal(mqtt5 ? 5 : 0x84, first.ConnectLevel);
                await WaitConnectedAsync(Assert.Single(server.Broker.Bridges));

                await using MqttNetClient publisher = await ClientAsync(server.Port);
                await publisher.PublishAsync("data/a", "exactly-once", MqttQualityOfServiceLevel.ExactlyOnce);
                qos2 = await first.NextAsync();
                Assert.Equal((PacketType.Publish, (byte)2, false, "exactly-once"), (qos2.Type, qos2.Qos, qos2.Dup, qos2.Payload));
                await first.AckAsync(PacketType.PubRec, qos2.PacketId);
                Assert.Equal(new SeenPacket(PacketType.PubRel, qos2.PacketId), await first.NextAsync());

                await publisher.PublishAsync("data/b", "at-least-once", MqttQualityOfServiceLevel.AtLeastOnce);
                qos1 = await first.NextAsync();
                Assert.Equal((PacketType.Publish, (byte)1, false, "at-least-once"), (qos1.Type, qos1.Qos, qos1.Dup, qos1.Payload));

                // The link breaks before PUBCOMP and PUBACK.
            }

            await using (FakeUpstream.Connection second = await upstream.AcceptAsync(mqtt5, sessionPresent: true, Wait))
            {
                Assert.Equal(new SeenPacket(PacketType.PubRel, qos2.PacketId), await second.NextAsync());
                Assert.Equal(qos1 with { Dup = true }, await second.NextAsync());
            }
        }
        finally
        {
            await server.DisposeAsync();
        }

        // Our broker restarts: the same from its store.
        server = await StartBrokerAsync(Configure(), dataDirectory);
        try
        {
            await using (FakeUpstream.Connection third = await upstream.AcceptAsync(mqtt5, sessionPresent: true, Wait))
            {
                Assert.Equal(new SeenPacket(PacketType.PubRel, qos2.PacketId), await third.NextAsync());
                Assert.Equal(qos1 with { Dup = true }, await third.NextAsync());
                await third.AckAsync(PacketType.PubComp, qos2.PacketId);
                await third.AckAsync(PacketType.PubAck, qos1.PacketId);

                // Completed: the next connection starts with new traffic, nothing re-sent.
                await WaitConnectedAsync(Assert.Single(server.Broker.Bridges));
            }

            await using FakeUpstream.Connection fourth = await upstream.AcceptAsync(mqtt5, sessionPresent: true, Wait);
            await using MqttNetClient publisher = await ClientAsync(server.Port);
            await publisher.PublishAsync("data/c", "fence", MqttQualityOfServiceLevel.AtLeastOnce);
            SeenPacket fence = await fourth.NextAsync();
            Assert.Equal((PacketType.Publish, false, "fence"), (fence.Type, fence.Dup, fence.Payload));
        }
        finally
        {
            await server.DisposeAsync();
        }
    }
    [Fact]
    public async Task An_upstream_with_maximum_qos_1_gets_qos_2_messages_at_qos_1_and_its_puback_completes_them()
    {
        await using var upstream = new FakeUpstream();
        BridgeOptions options = Options("maxqos", mqtt5: true, upstream.Port);
        options.Topics.Add(new BridgeTopicRule { Local = "data/#", MaxQos = 2 });
        await using BrokerServer server = await StartBrokerAsync(options);
        var maximumQos1 = new Broker.Protocol.V5.MqttProperties { MaximumQos = 1 };
        await using (FakeUpstream.Connection first = await upstream.AcceptAsync(mqtt5: true, sessionPresent: false, Wait, maximumQos1))
        {
            await WaitConnectedAsync(Assert.Single(server.Broker.Bridges));
            await using MqttNetClient publisher = await ClientAsync(server.Port);
            await publisher.PublishAsync("data/a", "two", MqttQualityOfServiceLevel.ExactlyOnce);
            SeenPacket sent = await first.NextAsync();
            Assert.Equal((PacketType.Publish, (byte)1, "two"), (sent.Type, sent.Qos, sent.Payload));
            await first.AckAsync(PacketType.PubAck, sent.PacketId);
            await publisher.PublishAsync("data/a", "after", MqttQualityOfServiceLevel.AtLeastOnce);
            SeenPacket after = await first.NextAsync();
            Assert.Equal("after", after.Payload);
            await first.AckAsync(PacketType.PubAck, after.PacketId);
        }

        // Both were completed: nothing is re-sent on the next connection, new traffic comes first.
        await using FakeUpstream.Connection second = await upstream.AcceptAsync(mqtt5: true, sessionPresent: true, Wait, maximumQos1);
        await using MqttNetClient late = await ClientAsync(server.Port);
        await late.PublishAsync("data/a", "fence", MqttQualityOfServiceLevel.AtLeastOnce);
        SeenPacket fence = await second.NextAsync();
        Assert.Equal((PacketType.Publish, false, "fence"), (fence.Type, fence.Dup, fence.Payload));
    }
    [Fact]
    public async Task A_311_upstream_that_refuses_the_bridge_flag_gets_a_plain_311_connect()
    {
        await using var upstream = new FakeUpstream();
        BridgeOptions options = Options("noflag", mqtt5: false, upstream.Port);
        options.Topics.Add(new BridgeTopicRule { Local = "data/#", MaxQos = 1 });
        await using BrokerServer server = await StartBrokerAsync(options);

        // Refused as an unacceptable protocol version [MQTT-3.1.2-2]: the bridge retries at once with level 4.
        Assert.Equal(0x84, await upstream.RefuseAsync(Wait));
        await using FakeUpstream.Connection plain = await upstream.AcceptAsync(mqtt5: false, sessionPresent: false, Wait);
        Assert.Equal(4, plain.ConnectLevel);
        await WaitConnectedAsync(Assert.Single(server.Broker.Bridges));
    }
}
