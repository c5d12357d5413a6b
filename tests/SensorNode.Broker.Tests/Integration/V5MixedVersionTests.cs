using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>3.1.1 and 5.0 clients on the same listener exchange messages both ways (issue #8).</summary>
public sealed class V5MixedVersionTests
{
    // A 3.1.1 publisher's message reaches a 5.0 subscriber (with no properties, at min(published, granted) QoS
    // [MQTT-3.8.4-8]), and its retained message likewise.
    [Fact]
    public async Task V5_subscriber_receives_from_a_3_1_1_publisher_MQTT_3_8_4_8()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await publisher.PublishAsync("mixed/retained", "old", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        await using MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("mixed/#", MqttQualityOfServiceLevel.ExactlyOnce);

        V5Message retained = await subscriber.NextAsync();
        Assert.Equal(("mixed/retained", "old", true), (retained.Topic, retained.Payload, retained.Retain));

        await publisher.PublishAsync("mixed/a", "one", MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.PublishAsync("mixed/b", "two", MqttQualityOfServiceLevel.ExactlyOnce);
        V5Message one = await subscriber.NextAsync();
        V5Message two = await subscriber.NextAsync();
        Assert.Equal(("mixed/a", "one", MqttQualityOfServiceLevel.AtLeastOnce), (one.Topic, one.Payload, one.Qos));
        Assert.Equal(("mixed/b", "two", MqttQualityOfServiceLevel.ExactlyOnce), (two.Topic, two.Payload, two.Qos));
        Assert.Null(one.ContentType);
        Assert.Empty(one.UserProperties);
    }

    // A 5.0 publisher's message (with properties) reaches a 3.1.1 subscriber as topic, payload and QoS; a retained
    // 5.0 message too.
    [Fact]
    public async Task V311_subscriber_receives_from_a_5_0_publisher()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);
        await publisher.PublishAsync("mixed5/retained", "kept", MqttQualityOfServiceLevel.AtLeastOnce, retain: true, configure: m => m.WithContentType("text/plain").WithMessageExpiryInterval(600));
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("mixed5/#", MqttQualityOfServiceLevel.ExactlyOnce);

        ReceivedMessage retained = await subscriber.NextAsync();
        Assert.Equal(("mixed5/retained", "kept", true), (retained.Topic, retained.Payload, retained.Retain));

        await publisher.PublishAsync("mixed5/a", "one", MqttQualityOfServiceLevel.AtLeastOnce, configure: m => m.WithResponseTopic("mixed5/reply").WithCorrelationData([1, 2, 3]));
        await publisher.PublishAsync("mixed5/b", "two", MqttQualityOfServiceLevel.ExactlyOnce);
        ReceivedMessage one = await subscriber.NextAsync();
        ReceivedMessage two = await subscriber.NextAsync();
        Assert.Equal(("mixed5/a", "one", MqttQualityOfServiceLevel.AtLeastOnce), (one.Topic, one.Payload, one.Qos));
        Assert.Equal(("mixed5/b", "two", MqttQualityOfServiceLevel.ExactlyOnce), (two.Topic, two.Payload, two.Qos));
    }
}
