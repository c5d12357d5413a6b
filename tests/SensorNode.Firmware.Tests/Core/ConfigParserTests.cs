using SensorNode.Firmware.Core.Config;
using SensorNode.Firmware.Core.Readings;

namespace SensorNode.Firmware.Tests.Core;

public sealed class ConfigParserTests
{
    private const string Minimal = "wifi_ssid=lab\nmqtt_host=192.168.1.10\nroom=kitchen\n";

    [Fact]
    public void Minimal_file_gets_the_documented_defaults()
    {
        ConfigParseResult result = ConfigParser.Parse(Minimal);

        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        NodeConfig c = result.Config;
        Assert.Equal("lab", c.WifiSsid);
        Assert.Equal("", c.WifiPassword);
        Assert.Equal("192.168.1.10", c.MqttHost);
        Assert.Equal(1883, c.MqttPort);
        Assert.False(c.MqttTls);
        Assert.Equal(30, c.MqttKeepAliveSeconds);
        Assert.Equal("kitchen", c.Room);
        Assert.Equal("sensornode_kitchen", c.EffectiveNodeId);
        Assert.Equal(SensorModel.Dht22, c.SensorModel);
        Assert.Equal(26, c.SensorEchoPin);
        Assert.Equal(27, c.SensorTriggerPin);
        Assert.Equal(2, c.LedPin);
        Assert.Equal(10, c.ReadIntervalSeconds);
        Assert.Equal(300, c.HeartbeatSeconds);
        Assert.Equal(0.2, c.TemperatureDeadband);
        Assert.Equal(1.0, c.HumidityDeadband);
        Assert.Equal(5, c.MedianWindow);
        Assert.True(c.Discovery);
        Assert.Equal("homeassistant", c.DiscoveryPrefix);
        Assert.True(c.Commands);
        Assert.Equal(900, c.WatchdogSeconds);
    }

    [Fact]
    public void Full_file_with_comments_crlf_bom_and_quotes()
    {
        string text = "\uFEFF# SensorNode configuration\r\n\r\n"
            + "wifi_ssid = \"My Wifi \"\r\nwifi_password=correct horse\r\nmqtt_host=broker.lan\r\nmqtt_tls=yes\r\n"
            + "mqtt_user=node\r\nmqtt_password=p=ss\r\nROOM=Living Room\r\nnode_id=lr-1\r\nsensor_model=dht11\r\n"
            + "sensor_echo_pin=32\r\nsensor_trigger_pin=33\r\nled_pin=-1\r\nread_interval_s=30\r\nheartbeat_s=600\r\n"
            + "deadband_temperature=0.5\r\ndeadband_humidity=2\r\njump_temperature=3\r\njump_humidity=10\r\nmedian_window=3\r\n"
            + "discovery=off\r\ndiscovery_prefix=ha\r\ncommands=0\r\nbackoff_min_s=2\r\nbackoff_max_s=120\r\nwatchdog_s=0\r\n"
            + "sensor_failure_threshold=5\r\nmqtt_keepalive_s=60\r\nled_inverted=true\r\n";

        ConfigParseResult result = ConfigParser.Parse(text);

        Assert.True(result.IsValid, string.Join("; ", result.Errors));
        NodeConfig c = result.Config;
        Assert.Equal("My Wifi ", c.WifiSsid);
        Assert.Equal("correct horse", c.WifiPassword);
        Assert.True(c.MqttTls);
        Assert.Equal(8883, c.MqttPort);
        Assert.Equal("p=ss", c.MqttPassword);
        Assert.Equal("Living Room", c.Room);
        Assert.Equal("lr-1", c.EffectiveNodeId);
        Assert.Equal(SensorModel.Dht11, c.SensorModel);
        Assert.Equal(-1, c.LedPin);
        Assert.True(c.LedInverted);
        Assert.Equal(0.5, c.TemperatureDeadband);
        Assert.Equal(3, c.MedianWindow);
        Assert.False(c.Discovery);
        Assert.Equal("ha", c.DiscoveryPrefix);
        Assert.False(c.Commands);
        Assert.Equal(0, c.WatchdogSeconds);
        Assert.Equal(120, c.BackoffMaxSeconds);
    }

    [Theory]
    [InlineData("mqtt_port=abc", "line 4, key 'mqtt_port': must be a whole number from 1 to 65535 (got 'abc')")]
    [InlineData("mqtt_port=70000", "line 4, key 'mqtt_port'")]
    [InlineData("colour=blue", "line 4, key 'colour': unknown key")]
    [InlineData("room=other", "line 4, key 'room': repeated (first set on line 3)")]
    [InlineData("just some text", "line 4: expected key=value")]
    [InlineData("sensor_model=bmp280", "line 4, key 'sensor_model': must be DHT11 or DHT22")]
    [InlineData("sensor_echo_pin=12", "line 4, key 'sensor_echo_pin': is a boot-strapping pin")]
    [InlineData("sensor_trigger_pin=34", "line 4, key 'sensor_trigger_pin': GPIO 34 to 39 are input-only")]
    [InlineData("sensor_trigger_pin=26", "key 'sensor_trigger_pin': must differ from sensor_echo_pin")]
    [InlineData("read_interval_s=1", "line 4, key 'read_interval_s': must be at least 2 s for DHT22")]
    [InlineData("heartbeat_s=5", "line 4, key 'heartbeat_s'")]
    [InlineData("mqtt_tls=maybe", "line 4, key 'mqtt_tls': must be true or false")]
    [InlineData("node_id=has space", "line 4, key 'node_id': may only contain")]
    [InlineData("watchdog_s=30", "line 4, key 'watchdog_s'")]
    [InlineData("deadband_temperature=1,5", "line 4, key 'deadband_temperature'")]
    [InlineData("discovery_prefix=ha/#", "line 4, key 'discovery_prefix'")]
    [InlineData("mqtt_password=secretpw", "line 4, key 'mqtt_password': needs mqtt_user")]
    public void Errors_name_the_line_and_the_key(string line, string expected)
    {
        ConfigParseResult result = ConfigParser.Parse(Minimal + line + "\n");

        Assert.False(result.IsValid);
        Assert.Contains(result.Errors, e => e.StartsWith(expected, StringComparison.Ordinal) || e.Contains(expected, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("room=a/b", "line 1, key 'room': must be a single topic level")]
    [InlineData("room=", "line 1, key 'room': must not be empty")]
    [InlineData("room=a#", "line 1, key 'room': must not contain the MQTT wildcards")]
    public void Bad_room_names_are_reported(string line, string expected)
    {
        ConfigParseResult result = ConfigParser.Parse(line + "\nwifi_ssid=lab\nmqtt_host=h\n");
        Assert.Contains(result.Errors, e => e.StartsWith(expected, StringComparison.Ordinal));
    }

    [Fact]
    public void Missing_required_keys_are_each_reported()
    {
        ConfigParseResult result = ConfigParser.Parse("# empty\n");

        Assert.Equal(
            ["key 'wifi_ssid': required but missing", "key 'mqtt_host': required but missing", "key 'room': required but missing"],
            result.Errors);
    }

    [Fact]
    public void No_file_is_an_error_not_a_crash()
    {
        ConfigParseResult result = ConfigParser.Parse(null!);
        Assert.Equal(["no configuration found"], result.Errors);
    }

    [Fact]
    public void Secrets_are_never_echoed_in_errors()
    {
        ConfigParseResult result = ConfigParser.Parse(Minimal + "wifi_password=short\nmqtt_password=" + new string('x', 200) + "\n");

        Assert.Equal(2, result.Errors.Length);
        Assert.All(result.Errors, e => Assert.DoesNotContain("short", e, StringComparison.Ordinal));
        Assert.All(result.Errors, e => Assert.DoesNotContain("xxxx", e, StringComparison.Ordinal));
        Assert.StartsWith("line 4, key 'wifi_password': must be empty (open network) or 8 to 63 characters", result.Errors[0], StringComparison.Ordinal);
    }

    [Fact]
    public void Every_key_is_documented_in_the_firmware_readme()
    {
        string readme = File.ReadAllText(Path.Combine(Paths.FirmwareDirectory, "README.md"));
        foreach (string key in ConfigKeys.All)
        {
            Assert.Contains("`" + key + "`", readme, StringComparison.Ordinal);
        }
    }
}
