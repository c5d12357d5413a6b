using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Routing;

/// <summary>
/// MQTT 5 subscription options (§3.8.3.1); all default to the MQTT 3.1.1 behaviour.
/// <see cref="Identifier"/> 0 means none.
/// </summary>
public readonly record struct SubscriptionOptions(bool NoLocal = false, bool RetainAsPublished = false, byte RetainHandling = 0, uint Identifier = 0);

/// <summary>
/// One client's subscription to one topic filter, with the QoS the broker granted. A shared subscription
/// (<c>$share/{group}/{filter}</c>, §4.8.2) keeps its group apart from the filter that is matched.
/// </summary>
public sealed class Subscription
{
    public Subscription(Session subscriber, string filter, byte qos, SubscriptionOptions options = default)
    {
        Subscriber = subscriber;
        Filter = filter;
        Qos = qos;
        Options = options;
        if (SharedSubscription.TryParse(filter, out string? group, out string? topicFilter))
        {
            ShareGroup = group;
            TopicFilter = topicFilter;
        }
        else
        {
            TopicFilter = filter;
        }
    }

    public Session Subscriber { get; }

    /// <summary>The filter as the client subscribed it (the key of the subscription in its session).</summary>
    public string Filter { get; }

    /// <summary>The filter topics are matched against: <see cref="Filter"/> without a <c>$share/{group}/</c> prefix.</summary>
    public string TopicFilter { get; }

    /// <summary>The share group of a shared subscription; null for an ordinary one.</summary>
    public string? ShareGroup { get; }

    public byte Qos { get; }

    public SubscriptionOptions Options { get; }

    /// <summary>
    /// Set before the subscription is routed to when its retained messages are to be sent, cleared (under the
    /// retained store's gate) as they are matched: until then a retained publish taking effect needs no live copy
    /// for it, the replay will carry it.
    /// </summary>
    internal bool RetainedReplayPending { get; set; }
}
