using System.Text;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>
/// MQTT 5.0 Topic Aliases (§3.3.2.3.4) in both directions. Aliases are wire-level, so both the publisher that sets
/// them and the subscriber that checks the broker's are raw clients.
/// </summary>
public sealed class V5TopicAliasTests
{
    // [MQTT-3.3.2-12] the broker accepts aliases 1..its Topic Alias Maximum: a PUBLISH with a topic and an alias sets
    // the mapping, a later PUBLISH with an empty topic and that alias is published on the mapped topic.
    [Fact]
    public async Task V5_client_topic_alias_is_set_then_used_with_an_empty_topic_MQTT_3_3_2_12()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.TopicAliasMaximum = 5);
        await using MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("alias/in/t");
        await using RawMqttClient publisher = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "alias-pub");

        await publisher.SendAsync(new PublishPacket { Topic = "alias/in/t", Payload = "one"u8.ToArray(), Qos = 1, PacketId = 1, Properties = new MqttProperties { TopicAlias = 5 } });
        Assert.Equal(PacketType.PubAck, Assert.IsType<PacketIdPacket>(await publisher.ReceiveAsync()).Type);
        await publisher.SendAsync(new PublishPacket { Topic = string.Empty, Payload = "two"u8.ToArray(), Qos = 1, PacketId = 2, Properties = new MqttProperties { TopicAlias = 5 } });
        Assert.Equal(PacketType.PubAck, Assert.IsType<PacketIdPacket>(await publisher.ReceiveAsync()).Type);

        // Re-mapping the alias to another topic: later empty-topic PUBLISHes use the new one.
        await publisher.SendAsync(new PublishPacket { Topic = "alias/other", Payload = "elsewhere"u8.ToArray(), Qos = 1, PacketId = 3, Properties = new MqttProperties { TopicAlias = 5 } });
        Assert.IsType<PacketIdPacket>(await publisher.ReceiveAsync());
        await publisher.SendAsync(new PublishPacket { Topic = string.Empty, Payload = "not here"u8.ToArray(), Qos = 1, PacketId = 4, Properties = new MqttProperties { TopicAlias = 5 } });
        Assert.IsType<PacketIdPacket>(await publisher.ReceiveAsync());

        V5Message one = await subscriber.NextAsync();
        V5Message two = await subscriber.NextAsync();
        Assert.Equal(("alias/in/t", "one"), (one.Topic, one.Payload));
        Assert.Equal(("alias/in/t", "two"), (two.Topic, two.Payload));
        Assert.Empty(await subscriber.ReceiveUntilMarkerAsync(async marker =>
        {
            await publisher.SendAsync(new PublishPacket { Topic = marker, Payload = "m"u8.ToArray(), Qos = 1, PacketId = 5 });
            Assert.IsType<PacketIdPacket>(await publisher.ReceiveAsync());
        }));
    }

    // §3.3.4: "A Topic Alias value of 0 or greater than the Maximum Topic Alias is a Protocol Error, the receiver uses
    // DISCONNECT with Reason Code of 0x94 (Topic Alias invalid)"; [MQTT-3.3.2-8] a sender must not use alias 0.
    [Fact]
    public async Task V5_topic_alias_zero_gets_DISCONNECT_0x94_MQTT_3_3_2_8()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient client = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "alias-zero");

        // Hand-built: the codec refuses to encode alias 0. PUBLISH QoS 0, topic "a/b", properties {0x23: 0}, payload "x".
        byte[] topic = Encoding.UTF8.GetBytes("a/b");
        byte[] body = [0, (byte)topic.Length, .. topic, 3, 0x23, 0, 0, (byte)'x'];
        await client.SendAsync([0x30, (byte)body.Length, .. body]);

        var disconnect = Assert.IsType<DisconnectPacket>(await client.ReceiveAsync());
        Assert.Equal(ReasonCode.TopicAliasInvalid, disconnect.ReasonCode);
        await client.AssertClosedAsync();
    }

    // [MQTT-3.2.2-17] a client must not send an alias above the broker's Topic Alias Maximum; §3.3.4: the broker
    // answers one with DISCONNECT 0x94 (Topic Alias invalid).
    [Fact]
    public async Task V5_topic_alias_above_the_maximum_gets_DISCONNECT_0x94_MQTT_3_2_2_17()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.TopicAliasMaximum = 3);
        (RawMqttClient client, ConnAckPacket connAck) = await RawMqttClient.ConnectV5Async(broker.Port, "alias-high");
        await using RawMqttClient _ = client;
        Assert.Equal((ushort)3, connAck.Properties?.TopicAliasMaximum);

        await client.SendAsync(new PublishPacket { Topic = "a/b", Payload = "x"u8.ToArray(), Properties = new MqttProperties { TopicAlias = 4 } });
        var disconnect = Assert.IsType<DisconnectPacket>(await client.ReceiveAsync());
        Assert.Equal(ReasonCode.TopicAliasInvalid, disconnect.ReasonCode);
        await client.AssertClosedAsync();
    }

    // §3.3.4: "If the receiver does not already have a mapping for this Topic Alias ... If the packet has a zero length
    // Topic Name field it is a Protocol Error and the receiver uses DISCONNECT with Reason Code of 0x82".
    [Fact]
    public async Task V5_unknown_topic_alias_with_empty_topic_gets_DISCONNECT_0x82()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient client = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "alias-unknown");

        await client.SendAsync(new PublishPacket { Topic = string.Empty, Payload = "x"u8.ToArray(), Properties = new MqttProperties { TopicAlias = 2 } });
        var disconnect = Assert.IsType<DisconnectPacket>(await client.ReceiveAsync());
        Assert.Equal(ReasonCode.ProtocolError, disconnect.ReasonCode);
        await client.AssertClosedAsync();
    }

    // [MQTT-3.3.2-7] aliases are not carried from one network connection to another: an alias set on a previous
    // connection of the same client is unknown on the next (empty topic → 0x82).
    [Fact]
    public async Task V5_topic_aliases_do_not_carry_over_to_a_new_connection_MQTT_3_3_2_7()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        Action<ConnectPacket> persistent = c =>
        {
            c.CleanStart = false;
            c.Properties = new MqttProperties { SessionExpiryInterval = 60 };
        };
        RawMqttClient first = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "alias-carry", persistent);
        await first.SendAsync(new PublishPacket { Topic = "a/b", Payload = "x"u8.ToArray(), Qos = 1, PacketId = 1, Properties = new MqttProperties { TopicAlias = 1 } });
        Assert.IsType<PacketIdPacket>(await first.ReceiveAsync());
        await first.SendAsync(new DisconnectPacket());
        await first.AssertClosedAsync();
        await first.DisposeAsync();

        await using RawMqttClient second = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "alias-carry", persistent);
        await second.SendAsync(new PublishPacket { Topic = string.Empty, Payload = "x"u8.ToArray(), Properties = new MqttProperties { TopicAlias = 1 } });
        var disconnect = Assert.IsType<DisconnectPacket>(await second.ReceiveAsync());
        Assert.Equal(ReasonCode.ProtocolError, disconnect.ReasonCode);
    }

    // [MQTT-3.1.2-26] [MQTT-3.3.2-11] to a client whose Topic Alias Maximum is > 0 the broker may send aliases, never
    // above that maximum: the second PUBLISH on a topic carries an empty topic and the same alias, which resolves to
    // the right topic.
    [Fact]
    public async Task V5_broker_uses_topic_aliases_towards_a_client_that_allows_them_MQTT_3_1_2_26()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient subscriber = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "alias-out", c =>
            c.Properties = new MqttProperties { TopicAliasMaximum = 2 });
        await subscriber.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("out/#", 0)] });
        Assert.IsType<SubAckPacket>(await subscriber.ReceiveAsync());

        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);
        string[] topics = ["out/a", "out/a", "out/b", "out/c", "out/b", "out/a", "out/c"];
        for (int i = 0; i < topics.Length; i++)
        {
            await publisher.PublishAsync(topics[i], "p" + i, MqttQualityOfServiceLevel.AtMostOnce);
        }

        var aliases = new Dictionary<ushort, string>();
        for (int i = 0; i < topics.Length; i++)
        {
            var publish = Assert.IsType<PublishPacket>(await subscriber.ReceiveAsync());
            Assert.Equal("p" + i, Encoding.UTF8.GetString(publish.Payload.Span));
            ushort? alias = publish.Properties?.TopicAlias;
            string resolved;
            if (alias is { } a)
            {
                Assert.InRange(a, (ushort)1, (ushort)2);
                if (publish.Topic.Length > 0)
                {
                    aliases[a] = publish.Topic;
                    resolved = publish.Topic;
                }
                else
                {
                    Assert.True(aliases.TryGetValue(a, out resolved!), $"alias {a} used before it was set");
                }
            }
            else
            {
                Assert.NotEqual(string.Empty, publish.Topic);
                resolved = publish.Topic;
            }

            Assert.Equal(topics[i], resolved);
            if (i == 1)
            {
                // The second PUBLISH on out/a: empty topic and the alias the first one set.
                Assert.Equal(string.Empty, publish.Topic);
                Assert.NotNull(alias);
                Assert.Equal("out/a", aliases[alias!.Value]);
            }
        }
    }

    // [MQTT-3.1.2-24] nothing larger than the client's Maximum Packet Size, a topic alias included: the 3 bytes of the
    // alias property pushed a PUBLISH that fitted exactly over the limit. It goes without an alias instead, and the alias
    // it did not set is not used later as if the client knew it.
    [Fact]
    public async Task V5_a_topic_alias_never_takes_a_PUBLISH_past_the_clients_Maximum_Packet_Size_MQTT_3_1_2_24()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient subscriber = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "alias-mps", c =>
            c.Properties = new MqttProperties { MaximumPacketSize = 100, TopicAliasMaximum = 10 });
        await subscriber.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("mp/#", 1)] });
        Assert.IsType<SubAckPacket>(await subscriber.ReceiveAsync());
        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);

        // 100 bytes without an alias: header 2, topic 2 + 9, packet id 2, properties 1, payload 84.
        await publisher.PublishAsync("mp/alias1", new string('x', 84), MqttQualityOfServiceLevel.AtLeastOnce);
        var full = Assert.IsType<PublishPacket>(await subscriber.ReceiveAsync());
        Assert.Equal(100, subscriber.LastPacketSize);
        Assert.Equal("mp/alias1", full.Topic);
        Assert.Null(full.Properties?.TopicAlias);
        await subscriber.SendAsync(new PacketIdPacket(PacketType.PubAck, full.PacketId));

        await publisher.PublishAsync("mp/alias1", "small", MqttQualityOfServiceLevel.AtLeastOnce);
        var small = Assert.IsType<PublishPacket>(await subscriber.ReceiveAsync());
        Assert.Equal("mp/alias1", small.Topic);
        Assert.Equal("small", Encoding.UTF8.GetString(small.Payload.Span));
    }

    // [MQTT-3.1.2-27] a client that sends no Topic Alias Maximum gets no Topic Aliases.
    [Fact]
    public async Task V5_broker_sends_no_topic_alias_to_a_client_without_topic_alias_maximum_MQTT_3_1_2_27()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient subscriber = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "alias-none");
        await subscriber.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("none/t", 0)] });
        Assert.IsType<SubAckPacket>(await subscriber.ReceiveAsync());

        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);
        for (int i = 0; i < 3; i++)
        {
            await publisher.PublishAsync("none/t", "p" + i, MqttQualityOfServiceLevel.AtMostOnce);
        }

        for (int i = 0; i < 3; i++)
        {
            var publish = Assert.IsType<PublishPacket>(await subscriber.ReceiveAsync());
            Assert.Equal("none/t", publish.Topic);
            Assert.Null(publish.Properties?.TopicAlias);
        }
    }
}
