using System.Text;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>Shared subscriptions, <c>$share/{group}/{filter}</c> (MQTT 5 §4.8.2), offered to 3.1.1 clients too.</summary>
public sealed class SharedSubscriptionTests
{
    [Fact]
    public async Task Messages_are_spread_over_the_group_each_delivered_to_exactly_one_member()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient first = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient second = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await first.SubscribeAsync("$share/workers/jobs/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await second.SubscribeAsync("$share/workers/jobs/#", MqttQualityOfServiceLevel.AtLeastOnce);

        for (int i = 0; i < 20; i++)
        {
            await publisher.PublishAsync("jobs/" + i, i.ToString(System.Globalization.CultureInfo.InvariantCulture), MqttQualityOfServiceLevel.AtLeastOnce);
        }

        // Markers published to each member directly prove everything before has been delivered.
        List<ReceivedMessage> toFirst = await first.ReceiveUntilMarkerAsync(publisher);
        List<ReceivedMessage> toSecond = await second.ReceiveUntilMarkerAsync(publisher);

        Assert.Equal(20, toFirst.Count + toSecond.Count);
        Assert.Equal(
            Enumerable.Range(0, 20).Select(i => "jobs/" + i).Order(StringComparer.Ordinal),
            toFirst.Concat(toSecond).Select(m => m.Topic).Order(StringComparer.Ordinal));
        Assert.InRange(toFirst.Count, 5, 15);
    }

    [Fact]
    public async Task A_client_with_a_shared_and_an_ordinary_subscription_gets_a_copy_for_each()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient client = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await client.SubscribeAsync("$share/g/sensor/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await client.SubscribeAsync("sensor/#", MqttQualityOfServiceLevel.AtLeastOnce);

        await publisher.PublishAsync("sensor/a", "x", MqttQualityOfServiceLevel.AtLeastOnce);

        List<ReceivedMessage> received = await client.ReceiveUntilMarkerAsync(publisher);
        Assert.Equal(2, received.Count(m => m.Topic == "sensor/a"));
    }

    [Fact]
    public async Task Retained_messages_are_not_sent_for_a_shared_subscription()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await publisher.PublishAsync("state/x", "retained", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        await using MqttNetClient member = await MqttNetClient.ConnectAsync(broker.Port);

        await member.SubscribeAsync("$share/g/state/#", MqttQualityOfServiceLevel.AtLeastOnce);

        Assert.Empty(await member.ReceiveUntilMarkerAsync(publisher));
    }

    [Theory]
    [InlineData("$share/g")]
    [InlineData("$share/g/")]
    [InlineData("$share//t")]
    [InlineData("$share/+/t")]
    public async Task A_shared_filter_without_ShareName_or_filter_is_refused_in_the_SUBACK_of_a_3_1_1_client(string filter)
    {
        // [MQTT-4.8.2-1] [MQTT-4.8.2-2] are 5.0's; for 3.1.1 this is a legal filter, which the broker does not take.
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient client = await RawMqttClient.ConnectMqttAsync(broker.Port, "bad-share");

        await client.SendAsync(new SubscribePacket { PacketId = 3, Subscriptions = [new TopicSubscription(filter, 1), new TopicSubscription("ok/#", 1)] });

        var subAck = Assert.IsType<SubAckPacket>(await client.ReceiveAsync());
        Assert.Equal(new byte[] { SubAckPacket.Failure, 1 }, subAck.ReturnCodes);
    }

    [Theory]
    [InlineData("$share/g+/t")]
    [InlineData("$share/g#/t")]
    [InlineData("$share/g/t/#/x")]
    public async Task A_shared_filter_with_a_wildcard_out_of_place_closes_the_connection(string filter)
    {
        // [MQTT-4.7.1-2] [MQTT-4.7.1-3] hold for every filter: a protocol violation closes the connection
        // [MQTT-4.8.0-1]; the good filter in the same SUBSCRIBE is not applied.
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient client = await RawMqttClient.ConnectMqttAsync(broker.Port, "bad-share");
        long errors = broker.Broker.Metrics.ProtocolErrors;

        await client.SendAsync(new SubscribePacket { PacketId = 3, Subscriptions = [new TopicSubscription("ok/#", 1), new TopicSubscription(filter, 1)] });

        await client.AssertClosedAsync();
        Assert.True(broker.Broker.Metrics.ProtocolErrors > errors);
        Assert.Equal(0, broker.Broker.Subscriptions.Count);
    }

    [Fact]
    public async Task Unacknowledged_messages_of_a_member_whose_session_ends_go_to_another_member()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient survivor = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        RawMqttClient leaver = await RawMqttClient.ConnectMqttAsync(broker.Port, "leaver");
        await leaver.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("$share/g/work/#", 1)] });
        Assert.IsType<SubAckPacket>(await leaver.ReceiveAsync());

        // With only the leaver in the group, it gets the message, and never acknowledges it.
        await publisher.PublishAsync("work/1", "job", MqttQualityOfServiceLevel.AtLeastOnce);
        var held = Assert.IsType<PublishPacket>(await leaver.ReceiveAsync());
        Assert.Equal("work/1", held.Topic);
        await survivor.SubscribeAsync("$share/g/work/#", MqttQualityOfServiceLevel.AtLeastOnce);

        leaver.Abort();

        ReceivedMessage redelivered = await survivor.NextAsync();
        Assert.Equal("work/1", redelivered.Topic);
        Assert.Equal("job", redelivered.Payload);
        await leaver.DisposeAsync();
    }
}
