using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Security;

/// <summary>
/// Topics no client may publish to, as in Mosquitto: $SYS/ belongs to the broker (but for the state a Mosquitto bridge
/// reports of itself), and a <c>$share/</c> topic could reach nobody.
/// </summary>
public sealed class SysTopicTests
{
    [Fact]
    public async Task A_client_publish_to_SYS_is_acknowledged_but_not_delivered_nor_retained()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient watcher = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient client = await MqttNetClient.ConnectAsync(broker.Port);
        await watcher.SubscribeAsync("$SYS/#", MqttQualityOfServiceLevel.AtLeastOnce);

        var result = await client.PublishAsync("$SYS/broker/clients/connected", "9999", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);

        Assert.True(result.IsSuccess);
        await watcher.AssertNothingReceivedAsync(client);
        Assert.Null(broker.Broker.Retained.Find("$SYS/broker/clients/connected"));
    }

    // MQTT 5 tells the publisher (0x87), as Mosquitto does; nothing is delivered or retained.
    // No filter can match a "$share/" topic (a filter spelt so is a shared subscription to another topic), so only the
    // $SYS case has a watcher.
    [Theory]
    [InlineData("$SYS/broker/uptime", "$SYS/#")]
    [InlineData("$share/g/sensor/t", null)]
    public async Task A_v5_publish_to_a_topic_no_client_may_use_is_refused_with_0x87(string topic, string? watched)
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client watcher = await MqttNet5Client.ConnectAsync(broker.Port);
        await using MqttNet5Client client = await MqttNet5Client.ConnectAsync(broker.Port);
        if (watched is not null)
        {
            await watcher.SubscribeAsync(watched);
        }

        var result = await client.PublishAsync(topic, "x", retain: true);

        Assert.Equal(MQTTnet.MqttClientPublishReasonCode.NotAuthorized, result.ReasonCode);
        Assert.Empty(await watcher.ReceiveUntilMarkerAsync(client));
        Assert.Null(broker.Broker.Retained.Find(topic));
    }

    // A Mosquitto bridge connecting in reports its state on $SYS/broker/connection/<name>/state.
    [Fact]
    public async Task A_bridge_s_own_connection_state_may_be_published_under_SYS()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client watcher = await MqttNet5Client.ConnectAsync(broker.Port);
        await using MqttNet5Client client = await MqttNet5Client.ConnectAsync(broker.Port);
        await watcher.SubscribeAsync("$SYS/broker/connection/#");

        var result = await client.PublishAsync("$SYS/broker/connection/edge/state", "1", retain: true);

        Assert.Equal(MQTTnet.MqttClientPublishReasonCode.Success, result.ReasonCode);
        Assert.Equal("1", (await watcher.NextAsync()).Payload);
    }
}
