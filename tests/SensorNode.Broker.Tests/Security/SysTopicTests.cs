using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Security;

/// <summary>$SYS/ topics belong to the broker: clients cannot publish there.</summary>
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
}
