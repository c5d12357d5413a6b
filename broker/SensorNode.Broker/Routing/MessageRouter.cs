using System.Runtime.InteropServices;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Routing;

/// <summary>
/// One session a message goes to: the QoS and RETAIN flag it is delivered with, the MQTT 5 subscription
/// identifiers of the subscriptions it matched, and <see cref="StoreSequence"/> once it is stored.
/// </summary>
/// <param name="AclVersion">The ACL version read access was checked under (-1: no ACL), so that a delivery routed just before a reload is checked again when queued.</param>
public record struct RouteTarget(Session Session, byte Qos, long StoreSequence = 0, bool Retain = false, uint[]? SubscriptionIds = null, Subscription? Shared = null, int AclVersion = -1);

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
    /// Told of every message as it takes effect (the dashboard observes readings with it), on the delivering thread:
    /// a handler must be quick, must not block and must not throw.
    /// </summary>
    public event Action<ApplicationMessage>? Delivered;

    /// <summary>
    /// Adds the message's targets to <paramref name="targets"/>. Delivered QoS is min(published, granted)
    /// [MQTT-3.8.4-6]. <paramref name="publisher"/> is left out of its own No Local subscriptions [MQTT-3.8.3-3].
    /// RETAIN is kept only for Retain As Published subscriptions [MQTT-3.3.1-12] [MQTT-3.3.1-13]. A single copy
    /// for overlapping subscriptions carries all their subscription identifiers [MQTT-3.3.4-5]; each shared
    /// subscription gets its own copy (§4.8.2). Returns the subscriptions' <see cref="SubscriptionTrie.Additions"/>
    /// as the match began, for <see cref="Deliver"/>.
    /// </summary>
    public long Match(ApplicationMessage message, List<RouteTarget> targets, Session? publisher = null) => Match(message, targets, publisher, include: null);

    private long Match(ApplicationMessage message, List<RouteTarget> targets, Session? publisher, Predicate<Subscription>? include)
    {
        long matchedAt = Subscriptions.Additions;
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

            Dictionary<Session, int>? index = null;
            foreach (Subscription match in matches)
            {
                if (include is not null && !include(match))
                {
                    continue;
                }

                SubscriptionOptions options = match.Options;
                if (options.NoLocal && ReferenceEquals(match.Subscriber, publisher))
                {
                    continue;
                }

                // Read access is checked per delivery: deny rules carve topics out of a granted subscription, and a
                // reloaded ACL may have taken the grant away since the client subscribed.
                int aclVersion = -1;
                if (match.Subscriber.Access is { } access)
                {
                    aclVersion = access.CurrentVersion;
                    if (!access.Rules.CanRead(message.Topic))
                    {
                        continue;
                    }
                }

                byte qos = Math.Min(message.Qos, match.Qos);
                bool retain = options.RetainAsPublished && message.Retain;
                if (!overlapPossible || match.ShareGroup is not null)
                {
                    targets.Add(new RouteTarget(match.Subscriber, qos, 0, retain, options.Identifier != 0 ? [options.Identifier] : null, match.ShareGroup is null ? null : match, aclVersion));
                    continue;
                }

                index ??= t_index ??= new Dictionary<Session, int>(ReferenceEqualityComparer.Instance);
                if (index.TryGetValue(match.Subscriber, out int at))
                {
                    RouteTarget merged = targets[at];
                    targets[at] = merged with
                    {
                        Qos = Math.Max(merged.Qos, qos),
                        Retain = merged.Retain || retain,
                        SubscriptionIds = options.Identifier == 0 ? merged.SubscriptionIds
                            : merged.SubscriptionIds is null ? [options.Identifier] : [.. merged.SubscriptionIds, options.Identifier],
                    };
                }
                else
                {
                    index[match.Subscriber] = targets.Count;
                    targets.Add(new RouteTarget(match.Subscriber, qos, 0, retain, options.Identifier != 0 ? [options.Identifier] : null, AclVersion: aclVersion));
                }
            }

            index?.Clear();
        }
        finally
        {
            matches.Clear();
        }

        return matchedAt;
    }

    /// <summary>Matches and delivers at once: a message that needs no store write ($SYS and bridge state topics).</summary>
    public void Publish(ApplicationMessage message)
    {
        var targets = new List<RouteTarget>();
        long matchedAt = Match(message, targets);
        Deliver(message, CollectionsMarshal.AsSpan(targets), matchedAt);
    }

    /// <summary>
    /// Makes a publish take effect: the retained store is updated, and every target gets the message queued.
    /// Live forwarding carries RETAIN=0 [MQTT-3.3.1-9] unless the subscription asked for Retain As Published.
    /// A retained message also goes to the subscriptions made since it was matched (<paramref name="matchedAt"/>,
    /// from <see cref="Match"/>) whose retained replay has already run: the replay ran before the message was in the
    /// retained store and the match did not see them, so they would otherwise get it neither live nor retained
    /// [MQTT-3.3.1-6]. The window is short in memory and a whole store commit on disk. A retained message takes
    /// effect under the retained store's gate, as a replay is queued: a replay never carries a value older than a live
    /// one queued before it, and no newer value of the topic goes out between this one's copies.
    /// </summary>
    public void Deliver(ApplicationMessage message, ReadOnlySpan<RouteTarget> targets, long matchedAt, Session? publisher = null)
    {
        Delivered?.Invoke(message);
        if (!message.Retain)
        {
            Enqueue(message, targets);
            return;
        }

        lock (Retained.UpdateGate)
        {
            Retained.Apply(message);
            Enqueue(message, targets);
            if (Subscriptions.Additions != matchedAt)
            {
                EnqueueForLaterSubscriptions(message, targets, publisher);
            }
        }
    }

    private static void Enqueue(ApplicationMessage message, ReadOnlySpan<RouteTarget> targets)
    {
        foreach (ref readonly RouteTarget target in targets)
        {
            target.Session.Enqueue(message, target.Qos, target.Retain, storeSequence: target.StoreSequence, subscriptionIds: target.SubscriptionIds, sharedVia: target.Shared, aclVersion: target.AclVersion);
        }
    }

    private void EnqueueForLaterSubscriptions(ApplicationMessage message, ReadOnlySpan<RouteTarget> targets, Session? publisher)
    {
        var earlier = new HashSet<Session>(targets.Length, ReferenceEqualityComparer.Instance);
        foreach (ref readonly RouteTarget target in targets)
        {
            earlier.Add(target.Session);
        }

        // Left out: sessions the match found (they have their copy), subscriptions whose replay is still to come (it
        // will carry this message) and shared ones (no retained messages; their group had its copy).
        var late = new List<RouteTarget>();
        Match(message, late, publisher, s => s.ShareGroup is null && !s.RetainedReplayPending && !earlier.Contains(s.Subscriber));
        Enqueue(message, CollectionsMarshal.AsSpan(late));
    }
}
