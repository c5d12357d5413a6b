using System.Text;
using SensorNode.Broker.Dashboard;

namespace SensorNode.Broker.Tests.Dashboard;

/// <summary>What the dashboard takes from a topic and a payload.</summary>
public sealed class SensorTopicTests
{
    [Theory]
    [InlineData("sensor/temperature/kitchen", true, "temperature", "kitchen")]
    [InlineData("sensor/status/living_room", true, "status", "living_room")]
    [InlineData("sensor/temperature", false, "", "")]
    [InlineData("sensor/temperature/kitchen/extra", false, "", "")]
    [InlineData("sensor//kitchen", false, "", "")]
    [InlineData("sensor/temperature/", false, "", "")]
    [InlineData("sensors/temperature/kitchen", false, "", "")]
    [InlineData("$SYS/broker/bridge/cloud/state", false, "", "")]
    public void Topics_split_into_type_and_room(string topic, bool ok, string type, string room)
    {
        Assert.Equal(ok, SensorTopic.TryParse(topic, out string t, out string r));
        Assert.Equal((type, room), (t, r));
    }

    // Names are capped, so that the caps on rooms and types bound memory and disk with topics of up to 64 KB.
    [Theory]
    [InlineData(128, 128, true)]
    [InlineData(129, 1, false)]
    [InlineData(1, 129, false)]
    [InlineData(1, 60_000, false)]
    public void Room_and_type_names_longer_than_128_characters_are_not_taken(int typeLength, int roomLength, bool ok)
    {
        string type = new('t', typeLength), room = new('r', roomLength);
        Assert.Equal(ok, SensorTopic.TryParse(SensorTopic.Topic(type, room), out string t, out string r));
        Assert.Equal(ok ? (type, room) : (string.Empty, string.Empty), (t, r));
    }

    [Theory]
    [InlineData("21.4", true, 21.4)]
    [InlineData(" -3.5 ", true, -3.5)]
    [InlineData("45", true, 45)]
    [InlineData("21,4", false, 0)]
    [InlineData("{\"temperature\":21.4}", false, 0)]
    [InlineData("NaN", false, 0)]
    [InlineData("", false, 0)]
    public void Readings_are_plain_invariant_numbers(string payload, bool ok, double value)
    {
        Assert.Equal(ok, SensorTopic.TryParseValue(Encoding.UTF8.GetBytes(payload), out double parsed));
        Assert.Equal(value, parsed);
    }

    [Fact]
    public void Status_is_online_or_offline_and_nothing_else()
    {
        Assert.True(SensorTopic.ParseStatus("online"u8));
        Assert.False(SensorTopic.ParseStatus("offline"u8));
        Assert.Null(SensorTopic.ParseStatus("Online!"u8));
        Assert.Null(SensorTopic.ParseStatus(""u8));
    }
}
