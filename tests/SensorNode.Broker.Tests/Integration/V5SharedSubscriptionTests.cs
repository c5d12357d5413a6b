using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>Shared Subscriptions (§4.8.2) with MQTT 5.0 clients.</summary>
public sealed class V5SharedSubscriptionTests
{
    // §4.8.2: each message to a share group goes to exactly one member; the broker spreads them round robin (its
    // documented choice) in the order the members subscribed, the first one first (as Mosquitto does), so with two
    // connected members each gets every other message.
    [Fact]
    public async Task V5_shared_subscription_spreads_messages_round_robin_over_the_group()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client first = await MqttNet5Client.ConnectAsync(broker.Port);
        await using MqttNet5Client second = await MqttNet5Client.ConnectAsync(broker.Port);
        await first.SubscribeAsync("$share/v5group/work/#");
        await second.SubscribeAsync("$share/v5group/work/#");
        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);

        for (int i = 0; i < 10; i++)
        {
            await publisher.PublishAsync("work/" + i, "job" + i);
        }

        List<V5Message> toFirst = await first.ReceiveUntilMarkerAsync(publisher);
        List<V5Message> toSecond = await second.ReceiveUntilMarkerAsync(publisher);
        Assert.Equal(
            Enumerable.Range(0, 10).Select(i => "job" + i).Order(StringComparer.Ordinal),
            toFirst.Concat(toSecond).Select(m => m.Payload).Order(StringComparer.Ordinal));
        Assert.Equal(["job0", "job2", "job4", "job6", "job8"], toFirst.Select(m => m.Payload));
        Assert.Equal(["job1", "job3", "job5", "job7", "job9"], toSecond.Select(m => m.Payload));
    }

    // §4.8.2 / §3.8.4: retained messages are not sent when a Shared Subscription is established (any Retain Handling).
    [Fact]
    public async Task V5_shared_subscription_gets_no_retained_messages()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);
        await publisher.PublishAsync("shared/state", "retained", retain: true);

        await using MqttNet5Client member = await MqttNet5Client.ConnectAsync(broker.Port);
        await member.SubscribeAsync("$share/g/shared/state", configure: f => f.WithRetainHandling(MqttRetainHandling.SendAtSubscribe));
        await publisher.PublishAsync("shared/state", "live");

        List<V5Message> received = await member.ReceiveUntilMarkerAsync(publisher);
        Assert.Equal(["live"], received.Select(m => m.Payload));
    }

    // [MQTT-3.8.3-4] No Local on a Shared Subscription is a Protocol Error: DISCONNECT 0x82 (§4.13).
    [Fact]
    public async Task V5_no_local_on_a_shared_subscription_is_a_protocol_error_MQTT_3_8_3_4()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient client = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "shared-nolocal");
        await client.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("$share/g/x", 1) { NoLocal = true }] });

        var disconnect = Assert.IsType<DisconnectPacket>(await client.ReceiveAsync());
        Assert.Equal(ReasonCode.ProtocolError, disconnect.ReasonCode);
        await client.AssertClosedAsync();
    }
}
