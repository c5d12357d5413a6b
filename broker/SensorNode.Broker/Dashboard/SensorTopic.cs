using System.Globalization;
using System.Text;

namespace SensorNode.Broker.Dashboard;

/// <summary>What the dashboard reads from the topics nodes publish: <c>sensor/&lt;type&gt;/&lt;room&gt;</c>.</summary>
public static class SensorTopic
{
    public const string Prefix = "sensor/";

    /// <summary>The type of the node's online/offline topic (its LWT).</summary>
    public const string StatusType = "status";

    /// <summary>The bridge state topics another part of the broker publishes, retained.</summary>
    public const string BridgeStateFilter = "$SYS/broker/bridge/+/state";

    /// <summary>
    /// Longest room or type name the dashboard shows and records: with topics of up to 64 KB, its caps on rooms and
    /// types per room would not bound the memory and the disk otherwise.
    /// </summary>
    public const int MaxNameLength = 128;

    /// <summary>Splits <c>sensor/type/room</c>; false for any other shape, or a name longer than <see cref="MaxNameLength"/>.</summary>
    public static bool TryParse(string topic, out string type, out string room)
    {
        type = room = string.Empty;
        if (!topic.StartsWith(Prefix, StringComparison.Ordinal) || topic.Length > Prefix.Length + 1 + (2 * MaxNameLength))
        {
            return false;
        }

        ReadOnlySpan<char> rest = topic.AsSpan(Prefix.Length);
        int slash = rest.IndexOf('/');
        if (slash <= 0 || slash == rest.Length - 1 || rest[(slash + 1)..].Contains('/') || slash > MaxNameLength || rest.Length - slash - 1 > MaxNameLength)
        {
            return false;
        }

        type = rest[..slash].ToString();
        room = rest[(slash + 1)..].ToString();
        return true;
    }

    public static string Topic(string type, string room) => Prefix + type + "/" + room;

    /// <summary>A reading's value: a plain number in the invariant culture ("21.4").</summary>
    public static bool TryParseValue(ReadOnlySpan<byte> payload, out double value)
    {
        value = 0;
        if (payload.IsEmpty || payload.Length > 64)
        {
            return false;
        }

        Span<char> chars = stackalloc char[64];
        int count = Encoding.UTF8.GetChars(payload, chars);
        if (double.TryParse(chars[..count].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value))
        {
            return true;
        }

        value = 0;
        return false;
    }

    /// <summary>"online" or "offline"; null for anything else.</summary>
    public static bool? ParseStatus(ReadOnlySpan<byte> payload)
    {
        ReadOnlySpan<byte> trimmed = payload.Trim((byte)' ');
        if (trimmed.SequenceEqual("online"u8))
        {
            return true;
        }

        return trimmed.SequenceEqual("offline"u8) ? false : null;
    }
}
