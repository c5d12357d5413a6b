using System.Text.Json;
using System.Text.RegularExpressions;
using SensorNode.Broker;
using SensorNode.Broker.Hosting;
using SensorNode.Firmware.Core.Config;
using SensorNode.Simulator;
using SensorNode.Simulator.Simulation;

namespace SensorNode.Firmware.Tests.EndToEnd;

/// <summary>
/// Simulator nodes (the real firmware core on MQTTnet) against the real broker, observed by paho-mqtt and MQTTnet.
/// </summary>
public sealed partial class SimulatorEndToEndTests
{
    [GeneratedRegex(@"^-?\d+\.\d$")]
    private static partial Regex OneDecimal();

    private static Task<BrokerServer> StartBrokerAsync() =>
        BrokerServer.StartAsync(new BrokerOptions
        {
            Port = 0,
            BindAddress = "127.0.0.1",
            DataDirectory = Path.Combine(Path.GetTempPath(), "sensornode-firmware-e2e", Guid.NewGuid().ToString("N")),
        });

    private static VirtualNode StartNode(string room, int port, int seed = 1)
    {
        ConfigParseResult parsed = NodeConfigs.For(room, "127.0.0.1", port, 2);
        Assert.True(parsed.IsValid, string.Join("; ", parsed.Errors));
        var node = new VirtualNode(parsed.Config, seed, quiet: true);
        node.Sensor.FailureRate = 0;
        node.Start();
        return node;
    }

    [SkippableFact]
    public async Task Late_paho_subscriber_sees_retained_readings_and_online()
    {
        PahoSubscriber.SkipIfUnavailable();
        await using BrokerServer broker = await StartBrokerAsync();
        await using Observer observer = await Observer.StartAsync(broker.Port, "sensor/+/e2e_kitchen");
        using VirtualNode node = StartNode("e2e_kitchen", broker.Port);

        // The node has reported once the observer has seen both readings.
        await observer.WaitForAsync(m => m.Topic == "sensor/temperature/e2e_kitchen");
        await observer.WaitForAsync(m => m.Topic == "sensor/humidity/e2e_kitchen");

        await using PahoSubscriber paho = await PahoSubscriber.StartAsync(broker.Port, "sensor/+/e2e_kitchen");
        PahoMessage temperature = await paho.WaitForAsync(m => m.Topic == "sensor/temperature/e2e_kitchen");
        Assert.True(temperature.Retain);
        Assert.Matches(OneDecimal(), temperature.Payload);

        await using PahoSubscriber paho2 = await PahoSubscriber.StartAsync(broker.Port, "sensor/status/e2e_kitchen", "sensor/humidity/e2e_kitchen");
        PahoMessage online = await paho2.WaitForAsync(m => m.Topic == "sensor/status/e2e_kitchen");
        Assert.Equal("online", online.Payload);
        Assert.True(online.Retain);
        PahoMessage humidity = await paho2.WaitForAsync(m => m.Topic == "sensor/humidity/e2e_kitchen");
        Assert.True(humidity.Retain);
        Assert.Matches(OneDecimal(), humidity.Payload);
    }

    [SkippableFact]
    public async Task Broker_publishes_offline_when_the_connection_is_cut_and_the_node_heals()
    {
        PahoSubscriber.SkipIfUnavailable();
        await using BrokerServer broker = await StartBrokerAsync();
        await using TcpRelay relay = new(broker.Port);
        await using PahoSubscriber paho = await PahoSubscriber.StartAsync(broker.Port, "sensor/status/e2e_cut");
        using VirtualNode node = StartNode("e2e_cut", relay.Port);

        Assert.Equal("online", (await paho.WaitForAsync(m => m.Topic == "sensor/status/e2e_cut")).Payload);

        relay.CutAll();

        PahoMessage will = await paho.WaitForAsync(m => m.Topic == "sensor/status/e2e_cut");
        Assert.Equal("offline", will.Payload);

        // Self-healing: the node reconnects through the relay (backoff ~1 s) and says online again.
        PahoMessage back = await paho.WaitForAsync(m => m.Topic == "sensor/status/e2e_cut");
        Assert.Equal("online", back.Payload);
        Assert.True(relay.Accepted >= 2);
    }

    [Fact]
    public async Task Deliberate_shutdown_publishes_offline_itself_and_state_json_is_valid()
    {
        await using BrokerServer broker = await StartBrokerAsync();
        await using Observer observer = await Observer.StartAsync(broker.Port, "sensor/+/e2e_state");
        VirtualNode node = StartNode("e2e_state", broker.Port);
        try
        {
            await observer.WaitForAsync(m => m.Topic == "sensor/status/e2e_state" && m.Payload == "online");
            Seen state = await observer.WaitForAsync(m => m.Topic == "sensor/state/e2e_state" && m.Payload.Contains("\"sensor\":\"ok\"", StringComparison.Ordinal));
            using (JsonDocument doc = JsonDocument.Parse(state.Payload))
            {
                Assert.Equal(JsonValueKind.Number, doc.RootElement.GetProperty("temperature").ValueKind);
                Assert.Equal("1.0.0", doc.RootElement.GetProperty("firmware").GetString());
            }

            node.Shutdown();
            Seen offline = await observer.WaitForAsync(m => m.Topic == "sensor/status/e2e_state");
            Assert.Equal("offline", offline.Payload);
        }
        finally
        {
            node.Dispose();
        }
    }

    [Fact]
    public async Task Read_command_over_mqtt_reaches_the_node()
    {
        await using BrokerServer broker = await StartBrokerAsync();
        await using Observer observer = await Observer.StartAsync(broker.Port, "sensor/+/e2e_cmd");
        using VirtualNode node = StartNode("e2e_cmd", broker.Port);
        await observer.WaitForAsync(m => m.Topic == "sensor/state/e2e_cmd");

        await observer.PublishAsync("sensor/command/e2e_cmd", "interval=7");

        await observer.WaitForAsync(m => m.Topic == "sensor/state/e2e_cmd" && m.Payload.Contains("\"interval_s\":7", StringComparison.Ordinal));
    }
}
