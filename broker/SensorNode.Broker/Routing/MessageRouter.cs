using SensorNode.Broker.Protocol;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Routing;

/// <summary>
/// Delivers a published message to every matching session once. Overlapping subscriptions of one client
/// give one copy at the highest granted QoS (3.1.1 §3.3.5 allows it; MQTT 5 requires it).
/// Routing allocates nothing per message: the match list and de-duplication map are per-thread and reused.
/// </summary>
public sealed class MessageRouter(SubscriptionTrie subscriptions, RetainedMessageStore retained)
{
    [ThreadStatic]
    private static List<Subscription>? t_matches;

    [ThreadStatic]
    private static Dictionary<Session, byte>? t_bestQos;

    public SubscriptionTrie Subscriptions { get; } = subscriptions;

    public RetainedMessageStore Retained { get; } = retained;

    /// <summary>Stores the message if retained, then queues it for each subscriber. Returns the number of sessions reached.</summary>
    public int Publish(ApplicationMessage message)
    {
        if (message.Retain)
        {
            Retained.Apply(message);
        }

        List<Subscription> matches = t_matches ??= new List<Subscription>(16);
        matches.Clear();
        Subscriptions.Match(message.Topic, matches);
        try
        {
            return Deliver(message, matches);
        }
        finally
        {
            matches.Clear();
        }
    }

    private static int Deliver(ApplicationMessage message, List<Subscription> matches)
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

        // Live forwarding always carries RETAIN=0 [MQTT-3.3.1-9]; delivered QoS is min(published, granted) [MQTT-3.8.4-6].
        if (!overlapPossible)
        {
            foreach (Subscription match in matches)
            {
                match.Subscriber.Enqueue(message, Math.Min(message.Qos, match.Qos), retain: false);
            }

            return matches.Count;
        }

        Dictionary<Session, byte> best = t_bestQos ??= new Dictionary<Session, byte>(ReferenceEqualityComparer.Instance);
        best.Clear();
        foreach (Subscription match in matches)
        {
            byte qos = Math.Min(message.Qos, match.Qos);
            if (!best.TryGetValue(match.Subscriber, out byte current) || qos > current)
            {
                best[match.Subscriber] = qos;
            }
        }

        foreach (KeyValuePair<Session, byte> target in best)
        {
            target.Key.Enqueue(message, target.Value, retain: false);
        }

        int count = best.Count;
        best.Clear();
        return count;
    }
}
