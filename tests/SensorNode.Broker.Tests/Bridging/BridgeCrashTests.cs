using System.Globalization;
using MQTTnet.Protocol;
using SensorNode.Broker.Tests.Hosting;
using SensorNode.Broker.Tests.Infrastructure;
using static SensorNode.Broker.Tests.Bridging.BridgeTestKit;

namespace SensorNode.Broker.Tests.Bridging;

/// <summary>
/// The real executable, configured with a bridge by its JSON file, is SIGKILLed while the upstream is down: what it
/// had acknowledged to local publishers is in its store, and reaches the upstream after the restart.
/// </summary>
[Trait("Category", "Bridging")]
public sealed class BridgeCrashTests
{
    [SkippableTheory]
    [InlineData(1, "5.0")]
    [InlineData(2, "5.0")]
    [InlineData(1, "3.1.1")]
    public async Task Messages_queued_while_the_upstream_is_down_survive_sigkill(int qos, string protocol)
    {
        int upstreamPort = MosquittoUpstream.FreePort();
        await using MosquittoUpstream upstream = await MosquittoUpstream.StartAsync(port: upstreamPort, start: false);
        string dataDirectory = TestBroker.NewDataDirectory();
        string config = Path.Combine(dataDirectory, "broker.json");
        await File.WriteAllTextAsync(config, $$"""
            {
              "dataDirectory": "{{dataDirectory}}",
              "sysIntervalSeconds": 1,
              "listeners": [ { "kind": "mqtt", "bind": "127.0.0.1", "port": 0 } ],
              "bridges": [
                {
                  "name": "crash",
                  "protocol": "{{protocol}}",
                  "addresses": [ "127.0.0.1:{{upstreamPort}}" ],
                  "reconnectMinMs": 100,
                  "reconnectMaxMs": 300,
                  "topics": [ { "direction": "out", "local": "data/#", "remotePrefix": "site/", "qos": {{qos}} } ],
                },
              ],
            }
            """);

        const int count = 50;
        var mqttQos = (MqttQualityOfServiceLevel)qos;
        await using (BrokerProcess first = BrokerProcess.Start("--config", config))
        {
            int port = await first.WaitForPortAsync(Wait);
            await using MqttNetClient publisher = await ClientAsync(port);
            for (int i = 0; i < count; i++)
            {
                // Each PUBACK / PUBCOMP comes once the message is durable in the bridge's queue.
                await publisher.PublishAsync("data/reading", i.ToString("D3", CultureInfo.InvariantCulture), mqttQos);
            }

            first.Kill();
            await first.WaitForExitAsync(Wait);
        }

        await upstream.StartAgainAsync();
        await using MqttNetClient remote = await ClientAsync(upstreamPort);
        await remote.SubscribeAsync("site/#", mqttQos);
        await using BrokerProcess second = BrokerProcess.Start("--config", config);
        await second.WaitForPortAsync(Wait);

        List<ReceivedMessage> arrived = await ReceiveUntilAsync(remote, (count - 1).ToString("D3", CultureInfo.InvariantCulture));
        Assert.All(arrived, m => Assert.Equal("site/data/reading", m.Topic));

        // Nothing was in flight when the broker died (the upstream was down), so each arrives exactly once, in order.
        Assert.Equal(Enumerable.Range(0, count).Select(i => i.ToString("D3", CultureInfo.InvariantCulture)), arrived.Select(m => m.Payload));
    }
}
