using MQTTnet.Protocol;
using SensorNode.Broker.Bridging;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Infrastructure;
using static SensorNode.Broker.Tests.Bridging.BridgeTestKit;

namespace SensorNode.Broker.Tests.Bridging;

/// <summary>
/// Two brokers bridged both ways on the same topics must not echo: MQTT 5 No Local on the bridge's upstream
/// subscriptions [MQTT-3.8.3-3] or, for 3.1.1, the bridge protocol flag (protocol level 0x84, which makes Mosquitto
/// treat the connection as a bridge and not send it its own messages), and locally No Local on the bridge session's
/// subscriptions, so what came down never goes back up.
/// </summary>
[Trait("Category", "Bridging")]
public sealed class BridgeLoopTests
{
    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Two_brokers_bridged_both_ways_on_overlapping_topics_do_not_echo(bool mqtt5)
    {
        await using MosquittoUpstream upstream = await MosquittoUpstream.StartAsync();
        BridgeOptions options = Options("loop", mqtt5, upstream.Port);
        options.Topics.Add(new BridgeTopicRule { Direction = BridgeDirection.Both, Local = "shared/#", MaxQos = 1 });
        options.Topics.Add(new BridgeTopicRule { Direction = BridgeDirection.Both, Local = "shared/+/x", MaxQos = 1 });
        await using BrokerServer server = await StartBrokerAsync(options);
        Bridge bridge = Assert.Single(server.Broker.Bridges);
        await WaitConnectedAsync(bridge);

        await using MqttNetClient remote = await ClientAsync(upstream.Port);
        await remote.SubscribeAsync("shared/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await using MqttNetClient local = await ClientAsync(server.Port);
        await local.SubscribeAsync("shared/#", MqttQualityOfServiceLevel.AtLeastOnce);

        // Up, then down, then a fence each way. An echo of L1 back down would reach the local subscriber before R1
        // (Mosquitto queued it to the bridge before delivering L1 to the remote subscriber); an echo of R1 back up
        // would reach the remote subscriber before fence-up (the bridge session queued it first).
        await local.PublishAsync("shared/a/x", "L1", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal("L1", (await remote.NextAsync(Wait)).Payload);
        Assert.Equal("L1", (await local.NextAsync(Wait)).Payload);
        await remote.PublishAsync("shared/b/x", "R1", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal("R1", (await remote.NextAsync(Wait)).Payload);
        Assert.Equal("R1", (await local.NextAsync(Wait)).Payload);
        await local.PublishAsync("shared/fence", "fence-up", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal("fence-up", (await remote.NextAsync(Wait)).Payload);
        Assert.Equal("fence-up", (await local.NextAsync(Wait)).Payload);
        await remote.PublishAsync("shared/fence", "fence-down", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal("fence-down", (await remote.NextAsync(Wait)).Payload);
        Assert.Equal("fence-down", (await local.NextAsync(Wait)).Payload);

        // Exactly two went up and two came down: nothing circulated.
        Assert.Equal(2, bridge.ForwardedMessages);
        Assert.Equal(2, bridge.ReceivedMessages);
        await local.AssertNothingReceivedAsync(local);
    }

    [SkippableFact]
    public async Task Clients_cannot_take_the_bridge_session()
    {
        await using MosquittoUpstream upstream = await MosquittoUpstream.StartAsync();
        BridgeOptions options = Options("reserved", mqtt5: true, upstream.Port);
        options.Topics.Add(new BridgeTopicRule { Local = "data/#" });
        await using BrokerServer server = await StartBrokerAsync(options);
        await WaitConnectedAsync(Assert.Single(server.Broker.Bridges));

        // Refused with 0x02 Identifier rejected: a client taking the session would take the bridge's queue.
        string outcome;
        try
        {
            await using MqttNetClient thief = await ClientAsync(server.Port, "$bridge/reserved", cleanSession: false);
            outcome = thief.ConnectResult!.ResultCode.ToString();
        }
        catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or MQTTnet.Adapter.MqttConnectingFailedException)
        {
            outcome = ex.Message;
        }

        Assert.Contains("IdentifierNotValid", outcome, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(Broker.Bridging.BridgeManager.SessionPrefix + "reserved", Assert.Single(server.Broker.Sessions.Sessions, s => s.ClientId.StartsWith('$')).ClientId);
        Assert.True(Assert.Single(server.Broker.Bridges).IsConnected);
    }
}
