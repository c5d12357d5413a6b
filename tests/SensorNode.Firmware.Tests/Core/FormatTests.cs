using System.Text.Json;
using SensorNode.Firmware.Core.Formatting;
using SensorNode.Firmware.Core.Topics;

namespace SensorNode.Firmware.Tests.Core;

public sealed class FormatTests
{
    [Theory]
    [InlineData(21.4, 1, "21.4")]
    [InlineData(21.0, 1, "21.0")]
    [InlineData(-5.25, 1, "-5.3")]
    [InlineData(-0.04, 1, "0.0")]
    [InlineData(99.95, 1, "100.0")]
    [InlineData(45.678, 2, "45.68")]
    [InlineData(7.0, 0, "7")]
    [InlineData(0.05, 1, "0.1")]
    public void Decimal_is_invariant_with_fixed_decimals(double value, int decimals, string expected)
    {
        Assert.Equal(expected, DecimalFormat.Format(value, decimals));
    }

    [Fact]
    public void Decimal_ignores_the_current_culture()
    {
        var previous = System.Globalization.CultureInfo.CurrentCulture;
        try
        {
            System.Globalization.CultureInfo.CurrentCulture = System.Globalization.CultureInfo.InvariantCulture;
            Assert.Equal("21.4", DecimalFormat.Format(21.4, 1));
        }
        finally
        {
            System.Globalization.CultureInfo.CurrentCulture = previous;
        }
    }

    [Theory]
    [InlineData("21.4", true, 21.4)]
    [InlineData("-3", true, -3.0)]
    [InlineData("+0.5", true, 0.5)]
    [InlineData("1,5", false, 0)]
    [InlineData("1.", false, 0)]
    [InlineData(".", false, 0)]
    [InlineData("", false, 0)]
    [InlineData("1e3", false, 0)]
    public void Decimal_parse(string text, bool ok, double expected)
    {
        Assert.Equal(ok, DecimalFormat.TryParse(text, out double value));
        if (ok)
        {
            Assert.Equal(expected, value, 9);
        }
    }

    [Theory]
    [InlineData("kitchen", "sensor/temperature/kitchen", "sensor/humidity/kitchen", "sensor/status/kitchen", "sensor/state/kitchen", "sensor/command/kitchen")]
    [InlineData("Küche 1", "sensor/temperature/Küche 1", "sensor/humidity/Küche 1", "sensor/status/Küche 1", "sensor/state/Küche 1", "sensor/command/Küche 1")]
    public void Topics_follow_sensor_type_room(string room, string temperature, string humidity, string status, string state, string command)
    {
        Assert.Equal(temperature, TopicNames.TemperatureOf(room));
        Assert.Equal(humidity, TopicNames.HumidityOf(room));
        Assert.Equal(status, TopicNames.StatusOf(room));
        Assert.Equal(state, TopicNames.StateOf(room));
        Assert.Equal(command, TopicNames.CommandOf(room));
        Assert.Equal("homeassistant/sensor/node_1_temperature/config", TopicNames.DiscoveryOf("homeassistant", "node_1", "temperature"));
    }

    [Theory]
    [InlineData("kitchen", true)]
    [InlineData("living_room-2", true)]
    [InlineData("Küche", true)]
    [InlineData("", false)]
    [InlineData("a/b", false)]
    [InlineData("a+b", false)]
    [InlineData("#", false)]
    [InlineData("tab\there", false)]
    [InlineData("nul\0", false)]
    [InlineData(" padded", false)]
    public void Room_is_one_valid_topic_level(string room, bool valid)
    {
        Assert.Equal(valid, RoomName.IsValid(room));
    }

    [Fact]
    public void Room_must_be_valid_utf8_so_no_unpaired_surrogates()
    {
        Assert.False(RoomName.IsValid("a" + (char)0xD800 + "x"));
        Assert.False(RoomName.IsValid("a" + (char)0xDC00));
        Assert.False(RoomName.IsValid("a" + (char)0xD83C));
        Assert.True(RoomName.IsValid("emoji" + (char)0xD83C + (char)0xDF21));
    }

    [Fact]
    public void Room_longer_than_the_limit_is_rejected()
    {
        Assert.False(RoomName.IsValid(new string('a', RoomName.MaxLength + 1)));
        Assert.True(RoomName.IsValid(new string('a', RoomName.MaxLength)));
    }

    [Theory]
    [InlineData("kitchen", "sensornode_kitchen")]
    [InlineData("Küche 1", "sensornode_K_che_1")]
    public void Default_node_id_is_derived_from_the_room(string room, string expected)
    {
        Assert.Equal(expected, NodeId.FromRoom(room));
        Assert.Null(NodeId.Validate(expected));
    }

    [Fact]
    public void Timestamp_is_iso8601_utc()
    {
        Assert.Equal("2026-01-02T03:04:05Z", TimestampFormat.Iso8601Utc(new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc)));
    }

    [Fact]
    public void Json_writer_escapes_and_parses_back()
    {
        string json = new JsonWriter()
            .Text("quote", "a\"b\\c\nd\u0001é°")
            .Number("n", -1.25, 2)
            .Number("nan", double.NaN, 1)
            .Integer("i", 42)
            .Boolean("b", true)
            .TextArray("arr", ["x", "y"])
            .BeginObject("inner").Text("k", "v").EndObject()
            .Null("z")
            .Finish();

        using JsonDocument doc = JsonDocument.Parse(json);
        JsonElement root = doc.RootElement;
        Assert.Equal("a\"b\\c\nd\u0001é°", root.GetProperty("quote").GetString());
        Assert.Equal(-1.25, root.GetProperty("n").GetDouble());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("nan").ValueKind);
        Assert.Equal(42, root.GetProperty("i").GetInt32());
        Assert.True(root.GetProperty("b").GetBoolean());
        Assert.Equal("y", root.GetProperty("arr")[1].GetString());
        Assert.Equal("v", root.GetProperty("inner").GetProperty("k").GetString());
        Assert.Equal(JsonValueKind.Null, root.GetProperty("z").ValueKind);
    }
}
