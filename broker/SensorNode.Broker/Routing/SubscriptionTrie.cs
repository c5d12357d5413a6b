namespace SensorNode.Broker.Routing;

/// <summary>
/// All subscriptions, indexed by topic level. A publish walks only the branches its topic can reach
/// (exact level, '+', '#'), so cost grows with topic depth and matches, not with the number of
/// subscriptions. Lookups use span-keyed dictionary lookups: matching a topic allocates nothing.
/// Shared subscriptions hang off the node of their filter by group; a match picks one member per group.
/// </summary>
public sealed class SubscriptionTrie
{
    private readonly Node _root = new(null, string.Empty);
    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);
    private int _count;
    private long _additions;

    public int Count => Volatile.Read(ref _count);

    /// <summary>How many times <see cref="Add"/> has run: a publish matched at one count and taking effect at another may have missed subscribers.</summary>
    public long Additions => Interlocked.Read(ref _additions);

    /// <summary>Adds or replaces (same subscriber, same filter [MQTT-3.8.4-3]) a subscription. Returns true when it is new.</summary>
    public bool Add(Subscription subscription)
    {
        _lock.EnterWriteLock();
        try
        {
            Node node = _root;
            string filter = subscription.TopicFilter;
            foreach (Range level in filter.AsSpan().Split('/'))
            {
                node = node.GetOrAddChild(filter[level]);
            }

            bool added = subscription.ShareGroup is { } group
                ? node.GetOrAddGroup(group).Set(subscription)
                : node.Subscribers.TryAdd(subscription.Subscriber, subscription);
            if (!added && subscription.ShareGroup is null)
            {
                node.Subscribers[subscription.Subscriber] = subscription;
            }

            if (added)
            {
                _count++;
            }

            Interlocked.Increment(ref _additions);
            return added;
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>Removes a subscriber's subscription to exactly this filter (shared or not). Returns true when one existed.</summary>
    public bool Remove(string filter, Sessions.Session subscriber)
    {
        string? group = null;
        if (SharedSubscription.TryParse(filter, out string? shareGroup, out string? topicFilter))
        {
            group = shareGroup;
            filter = topicFilter;
        }

        _lock.EnterWriteLock();
        try
        {
            Node? node = _root;
            foreach (Range level in filter.AsSpan().Split('/'))
            {
                node = node.TryGetChild(filter.AsSpan()[level]);
                if (node is null)
                {
                    return false;
                }
            }

            if (group is null ? !node.Subscribers.Remove(subscriber) : !node.RemoveFromGroup(group, subscriber))
            {
                return false;
            }

            _count--;
            node.PruneIfEmpty();
            return true;
        }
        finally
        {
            _lock.ExitWriteLock();
        }
    }

    /// <summary>Picks a member of <paramref name="via"/>'s share group other than <paramref name="except"/>, if any.</summary>
    public Subscription? PickShared(Subscription via, Sessions.Session except)
    {
        _lock.EnterReadLock();
        try
        {
            Node? node = _root;
            foreach (Range level in via.TopicFilter.AsSpan().Split('/'))
            {
                node = node.TryGetChild(via.TopicFilter.AsSpan()[level]);
                if (node is null)
                {
                    return null;
                }
            }

            return node.SharedGroups is { } groups && groups.TryGetValue(via.ShareGroup!, out ShareGroup? group) ? group.Pick(except) : null;
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>Adds every subscription whose filter matches <paramref name="topic"/> to <paramref name="matches"/>.</summary>
    public void Match(string topic, List<Subscription> matches)
    {
        _lock.EnterReadLock();
        try
        {
            bool dollarTopic = topic.Length > 0 && topic[0] == '$';
            MatchLevel(_root, topic.AsSpan(), dollarTopic, matches);
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    private static void MatchLevel(Node node, ReadOnlySpan<char> rest, bool firstLevelOfDollarTopic, List<Subscription> matches)
    {
        int slash = rest.IndexOf('/');
        ReadOnlySpan<char> level = slash < 0 ? rest : rest[..slash];

        // Filters beginning with a wildcard do not match topics beginning with '$' [MQTT-4.7.2-1].
        if (!firstLevelOfDollarTopic)
        {
            if (node.MultiLevel is { } hash)
            {
                AddAll(hash, matches);
            }

            if (node.SingleLevel is { } plus)
            {
                Descend(plus, rest, slash, matches);
            }
        }

        if (node.TryGetExactChild(level) is { } exact)
        {
            Descend(exact, rest, slash, matches);
        }
    }

    private static void Descend(Node child, ReadOnlySpan<char> rest, int slash, List<Subscription> matches)
    {
        if (slash < 0)
        {
            AddAll(child, matches);

            // "sport/#" also matches "sport" [MQTT-4.7.1-2].
            if (child.MultiLevel is { } parentMatch)
            {
                AddAll(parentMatch, matches);
            }
        }
        else
        {
            MatchLevel(child, rest[(slash + 1)..], false, matches);
        }
    }

    private static void AddAll(Node node, List<Subscription> matches)
    {
        foreach (KeyValuePair<Sessions.Session, Subscription> entry in node.Subscribers)
        {
            matches.Add(entry.Value);
        }

        if (node.SharedGroups is { } groups)
        {
            foreach (KeyValuePair<string, ShareGroup> group in groups)
            {
                if (group.Value.Pick() is { } chosen)
                {
                    matches.Add(chosen);
                }
            }
        }
    }

    /// <summary>The members of one share group on one filter; messages go to them in turn (§4.8.2).</summary>
    private sealed class ShareGroup
    {
        private readonly List<Subscription> _members = [];
        private int _next;

        public int Count => _members.Count;

        /// <summary>Adds or replaces the member's subscription; true when the member is new.</summary>
        public bool Set(Subscription subscription)
        {
            int at = _members.FindIndex(m => ReferenceEquals(m.Subscriber, subscription.Subscriber));
            if (at >= 0)
            {
                _members[at] = subscription;
                return false;
            }

            _members.Add(subscription);
            return true;
        }

        public bool Remove(Sessions.Session subscriber) => _members.RemoveAll(m => ReferenceEquals(m.Subscriber, subscriber)) > 0;

        /// <summary>Round robin over the members, preferring those connected now; an offline persistent member queues.</summary>
        public Subscription? Pick(Sessions.Session? except = null)
        {
            int count = _members.Count;
            if (count == 0)
            {
                return null;
            }

            // In the order they subscribed, the first one first, as Mosquitto goes.
            int start = (int)((uint)(Interlocked.Increment(ref _next) - 1) % (uint)count);
            Subscription? fallback = null;
            for (int i = 0; i < count; i++)
            {
                Subscription candidate = _members[(start + i) % count];
                if (ReferenceEquals(candidate.Subscriber, except))
                {
                    continue;
                }

                if (candidate.Subscriber.IsConnected)
                {
                    return candidate;
                }

                fallback ??= candidate;
            }

            return fallback;
        }
    }

    private sealed class Node
    {
        private readonly Node? _parent;
        private readonly string _level;
        private Dictionary<string, Node>? _children;
        private Dictionary<string, Node>.AlternateLookup<ReadOnlySpan<char>> _childrenBySpan;

        public Node(Node? parent, string level)
        {
            _parent = parent;
            _level = level;
        }

        public Dictionary<Sessions.Session, Subscription> Subscribers { get; } = new(ReferenceEqualityComparer.Instance);

        public Dictionary<string, ShareGroup>? SharedGroups { get; private set; }

        public Node? SingleLevel { get; private set; }

        public Node? MultiLevel { get; private set; }

        public Node? TryGetChild(ReadOnlySpan<char> level)
        {
            if (level.Length == 1)
            {
                if (level[0] == '+')
                {
                    return SingleLevel;
                }

                if (level[0] == '#')
                {
                    return MultiLevel;
                }
            }

            return _children is not null && _childrenBySpan.TryGetValue(level, out Node? child) ? child : null;
        }

        /// <summary>Exact-level lookup used when matching a topic, where '+' and '#' are ordinary text.</summary>
        public Node? TryGetExactChild(ReadOnlySpan<char> level) =>
            _children is not null && _childrenBySpan.TryGetValue(level, out Node? child) ? child : null;

        public Node GetOrAddChild(string level)
        {
            if (level == "+")
            {
                return SingleLevel ??= new Node(this, level);
            }

            if (level == "#")
            {
                return MultiLevel ??= new Node(this, level);
            }

            if (_children is null)
            {
                _children = new Dictionary<string, Node>(StringComparer.Ordinal);
                _childrenBySpan = _children.GetAlternateLookup<ReadOnlySpan<char>>();
            }

            if (!_children.TryGetValue(level, out Node? child))
            {
                child = new Node(this, level);
                _children.Add(level, child);
            }

            return child;
        }

        public ShareGroup GetOrAddGroup(string group)
        {
            SharedGroups ??= new Dictionary<string, ShareGroup>(StringComparer.Ordinal);
            if (!SharedGroups.TryGetValue(group, out ShareGroup? shareGroup))
            {
                shareGroup = new ShareGroup();
                SharedGroups.Add(group, shareGroup);
            }

            return shareGroup;
        }

        public bool RemoveFromGroup(string group, Sessions.Session subscriber)
        {
            if (SharedGroups is null || !SharedGroups.TryGetValue(group, out ShareGroup? shareGroup) || !shareGroup.Remove(subscriber))
            {
                return false;
            }

            if (shareGroup.Count == 0)
            {
                SharedGroups.Remove(group);
                if (SharedGroups.Count == 0)
                {
                    SharedGroups = null;
                }
            }

            return true;
        }

        public void PruneIfEmpty()
        {
            Node node = this;
            while (node._parent is { } parent && node.Subscribers.Count == 0 && node.SharedGroups is null && node.SingleLevel is null && node.MultiLevel is null && (node._children is null || node._children.Count == 0))
            {
                parent.RemoveChild(node);
                node = parent;
            }
        }

        private void RemoveChild(Node child)
        {
            if (ReferenceEquals(SingleLevel, child))
            {
                SingleLevel = null;
            }
            else if (ReferenceEquals(MultiLevel, child))
            {
                MultiLevel = null;
            }
            else
            {
                _children?.Remove(child._level);
            }
        }
    }
}
