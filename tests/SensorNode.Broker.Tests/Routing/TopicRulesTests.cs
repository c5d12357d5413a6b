using System.Text;
using SensorNode.Broker.Protocol;

namespace SensorNode.Broker.Tests.Routing;

/// <summary>Topic name and filter syntax (§4.7.1, §4.7.3) and the reference matcher (§4.7.1–4.7.2).</summary>
public sealed class TopicRulesTests
{
    [Theory]
    [InlineData("#")]
    [InlineData("+")]
    [InlineData("a")]
    [InlineData("a/b/c")]
    [InlineData("sport/tennis/player1/#")]
    [InlineData("sport/#")]
    [InlineData("sport/tennis/+")]
    [InlineData("+/tennis/#")]
    [InlineData("+/+")]
    [InlineData("/+")]
    [InlineData("+/")]
    [InlineData("/#")]
    [InlineData("+/#")]
    [InlineData("a/+/b")]
    [InlineData("/")]
    [InlineData("//")]
    [InlineData("a//b")]
    [InlineData("$SYS/#")]
    [InlineData("$SYS/broker/+")]
    [InlineData("$")]
    [InlineData(" ")]
    [InlineData("température/°C")]
    public void Valid_topic_filters(string filter)
    {
        Assert.True(TopicRules.IsValidTopicFilter(filter));
        Assert.True(TopicRules.IsValidTopicFilter(Encoding.UTF8.GetBytes(filter)));
    }

    [Theory]
    [InlineData("", "[MQTT-4.7.3-1] at least one character")]
    [InlineData("sport/tennis#", "[MQTT-4.7.1-2] '#' must be a whole level")]
    [InlineData("sport/tennis/#/ranking", "[MQTT-4.7.1-2] '#' must be last")]
    [InlineData("a/#/b", "[MQTT-4.7.1-2] '#' must be last")]
    [InlineData("#/a", "[MQTT-4.7.1-2] '#' must be last")]
    [InlineData("#/", "[MQTT-4.7.1-2] '#' must be last")]
    [InlineData("##", "[MQTT-4.7.1-2]")]
    [InlineData("a#", "[MQTT-4.7.1-2]")]
    [InlineData("#a", "[MQTT-4.7.1-2]")]
    [InlineData("sport+", "[MQTT-4.7.1-3] '+' must occupy a whole level")]
    [InlineData("a+", "[MQTT-4.7.1-3]")]
    [InlineData("+a", "[MQTT-4.7.1-3]")]
    [InlineData("a/+b", "[MQTT-4.7.1-3]")]
    [InlineData("a/b+/c", "[MQTT-4.7.1-3]")]
    [InlineData("++", "[MQTT-4.7.1-3]")]
    [InlineData("+#", "[MQTT-4.7.1-2] [MQTT-4.7.1-3]")]
    [InlineData("#+", "[MQTT-4.7.1-2] [MQTT-4.7.1-3]")]
    [InlineData("a/#+", "[MQTT-4.7.1-2]")]
    public void Invalid_topic_filters(string filter, string rule)
    {
        Assert.False(TopicRules.IsValidTopicFilter(filter), rule);
        Assert.False(TopicRules.IsValidTopicFilter(Encoding.UTF8.GetBytes(filter)), rule);
    }

    [Theory]
    [InlineData("a", true)]
    [InlineData("/", true)]
    [InlineData("//", true)]
    [InlineData("a/b/c", true)]
    [InlineData("/finance", true)]
    [InlineData("$SYS/broker/load", true)]
    [InlineData("$", true)]
    [InlineData(" ", true)]
    [InlineData("température/°C", true)]
    [InlineData("", false)]
    [InlineData("+", false)]
    [InlineData("#", false)]
    [InlineData("a/+", false)]
    [InlineData("a/#", false)]
    [InlineData("a+b", false)]
    [InlineData("a#b", false)]
    [InlineData("+/a", false)]
    public void Topic_name_validity(string topic, bool valid)
    {
        // [MQTT-3.3.2-2] no wildcard characters in a topic name; [MQTT-4.7.3-1] at least one character.
        Assert.Equal(valid, TopicRules.IsValidTopicName(topic));
        Assert.Equal(valid, TopicRules.IsValidTopicName(Encoding.UTF8.GetBytes(topic).AsSpan()));
    }

    [Theory]
    // The examples of §4.7.1.2 / §4.7.1.3.
    [InlineData("sport/tennis/player1/#", "sport/tennis/player1", true)]
    [InlineData("sport/tennis/player1/#", "sport/tennis/player1/ranking", true)]
    [InlineData("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true)]
    [InlineData("sport/#", "sport", true)]
    [InlineData("sport/tennis/+", "sport/tennis/player1", true)]
    [InlineData("sport/tennis/+", "sport/tennis/player2", true)]
    [InlineData("sport/tennis/+", "sport/tennis/player1/ranking", false)]
    [InlineData("sport/+", "sport", false)]
    [InlineData("sport/+", "sport/", true)]
    [InlineData("+/+", "/finance", true)]
    [InlineData("/+", "/finance", true)]
    [InlineData("+", "/finance", false)]
    // Multi-level wildcard.
    [InlineData("#", "a", true)]
    [InlineData("#", "a/b/c", true)]
    [InlineData("#", "/", true)]
    [InlineData("#", "/a", true)]
    [InlineData("a/#", "a/", true)]
    [InlineData("a/#", "a//", true)]
    [InlineData("a/#", "ab", false)]
    [InlineData("a/#", "b/a", false)]
    [InlineData("a/b/#", "a", false)]
    [InlineData("a/+/#", "a/b", true)]
    [InlineData("a/+/#", "a", false)]
    [InlineData("+/#", "a", true)]
    [InlineData("+/#", "/", true)]
    [InlineData("/#", "/", true)]
    [InlineData("/#", "/a/b", true)]
    [InlineData("/#", "a", false)]
    // Single-level wildcard and empty levels.
    [InlineData("+", "a", true)]
    [InlineData("+", "a/b", false)]
    [InlineData("+", "/", false)]
    [InlineData("+/+", "/", true)]
    [InlineData("+/+/+", "a//b", true)]
    [InlineData("a/+/b", "a//b", true)]
    [InlineData("a/+/b", "a/x/y/b", false)]
    [InlineData("a/+", "a/", true)]
    [InlineData("a/+", "a", false)]
    [InlineData("+/b", "/b", true)]
    // Exact filters, leading and trailing slashes, case.
    [InlineData("a/b", "a/b", true)]
    [InlineData("a/b", "a/b/c", false)]
    [InlineData("a/b/c", "a/b", false)]
    [InlineData("a//b", "a//b", true)]
    [InlineData("a/b", "a//b", false)]
    [InlineData("a", "a/", false)]
    [InlineData("a/", "a", false)]
    [InlineData("a/", "a/", true)]
    [InlineData("/a", "a", false)]
    [InlineData("a", "/a", false)]
    [InlineData("/a", "/a", true)]
    [InlineData("/", "/", true)]
    [InlineData("//", "/", false)]
    [InlineData("ACCOUNTS", "Accounts", false)]
    [InlineData("a", "ab", false)]
    [InlineData("ab", "a", false)]
    // Topics beginning with '$' [MQTT-4.7.2-1].
    [InlineData("#", "$SYS/broker/load", false)]
    [InlineData("#", "$SYS", false)]
    [InlineData("+", "$SYS", false)]
    [InlineData("+/#", "$SYS/x", false)]
    [InlineData("+/monitor/Clients", "$SYS/monitor/Clients", false)]
    [InlineData("$SYS/#", "$SYS/monitor/Clients", true)]
    [InlineData("$SYS/#", "$SYS", true)]
    [InlineData("$SYS/monitor/+", "$SYS/monitor/Clients", true)]
    [InlineData("$SYS", "$SYS", true)]
    [InlineData("$", "$", true)]
    [InlineData("#", "$", false)]
    [InlineData("a/#", "a/$SYS", true)]
    [InlineData("+/$x", "a/$x", true)]
    [InlineData("a/+", "a/$x", true)]
    [InlineData("#", "a$", true)]
    [InlineData("+", "a$", true)]
    public void Matches_follows_the_filter_rules(string filter, string topic, bool expected)
    {
        Assert.True(TopicRules.IsValidTopicFilter(filter));
        Assert.True(TopicRules.IsValidTopicName(topic));
        Assert.Equal(expected, TopicRules.Matches(filter, topic));
    }

    [Theory]
    [InlineData("a/b", false)]
    [InlineData("a/+", true)]
    [InlineData("#", true)]
    [InlineData("$SYS/#", true)]
    public void HasWildcard(string filter, bool expected) => Assert.Equal(expected, TopicRules.HasWildcard(filter));
}
