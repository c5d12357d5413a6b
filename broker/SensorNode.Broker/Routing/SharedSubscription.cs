using System.Diagnostics.CodeAnalysis;

namespace SensorNode.Broker.Routing;

/// <summary>Shared subscription filters, <c>$share/{ShareName}/{filter}</c> (MQTT 5 §4.8.2).</summary>
public static class SharedSubscription
{
    public const string Prefix = "$share/";

    public static bool IsShared(string filter) => filter.StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>
    /// Splits a shared subscription filter. Returns false for an ordinary filter and for a malformed shared one
    /// (use <see cref="IsValid"/> to tell them apart).
    /// </summary>
    public static bool TryParse(string filter, [NotNullWhen(true)] out string? group, [NotNullWhen(true)] out string? topicFilter)
    {
        group = null;
        topicFilter = null;
        if (!IsShared(filter))
        {
            return false;
        }

        int slash = filter.IndexOf('/', Prefix.Length);
        if (slash <= Prefix.Length || slash == filter.Length - 1)
        {
            return false;
        }

        group = filter[Prefix.Length..slash];
        topicFilter = filter[(slash + 1)..];
        return true;
    }

    /// <summary>See <see cref="Protocol.TopicRules.IsValidSharedFilter"/>.</summary>
    public static bool IsValid(string filter) => Protocol.TopicRules.IsValidSharedFilter(System.Text.Encoding.UTF8.GetBytes(filter));
}
