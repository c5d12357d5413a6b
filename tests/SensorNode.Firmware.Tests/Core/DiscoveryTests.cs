using System.Text.Json;
using SensorNode.Firmware.Tests.Fakes;

namespace SensorNode.Firmware.Tests.Core;

public sealed class DiscoveryTests
{
    [Theory]
    [InlineData("temperature", "°C")]
    [InlineData("humidity", "%")]
    public void Discovery_config_is_retained_valid_json_for_home_assistant(string type, string unit)
    {
        var node = new TestNode();
        node.Tick();

        Published config = node.Session.On($"homeassistant/sensor/sensornode_kitchen_{type}/config").Single();
        Assert.True(config.Retain);
        using JsonDocument doc = JsonDocument.Parse(config.Payload);
        JsonElement c = doc.RootElement;
        Assert.Equal($"sensornode_kitchen_{type}", c.GetProperty("unique_id").GetString());
        Assert.Equal($"sensor/{type}/kitchen", c.GetProperty("state_topic").GetString());
        Assert.Equal("sensor/status/kitchen", c.GetProperty("availability_topic").GetString());
        Assert.Equal("online", c.GetProperty("payload_available").GetString());
        Assert.Equal("offline", c.GetProperty("payload_not_available").GetString());
        Assert.Equal(type, c.GetProperty("device_class").GetString());
        Assert.Equal(unit, c.GetProperty("unit_of_measurement").GetString());
        Assert.Equal("measurement", c.GetProperty("state_class").GetString());
        JsonElement device = c.GetProperty("device");
        Assert.Equal("sensornode_kitchen", device.GetProperty("identifiers")[0].GetString());
        Assert.Equal("SensorNode", device.GetProperty("manufacturer").GetString());
        Assert.Equal("ESP32 + DHT22", device.GetProperty("model").GetString());
        Assert.Equal("1.0.0", device.GetProperty("sw_version").GetString());
        Assert.Equal("kitchen", device.GetProperty("suggested_area").GetString());
    }

    [Fact]
    public void Discovery_can_be_switched_off()
    {
        var node = new TestNode(c => c.Discovery = false);
        node.Tick();
        Assert.DoesNotContain(node.Session.Published, p => p.Topic.StartsWith("homeassistant/", StringComparison.Ordinal));
    }

    [Fact]
    public void Home_assistant_birth_message_triggers_discovery_and_state_again()
    {
        var node = new TestNode();
        node.Tick();
        node.Session.Clear();

        node.Session.Deliver("homeassistant/status", "online");
        node.Run(100);

        Assert.Single(node.Session.On("homeassistant/sensor/sensornode_kitchen_temperature/config"));
        Assert.Single(node.Session.On("sensor/temperature/kitchen"));
    }
}
