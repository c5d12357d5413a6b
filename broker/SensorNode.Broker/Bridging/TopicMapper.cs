using SensorNode.Broker.Protocol;

namespace SensorNode.Broker.Bridging;

/// <summary>
/// Renames topics between the local and the remote side of a rule. Both filters are a fixed part followed by the
/// same wildcard part (<c>sensor/#</c> ↔ <c>site-a/sensor/#</c>, <c>a/+/t</c> ↔ <c>b/+/t</c>); a topic keeps its
/// wildcard part and swaps the fixed one. Filters without wildcards map one topic to one topic.
/// </summary>
public static class TopicMapper
{
    /// <summary>Null when the two filters can be mapped onto each other, otherwise why not.</summary>
    public static string? Check(string local, string remote)
    {
        if (!TopicRules.IsValidTopicFilter(local))
        {
            return $"'{local}' is not a valid topic filter";
        }

        if (!TopicRules.IsValidTopicFilter(remote))
        {
            return $"'{remote}' is not a valid topic filter";
        }

        foreach (string filter in (string[])[local, remote])
        {
            if (filter.StartsWith(Routing.SharedSubscription.Prefix, StringComparison.Ordinal) && !Routing.SharedSubscription.IsValid(filter))
            {
                // An upstream would close the bridge's connection for it on every SUBSCRIBE [MQTT-4.8.2-1].
                return $"'{filter}' is not a valid shared subscription ($share/{{ShareName}}/{{filter}})";
            }
        }

        if (!string.Equals(Tail(local), Tail(remote), StringComparison.Ordinal))
        {
            return $"'{local}' and '{remote}' must end in the same wildcard levels to be mapped onto each other";
        }

        return null;
    }

    /// <summary>Maps <paramref name="topic"/>, which matches <paramref name="from"/>, to the filter <paramref name="to"/>.</summary>
    public static string Map(string topic, string from, string to)
    {
        if (!TopicRules.HasWildcard(from))
        {
            return to;
        }

        string fromFixed = Fixed(from);
        string toFixed = Fixed(to);
        if (topic.Length < fromFixed.Length)
        {
            // "a/#" also matches "a" itself [MQTT-4.7.1-2].
            return toFixed.Length > 0 ? toFixed[..^1] : topic;
        }

        return toFixed + topic[fromFixed.Length..];
    }

    public static bool Matches(string filter, string topic) => TopicRules.Matches(filter, topic);

    /// <summary>False for a mapped topic a prefix made longer than a topic can be on the wire (65,535 bytes, §1.5.4).</summary>
    public static bool Fits(string topic) => topic.Length <= ushort.MaxValue / 3 || System.Text.Encoding.UTF8.GetByteCount(topic) <= ushort.MaxValue;

    /// <summary>True when every topic <paramref name="inner"/> matches is also matched by <paramref name="outer"/>.</summary>
    public static bool Covers(string outer, string inner)
    {
        string[] o = outer.Split('/');
        string[] i = inner.Split('/');
        for (int level = 0; level < o.Length; level++)
        {
            if (o[level] == "#")
            {
                // "a/#" also matches "a"; a '$' topic is not matched by a leading wildcard [MQTT-4.7.2-1].
                return level > 0 || (i.Length > 0 && !i[0].StartsWith('$'));
            }

            if (level >= i.Length || i[level] == "#")
            {
                return false;
            }

            if (o[level] == "+")
            {
                if (level == 0 && i[0].StartsWith('$'))
                {
                    return false;
                }

                continue;
            }

            if (o[level] != i[level])
            {
                return false;
            }
        }

        return o.Length == i.Length;
    }

    /// <summary>The levels before the first wildcard, with their trailing '/' ("sensor/#" → "sensor/").</summary>
    private static string Fixed(string filter)
    {
        int wildcard = filter.AsSpan().IndexOfAny('+', '#');
        if (wildcard < 0)
        {
            return filter;
        }

        return filter[..wildcard];
    }

    private static string Tail(string filter) => filter[Fixed(filter).Length..];
}
