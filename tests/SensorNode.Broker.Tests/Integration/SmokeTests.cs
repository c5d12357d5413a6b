using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

public sealed class SmokeTests
{
    [Fact]
    public async Task Publish_reaches_subscriber_through_MQTTnet()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("sensor/+/kitchen", MqttQualityOfServiceLevel.AtLeastOnce);

        await publisher.PublishAsync("sensor/temperature/kitchen", "21.4", MqttQualityOfServiceLevel.AtLeastOnce);

        ReceivedMessage received = await subscriber.NextAsync();
        Assert.Equal("sensor/temperature/kitchen", received.Topic);
        Assert.Equal("21.4", received.Payload);
        Assert.Equal(MqttQualityOfServiceLevel.AtLeastOnce, received.Qos);
        Assert.False(received.Retain);
    }
}
