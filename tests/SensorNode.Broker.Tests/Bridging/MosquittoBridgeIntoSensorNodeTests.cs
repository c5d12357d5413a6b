using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Bridging;

/// <summary>
/// Mosquitto bridging into SensorNode: by default (<c>try_private true</c>) a Mosquitto bridge connects with protocol
/// level 0x84, the bridge flag, and expects not to get its own messages back. SensorNode refused that level, Mosquitto
/// fell back to plain 3.1.1, and every message crossing a "both" rule came back once: subscribers saw two copies.
/// </summary>
public sealed class MosquittoBridgeIntoSensorNodeTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    [SkippableFact]
    public async Task A_Mosquitto_bridge_with_the_bridge_flag_gets_no_echo_and_neither_side_sees_a_message_twice()
    {
        await using BrokerServer server = await TestBroker.StartAsync(o => o.Persistence = PersistenceMode.Memory);
        await using MosquittoUpstream mosquitto = await MosquittoUpstream.StartAsync(string.Join('\n',
            "connection into-sensornode",
            $"address 127.0.0.1:{server.Port}",
            "topic mb/# both 1",
            "try_private true",
            "bridge_protocol_version mqttv311",
            "cleansession true"));
        await Eventually.AssertAsync(
            () => server.Broker.Sessions.Sessions.Any(s => s.IsConnected && s.HasSubscription("mb/#")),
            "Mosquitto's bridge is connected and subscribed",
            Wait);

        await using MqttNetClient onSensorNode = await MqttNetClient.ConnectAsync(server.Port);
        await onSensorNode.SubscribeAsync("mb/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await using MqttNetClient onMosquitto = await MqttNetClient.ConnectAsync(mosquitto.Port);
        await onMosquitto.SubscribeAsync("mb/#", MqttQualityOfServiceLevel.AtLeastOnce);

        // SensorNode -> Mosquitto. Once Mosquitto's subscriber has it, a fence published on Mosquitto's side comes
        // back over the bridge behind any echo of it.
        await onSensorNode.PublishAsync("mb/from-sensornode", "1", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal("mb/from-sensornode", (await onMosquitto.NextAsync(Wait)).Topic);
        await onMosquitto.PublishAsync("mb/fence-1", "f", MqttQualityOfServiceLevel.AtLeastOnce);
        List<string> seenOnSensorNode = await UntilAsync(onSensorNode, "mb/fence-1");
        Assert.Equal(["mb/from-sensornode"], seenOnSensorNode);

        // Mosquitto -> SensorNode, the same way round.
        await onMosquitto.PublishAsync("mb/from-mosquitto", "2", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal("mb/from-mosquitto", (await onSensorNode.NextAsync(Wait)).Topic);
        await onSensorNode.PublishAsync("mb/fence-2", "f", MqttQualityOfServiceLevel.AtLeastOnce);
        List<string> seenOnMosquitto = await UntilAsync(onMosquitto, "mb/fence-2");
        Assert.Equal(["mb/fence-1", "mb/from-mosquitto"], seenOnMosquitto);
    }

    private static async Task<List<string>> UntilAsync(MqttNetClient client, string fence)
    {
        var topics = new List<string>();
        for (int i = 0; i < 100; i++)
        {
            string topic = (await client.NextAsync(Wait)).Topic;
            if (topic == fence)
            {
                return topics;
            }

            topics.Add(topic);
        }

        throw new InvalidOperationException($"no {fence} within 100 messages");
    }
}
