using System.Numerics;

namespace SensorNode.Broker.Protocol;

/// <summary>
/// Topic name and topic filter syntax (3.1.1 §4.7, 5.0 §4.7). Works on UTF-8 bytes: the separators and
/// wildcards are ASCII, so no decoding is needed.
/// </summary>
public static class TopicRules
{
    public const byte Separator = (byte)'/';
    public const byte SingleLevelWildcard = (byte)'+';
    public const byte MultiLevelWildcard = (byte)'#';

    /// <summary>A topic name is at least one byte and holds no wildcard [MQTT-3.3.2-2] [MQTT-4.7.3-1].</summary>
    public static bool IsValidTopicName(ReadOnlySpan<byte> topic) =>
        topic.Length > 0 && topic.IndexOfAny(SingleLevelWildcard, MultiLevelWildcard) < 0;

    /// <summary>
    /// A filter is at least one byte; '#' only alone or after '/' as the last character [MQTT-4.7.1-2];
    /// '+' only as a whole level [MQTT-4.7.1-3].
    /// </summary>
    public static bool IsValidTopicFilter(ReadOnlySpan<byte> filter)
    {
        if (filter.Length == 0)
        {
            return false;
        }

        for (int i = 0; i < filter.Length; i++)
        {
            byte c = filter[i];
            if (c == MultiLevelWildcard)
            {
                bool levelStart = i == 0 || filter[i - 1] == Separator;
                if (!levelStart || i != filter.Length - 1)
                {
                    return false;
                }
            }
            else if (c == SingleLevelWildcard)
            {
                bool levelStart = i == 0 || filter[i - 1] == Separator;
                bool levelEnd = i == filter.Length - 1 || filter[i + 1] == Separator;
                if (!levelStart || !levelEnd)
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>The start of a Shared Subscription's filter, <c>$share/{ShareName}/{filter}</c> (5.0 §4.8.2).</summary>
    public static ReadOnlySpan<byte> SharedPrefix => "$share/"u8;

    /// <summary>
    /// A Shared Subscription's filter: after <see cref="SharedPrefix"/> a ShareName of at least one character without
    /// '/', '+' or '#' [MQTT-4.8.2-1] [MQTT-4.8.2-2], then '/' and a valid topic filter.
    /// </summary>
    public static bool IsValidSharedFilter(ReadOnlySpan<byte> filter) =>
        TrySplitShared(filter, out ReadOnlySpan<byte> topicFilter) && IsValidTopicFilter(topicFilter);

    /// <summary>
    /// The ShareName part of a Shared Subscription's filter is well formed and a topic filter follows it (whose own
    /// syntax is not judged here): <paramref name="topicFilter"/> is that filter.
    /// </summary>
    public static bool TrySplitShared(ReadOnlySpan<byte> filter, out ReadOnlySpan<byte> topicFilter)
    {
        topicFilter = default;
        if (!filter.StartsWith(SharedPrefix))
        {
            return false;
        }

        ReadOnlySpan<byte> rest = filter[SharedPrefix.Length..];
        int slash = rest.IndexOf(Separator);
        if (slash <= 0 || slash == rest.Length - 1 || rest[..slash].IndexOfAny(SingleLevelWildcard, MultiLevelWildcard) >= 0)
        {
            return false;
        }

        topicFilter = rest[(slash + 1)..];
        return true;
    }

    public static bool IsValidTopicName(string topic) => IsValidTopicName(System.Text.Encoding.UTF8.GetBytes(topic));

    public static bool IsValidTopicFilter(string filter) => IsValidTopicFilter(System.Text.Encoding.UTF8.GetBytes(filter));

    public static bool HasWildcard(string filter) => filter.AsSpan().IndexOfAny('+', '#') >= 0;

    /// <summary>
    /// Reference matcher (used for retained-message replay with wildcard filters and in tests). '$' topics are
    /// not matched by filters starting with a wildcard [MQTT-4.7.2-1]; "a/#" also matches "a" [MQTT-4.7.1-2].
    /// </summary>
    public static bool Matches(ReadOnlySpan<char> filter, ReadOnlySpan<char> topic) => MatchLevels(filter, topic);

    /// <summary>The same on UTF-8 bytes (the retained store keeps topics only as UTF-8).</summary>
    public static bool Matches(ReadOnlySpan<byte> filter, ReadOnlySpan<byte> topic) => MatchLevels(filter, topic);

    private static bool MatchLevels<T>(ReadOnlySpan<T> filter, ReadOnlySpan<T> topic)
        where T : unmanaged, IBinaryInteger<T>
    {
        T separator = T.CreateTruncating('/');
        T single = T.CreateTruncating('+');
        T multi = T.CreateTruncating('#');
        if (topic.Length > 0 && topic[0] == T.CreateTruncating('$') && filter.Length > 0 && (filter[0] == single || filter[0] == multi))
        {
            return false;
        }

        while (true)
        {
            int fEnd = filter.IndexOf(separator);
            ReadOnlySpan<T> fLevel = fEnd < 0 ? filter : filter[..fEnd];
            if (fLevel.Length == 1 && fLevel[0] == multi)
            {
                return true;
            }

            int tEnd = topic.IndexOf(separator);
            ReadOnlySpan<T> tLevel = tEnd < 0 ? topic : topic[..tEnd];
            if (!(fLevel.Length == 1 && fLevel[0] == single) && !fLevel.SequenceEqual(tLevel))
            {
                return false;
            }

            if (fEnd < 0 || tEnd < 0)
            {
                if (fEnd < 0 && tEnd < 0)
                {
                    return true;
                }

                // Topic ended but the filter goes on: only a trailing "/#" still matches ("a/#" matches "a").
                ReadOnlySpan<T> rest = filter[(fEnd + 1)..];
                return tEnd < 0 && rest.Length == 1 && rest[0] == multi;
            }

            filter = filter[(fEnd + 1)..];
            topic = topic[(tEnd + 1)..];
        }
    }
}
