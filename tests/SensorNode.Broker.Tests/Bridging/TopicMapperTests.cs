using SensorNode.Broker.Bridging;

namespace SensorNode.Broker.Tests.Bridging;

/// <summary>Renaming topics between the local and remote side of a rule, and which inbound filters cover others.</summary>
[Trait("Category", "Bridging")]
public sealed class TopicMapperTests
{
    [Theory]
    [InlineData("sensor/t1", "sensor/#", "site-a/sensor/#", "site-a/sensor/t1")]
    [InlineData("sensor/a/b/c", "sensor/#", "site-a/sensor/#", "site-a/sensor/a/b/c")]
    [InlineData("sensor", "sensor/#", "site-a/sensor/#", "site-a/sensor")]
    [InlineData("x/y", "#", "site/#", "site/x/y")]
    [InlineData("a/n1/t", "a/+/t", "b/c/+/t", "b/c/n1/t")]
    [InlineData("plain/topic", "plain/topic", "other/name", "other/name")]
    [InlineData("site-a/sensor/t1", "site-a/sensor/#", "sensor/#", "sensor/t1")]
    public void Maps_a_topic_by_swapping_the_fixed_levels(string topic, string from, string to, string expected) =>
        Assert.Equal(expected, TopicMapper.Map(topic, from, to));

    // A topic may be 65,535 bytes (§1.5.4); a prefix can make a mapped one longer, and such a topic cannot be sent.
    [Fact]
    public void A_mapped_topic_fits_a_packet_only_up_to_65535_bytes()
    {
        string longest = "sensor/" + new string('x', ushort.MaxValue - 7);
        Assert.True(TopicMapper.Fits(longest));
        Assert.False(TopicMapper.Fits(TopicMapper.Map(longest, "sensor/#", "site-a/sensor/#")));
        Assert.False(TopicMapper.Fits("sensor/" + new string('é', 40_000)));
        Assert.True(TopicMapper.Fits("sensor/" + new string('é', 30_000)));
    }

    [Theory]
    [InlineData("sensor/#", "site/sensor/#", null)]
    [InlineData("a/+/t", "b/+/t", null)]
    [InlineData("a/#", "b/+", "must end in the same wildcard levels")]
    [InlineData("a/#/b", "a/#/b", "not a valid topic filter")]
    [InlineData("a/#", "$share/g", "not a valid shared subscription")] // [MQTT-4.8.2-1]: an upstream would close the link
    [InlineData("$share/+/a/#", "a/#", "not a valid shared subscription")]
    public void Checks_that_two_filters_map_onto_each_other(string local, string remote, string? problem)
    {
        string? found = TopicMapper.Check(local, remote);
        if (problem is null)
        {
            Assert.Null(found);
        }
        else
        {
            Assert.Contains(problem, found, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("shared/#", "shared/+/x", true)]
    [InlineData("shared/#", "shared", true)]
    [InlineData("#", "a/b", true)]
    [InlineData("#", "$SYS/x", false)]
    [InlineData("+/x", "a/x", true)]
    [InlineData("+/x", "a/#", false)]
    [InlineData("a/+", "a/b/c", false)]
    [InlineData("a/b", "a/b", true)]
    [InlineData("a/+/x", "a/#", false)]
    public void Knows_when_one_filter_covers_another(string outer, string inner, bool covers) =>
        Assert.Equal(covers, TopicMapper.Covers(outer, inner));
}
