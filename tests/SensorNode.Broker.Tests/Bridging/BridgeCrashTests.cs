using System.Globalization;
using MQTTnet.Protocol;
using SensorNode.Broker.Protocol;
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
    [Fact]
    public async Task A_qos2_exchange_cut_by_sigkill_is_finished_with_pubrel_and_dup_after_the_restart()
    {
        await using var upstream = new FakeUpstream();
        string dataDirectory = TestBroker.NewDataDirectory();
        string config = Path.Combine(dataDirectory, "broker.json");
        await File.WriteAllTextAsync(config, $$"""
            {
              "dataDirectory": "{{dataDirectory}}",
              "listeners": [ { "kind": "mqtt", "bind": "127.0.0.1", "port": 0 } ],
              "bridges": [ { "name": "q2", "addresses": [ "127.0.0.1:{{upstream.Port}}" ], "reconnectMinMs": 100, "reconnectMaxMs": 300,
                             "topics": [ { "local": "data/#", "qos": 2 } ] } ],
            }
            """);

        SeenPacket released, published;
        await using (BrokerProcess first = BrokerProcess.Start("--config", config))
        {
            int port = await first.WaitForPortAsync(Wait);
            await using FakeUpstream.Connection link = await upstream.AcceptAsync(mqtt5: true, sessionPresent: false, Wait);
            await using MqttNetClient publisher = await ClientAsync(port);

            // The first message gets as far as PUBREL, the second only as far as PUBLISH.
            await publisher.PublishAsync("data/a", "one", MqttQualityOfServiceLevel.ExactlyOnce);
            released = await link.NextAsync();
            await link.AckAsync(PacketType.PubRec, released.PacketId);
            Assert.Equal(new SeenPacket(PacketType.PubRel, released.PacketId), await link.NextAsync());
            await publisher.PublishAsync("data/a", "two", MqttQualityOfServiceLevel.ExactlyOnce);
            published = await link.NextAsync();
            Assert.Equal((PacketType.Publish, (byte)2, "two"), (published.Type, published.Qos, published.Payload));

            first.Kill();
            await first.WaitForExitAsync(Wait);
        }

        await using BrokerProcess second = BrokerProcess.Start("--config", config);
        await using FakeUpstream.Connection again = await upstream.AcceptAsync(mqtt5: true, sessionPresent: true, Wait);

        // "one" is released again, never re-published; "two" is re-sent with DUP=1 under its identifier.
        Assert.Equal(new SeenPacket(PacketType.PubRel, released.PacketId), await again.NextAsync());
        Assert.Equal(published with { Dup = true }, await again.NextAsync());
    }
}
