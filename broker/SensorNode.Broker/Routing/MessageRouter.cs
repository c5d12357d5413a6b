using SensorNode.Broker.Protocol;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Routing;

/// <summary>One session a message goes to, at the QoS it is delivered with; <see cref="StoreSequence"/> is set once stored.</summary>
public record struct RouteTarget(Session Session, byte Qos, long StoreSequence = 0);

/// <summary>
/// Finds the sessions a published message goes to, once each. Overlapping subscriptions of one client give
/// one copy at the highest granted QoS (3.1.1 §3.3.5 allows it; MQTT 5 requires it). Matching allocates
/// nothing: the match list and the de-duplication map are per thread and reused.
/// </summary>
public sealed class MessageRouter(SubscriptionTrie subscriptions, RetainedMessageStore retained)
{
    [ThreadStatic]
    private static List<Subscription>? t_matches;

    [ThreadStatic]
    private static Dictionary<Session, int>? t_index;

    public SubscriptionTrie Subscriptions { get; } = subscriptions;

    public RetainedMessageStore Retained { get; } = retained;

    /// <summary>
    /// Adds the message's targets to <paramref name="targets"/>. Delivered QoS is min(published, granted)
    /// [MQTT-3.8.4-6].
    /// </summary>
    public void Match(ApplicationMessage message, List<RouteTarget> targets)
    {
        List<Subscription> matches = t_matches ??= new List<Subscription>(16);
        matches.Clear();
        Subscriptions.Match(message.Topic, matches);
        try
        {
            bool overlapPossible = false;
            foreach (Subscription match in matches)
            {
                if (match.Subscriber.SubscriptionCount > 1)
                {
                    overlapPossible = true;
                    break;
                }
            }

            if (!overlapPossible)
            {
                foreach (Subscription match in matches)
                {
                    targets.Add(new RouteTarget(match.Subscriber, Math.Min(message.Qos, match.Qos)));
                }

                return;
            }

            Dictionary<Session, int> index = t_index ??= new Dictionary<Session, int>(ReferenceEqualityComparer.Instance);
            index.Clear();
            foreach (Subscription match in matches)
            {
                byte qos = Math.Min(message.Qos, match.Qos);
                if (index.TryGetValue(match.Subscriber, out int at))
                {
                    if (qos > targets[at].Qos)
                    {
                        targets[at] = targets[at] with { Qos = qos };
                    }
                }
                else
                {
                    index[match.Subscriber] = targets.Count;
                    targets.Add(new RouteTarget(match.Subscriber, qos));
                }
            }

            index.Clear();
        }
        finally
        {
            matches.Clear();
        }
    }

    /// <summary>
    /// Makes a publish take effect: the retained store is updated, and every target gets the message queued.
    /// Live forwarding always carries RETAIN=0 [MQTT-3.3.1-9].
    /// </summary>
    public void Deliver(ApplicationMessage message, ReadOnlySpan<RouteTarget> targets)
    {
        if (message.Retain)
        {
            Retained.Apply(message);
        }

        foreach (ref readonly RouteTarget target in targets)
        {
            target.Session.Enqueue(message, target.Qos, retain: false, storeSequence: target.StoreSequence);
        }
    }
}
