using System.Text.Json;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Interop;

/// <summary>MQTT 5.0 with Eclipse paho-mqtt (Python) on both ends of the broker.</summary>
public sealed class PahoV5InteropTests
{
    [SkippableFact]
    public async Task Paho_v5_publisher_properties_reach_a_paho_v5_subscriber_with_its_subscription_identifier()
    {
        // [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] properties forwarded unaltered;
        // [MQTT-3.3.2-6] message expiry forwarded as what remains; [MQTT-3.3.4-3] the subscription identifier added.
        string python = ExternalTool.RequirePahoPython();
        await using BrokerServer broker = await TestBroker.StartAsync();

        ProcessResult run = await ExternalTool.RunAsync(python, [ExternalTool.Script("paho_v5_roundtrip.py"), "127.0.0.1", broker.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);

        run.AssertSuccess();
        using JsonDocument json = JsonDocument.Parse(run.OutputLines[^1]);
        JsonElement m = json.RootElement;
        Assert.Equal(0, m.GetProperty("connack_reason").GetInt32());
        Assert.Equal("v5/temperature", m.GetProperty("topic").GetString());
        Assert.Equal("21.4", m.GetProperty("payload").GetString());
        Assert.Equal(1, m.GetProperty("qos").GetInt32());
        Assert.Equal("[[\"room\",\"kitchen\"],[\"unit\",\"C\"]]", m.GetProperty("user_properties").GetRawText().Replace(" ", string.Empty, StringComparison.Ordinal));
        Assert.Equal("text/plain", m.GetProperty("content_type").GetString());
        Assert.Equal("corr-1", m.GetProperty("correlation_data").GetString());
        Assert.Equal("v5/reply", m.GetProperty("response_topic").GetString());
        Assert.InRange(m.GetProperty("message_expiry").GetInt32(), 1, 60);
        Assert.Equal([7], m.GetProperty("subscription_ids").EnumerateArray().Select(e => e.GetInt32()));
    }
}
