using System.Globalization;
using MQTTnet.Protocol;
using SensorNode.Broker.Bridging;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Hardening;
using SensorNode.Broker.Tests.Infrastructure;
using static SensorNode.Broker.Tests.Bridging.BridgeTestKit;

namespace SensorNode.Broker.Tests.Bridging;

/// <summary>
/// The bridge's link to a real upstream (Mosquitto) through the fault proxy: slowed, cut with RST mid-stream and cut
/// after a truncated packet, again and again. QoS 1 and 2 hold through it: every message published locally arrives
/// upstream, the first copies in order [MQTT-4.4.0-1], and the bridge reconnects by itself each time.
/// </summary>
[Trait("Category", "Bridging")]
public sealed class BridgeFaultInjectionTests
{
    private static string Text(int i) => i.ToString("D4", CultureInfo.InvariantCulture);

    [SkippableTheory]
    [InlineData(true, 1)]
    [InlineData(false, 2)]
    public async Task Messages_cross_a_link_that_is_delayed_cut_and_truncated(bool mqtt5, int qos)
    {
        await using MosquittoUpstream upstream = await MosquittoUpstream.StartAsync();
        await using var proxy = new FaultProxy(upstream.Port) { Delay = TimeSpan.FromMilliseconds(1) };
        BridgeOptions options = Options("faults", mqtt5, proxy.Port);
        options.MaxInflight = 10;
        options.ReconnectMin = TimeSpan.FromMilliseconds(50);
        options.ReconnectMax = TimeSpan.FromMilliseconds(200);
        options.Topics.Add(new BridgeTopicRule { Direction = BridgeDirection.Out, Local = "data/#", Remote = "site/data/#", MaxQos = (byte)qos });
        await using BrokerServer server = await StartBrokerAsync(options);
        Bridge bridge = Assert.Single(server.Broker.Bridges);
        await WaitConnectedAsync(bridge);

        // The verifier reads the upstream directly, not through the proxy.
        await using MqttNetClient verifier = await ClientAsync(upstream.Port, "fault-verifier", cleanSession: false);
        await verifier.SubscribeAsync("site/#", (MqttQualityOfServiceLevel)qos);
        await using MqttNetClient publisher = await ClientAsync(server.Port);

        const int Count = 240;
        for (int i = 0; i < Count; i++)
        {
            await publisher.PublishAsync("data/reading", Text(i), (MqttQualityOfServiceLevel)qos);
            if (i % 40 == 20)
            {
                // Alternately a plain cut and a packet cut short, each on a live link with messages in flight.
                await WaitConnectedAsync(bridge);
                if (i % 80 == 20)
                {
                    proxy.CutAll();
                }
                else
                {
                    proxy.TruncateNext(3);
                }
            }
        }

        List<ReceivedMessage> received = await ReceiveUntilAsync(verifier, Text(Count - 1), TimeSpan.FromSeconds(30));
        BridgeStoreAndForwardTests.AssertAllInOrder(received.Select(m => m.Payload), Count);
        Assert.True(proxy.Cuts >= 3, $"the proxy cut the link {proxy.Cuts} times");
        await WaitConnectedAsync(bridge);
    }
}
