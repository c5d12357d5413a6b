using System.Text;
using SensorNode.Broker.Diagnostics;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Routing;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Tests.Routing;

/// <summary>
/// The subscription trie against <see cref="TopicRules.Matches"/> (the reference matcher) and against a naive
/// list model, on hand-picked cases and on seeded random topics, filters and add/remove sequences.
/// </summary>
public sealed class SubscriptionTrieTests
{
    private static readonly string[] TopicLevels = ["a", "b", "c", "ab", "", "$", "$a", "$SYS"];
    private static readonly string[] FilterLevels = ["a", "b", "c", "ab", "", "$", "$a", "$SYS", "+", "+"];

    private static Session NewSession(string clientId) => new(clientId, cleanSession: true, new SessionLimits(), new BrokerMetrics());

    private static List<string> Match(SubscriptionTrie trie, string topic)
    {
        var matches = new List<Subscription>();
        trie.Match(topic, matches);
        return [.. matches.Select(Key).Order(StringComparer.Ordinal)];
    }

    private static string Key(Subscription s) => $"{s.Subscriber.ClientId}|{s.Filter}|{s.Qos}";

    private static List<string> Reference(IEnumerable<Subscription> subscriptions, string topic) =>
        [.. subscriptions.Where(s => TopicRules.Matches(s.Filter, topic)).Select(Key).Order(StringComparer.Ordinal)];

    // ------------------------------------------------------------------ hand-picked cases

    [Fact]
    public void Matches_exact_single_and_multi_level_filters()
    {
        var trie = new SubscriptionTrie();
        Session s = NewSession("s");
        foreach (string filter in new[] { "sport/tennis/player1", "sport/tennis/+", "sport/#", "#", "+/tennis/#", "sport/+/player1/#", "/+", "+/+" })
        {
            Assert.True(trie.Add(new Subscription(s, filter, 1)));
        }

        Assert.Equal(8, trie.Count);
        Assert.Equal(
            new[] { "s|#|1", "s|+/tennis/#|1", "s|sport/#|1", "s|sport/+/player1/#|1", "s|sport/tennis/+|1", "s|sport/tennis/player1|1" },
            Match(trie, "sport/tennis/player1"));
        Assert.Equal(new[] { "s|#|1", "s|sport/#|1" }, Match(trie, "sport"));
        Assert.Equal(new[] { "s|#|1", "s|+/+|1", "s|+/tennis/#|1", "s|sport/#|1" }, Match(trie, "sport/tennis"));
        Assert.Equal(new[] { "s|#|1", "s|+/+|1", "s|/+|1" }, Match(trie, "/finance"));
        Assert.Equal(new[] { "s|#|1", "s|+/tennis/#|1", "s|sport/#|1", "s|sport/+/player1/#|1" }, Match(trie, "sport/tennis/player1/ranking"));
        Assert.Equal(new[] { "s|#|1" }, Match(trie, "other/x/y"));
    }

    [Fact]
    public void Multi_level_wildcard_matches_the_parent_level()
    {
        // [MQTT-4.7.1-2]: "sport/#" matches "sport"; "+/#" matches any one-level topic.
        var trie = new SubscriptionTrie();
        Session s = NewSession("s");
        trie.Add(new Subscription(s, "sport/#", 0));
        trie.Add(new Subscription(s, "+/#", 0));
        trie.Add(new Subscription(s, "a/+/#", 0));

        Assert.Equal(new[] { "s|+/#|0", "s|sport/#|0" }, Match(trie, "sport"));
        Assert.Equal(new[] { "s|+/#|0", "s|a/+/#|0" }, Match(trie, "a/b"));
        Assert.Equal(new[] { "s|+/#|0" }, Match(trie, "a"));
        Assert.Equal(new[] { "s|+/#|0" }, Match(trie, "sportx"));
    }

    [Fact]
    public void Dollar_topics_are_not_matched_by_filters_starting_with_a_wildcard()
    {
        // [MQTT-4.7.2-1]
        var trie = new SubscriptionTrie();
        Session s = NewSession("s");
        foreach (string filter in new[] { "#", "+", "+/#", "+/monitor/Clients", "$SYS/#", "$SYS/monitor/+", "a/#" })
        {
            trie.Add(new Subscription(s, filter, 2));
        }

        Assert.Equal(new[] { "s|$SYS/#|2", "s|$SYS/monitor/+|2" }, Match(trie, "$SYS/monitor/Clients"));
        Assert.Equal(new[] { "s|$SYS/#|2" }, Match(trie, "$SYS"));
        Assert.Empty(Match(trie, "$other"));
        Assert.Equal(new[] { "s|#|2", "s|+/#|2", "s|+/monitor/Clients|2" }, Match(trie, "x/monitor/Clients"));

        // '$' later in the topic is an ordinary character.
        Assert.Equal(new[] { "s|#|2", "s|+/#|2", "s|a/#|2" }, Match(trie, "a/$SYS"));
    }

    [Fact]
    public void Empty_levels_and_leading_or_trailing_slashes_are_levels_of_their_own()
    {
        var trie = new SubscriptionTrie();
        Session s = NewSession("s");
        foreach (string filter in new[] { "/", "a/", "/a", "a//b", "a/+/b", "+", "+/+" })
        {
            trie.Add(new Subscription(s, filter, 0));
        }

        Assert.Equal(new[] { "s|+/+|0", "s|/|0" }, Match(trie, "/"));
        Assert.Equal(new[] { "s|+/+|0", "s|a/|0" }, Match(trie, "a/"));
        Assert.Equal(new[] { "s|+/+|0", "s|/a|0" }, Match(trie, "/a"));
        Assert.Equal(new[] { "s|+|0" }, Match(trie, "a"));
        Assert.Equal(new[] { "s|a/+/b|0", "s|a//b|0" }, Match(trie, "a//b"));
        Assert.Empty(Match(trie, "a///b"));
    }

    [Fact]
    public void Same_session_and_filter_replaces_the_subscription()
    {
        // [MQTT-3.8.4-3]: a SUBSCRIBE to an existing filter replaces the subscription.
        var trie = new SubscriptionTrie();
        Session s = NewSession("s");
        Session t = NewSession("t");
        Assert.True(trie.Add(new Subscription(s, "a/+", 0)));
        Assert.False(trie.Add(new Subscription(s, "a/+", 2)));
        Assert.True(trie.Add(new Subscription(t, "a/+", 1)));
        Assert.True(trie.Add(new Subscription(s, "a/#", 1)));
        Assert.Equal(3, trie.Count);
        Assert.Equal(new[] { "s|a/#|1", "s|a/+|2", "t|a/+|1" }, Match(trie, "a/b"));
    }

    [Fact]
    public void Remove_takes_only_that_session_and_that_filter_and_prunes()
    {
        var trie = new SubscriptionTrie();
        Session s = NewSession("s");
        Session t = NewSession("t");
        trie.Add(new Subscription(s, "a/b/c", 0));
        trie.Add(new Subscription(t, "a/b/c", 0));
        trie.Add(new Subscription(s, "a/b", 0));
        trie.Add(new Subscription(s, "a/#", 0));

        Assert.False(trie.Remove("a/b/c/d", s));
        Assert.False(trie.Remove("a/+", s));
        Assert.False(trie.Remove("a/b/c", NewSession("s")));
        Assert.True(trie.Remove("a/b/c", s));
        Assert.False(trie.Remove("a/b/c", s));
        Assert.Equal(3, trie.Count);
        Assert.Equal(new[] { "s|a/#|0", "t|a/b/c|0" }, Match(trie, "a/b/c"));

        Assert.True(trie.Remove("a/b", s));
        Assert.Equal(new[] { "s|a/#|0", "t|a/b/c|0" }, Match(trie, "a/b/c"));
        Assert.Equal(new[] { "s|a/#|0" }, Match(trie, "a/b"));

        Assert.True(trie.Remove("a/#", s));
        Assert.True(trie.Remove("a/b/c", t));
        Assert.Equal(0, trie.Count);
        Assert.Empty(Match(trie, "a/b/c"));
        Assert.Empty(Match(trie, "a"));

        // Still usable after everything was pruned.
        Assert.True(trie.Add(new Subscription(t, "a/b/c", 2)));
        Assert.Equal(new[] { "t|a/b/c|2" }, Match(trie, "a/b/c"));
    }

    // ------------------------------------------------------------------ randomized comparison

    private static string RandomTopic(Random random)
    {
        while (true)
        {
            int levels = random.Next(1, 6);
            string topic = string.Join('/', Enumerable.Range(0, levels).Select(_ => TopicLevels[random.Next(TopicLevels.Length)]));
            if (topic.Length > 0)
            {
                return topic;
            }
        }
    }

    private static string RandomFilter(Random random)
    {
        if (random.Next(20) == 0)
        {
            return "#";
        }

        while (true)
        {
            int levels = random.Next(1, 5);
            var parts = Enumerable.Range(0, levels).Select(_ => FilterLevels[random.Next(FilterLevels.Length)]).ToList();
            if (random.Next(4) == 0)
            {
                parts.Add("#");
            }

            string filter = string.Join('/', parts);
            if (filter.Length > 0)
            {
                Assert.True(TopicRules.IsValidTopicFilter(filter), filter);
                return filter;
            }
        }
    }

    /// <summary>A topic that the filter matches (wildcards filled in), unless it starts with a wildcard and a '$' level.</summary>
    private static string TopicFor(string filter, Random random)
    {
        var levels = new List<string>();
        foreach (string level in filter.Split('/'))
        {
            if (level == "+")
            {
                levels.Add(TopicLevels[random.Next(TopicLevels.Length)]);
            }
            else if (level == "#")
            {
                int extra = random.Next(0, 3);
                for (int i = 0; i < extra; i++)
                {
                    levels.Add(TopicLevels[random.Next(TopicLevels.Length)]);
                }

                if (extra == 0 && levels.Count == 0)
                {
                    levels.Add("a");
                }
            }
            else
            {
                levels.Add(level);
            }
        }

        string topic = string.Join('/', levels);
        return topic.Length == 0 ? "/" : topic;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(20_240_601)]
    public void Trie_agrees_with_the_reference_matcher_on_random_topics_and_filters(int seed)
    {
        var random = new Random(seed);
        var sessions = Enumerable.Range(0, 8).Select(i => NewSession("c" + i)).ToArray();
        var trie = new SubscriptionTrie();
        var model = new Dictionary<(Session, string), Subscription>();
        for (int i = 0; i < 400; i++)
        {
            var subscription = new Subscription(sessions[random.Next(sessions.Length)], RandomFilter(random), (byte)random.Next(3));
            bool isNew = model.TryAdd((subscription.Subscriber, subscription.Filter), subscription);
            model[(subscription.Subscriber, subscription.Filter)] = subscription;
            Assert.Equal(isNew, trie.Add(subscription));
        }

        Assert.Equal(model.Count, trie.Count);
        string[] filters = [.. model.Keys.Select(k => k.Item2).Distinct()];
        int nonEmpty = 0;
        for (int i = 0; i < 4000; i++)
        {
            string topic = i % 2 == 0 ? RandomTopic(random) : TopicFor(filters[random.Next(filters.Length)], random);
            Assert.True(TopicRules.IsValidTopicName(topic), topic);
            List<string> expected = Reference(model.Values, topic);
            Assert.Equal(expected, Match(trie, topic));
            if (expected.Count > 0)
            {
                nonEmpty++;
            }
        }

        // The comparison means something only if many topics matched something.
        Assert.True(nonEmpty > 1000, $"only {nonEmpty} topics matched anything");
    }

    [Fact]
    public void Reference_matcher_agrees_with_a_regex_translation_of_the_filter()
    {
        // A second, independent oracle for the oracle: filter → anchored regular expression.
        var random = new Random(7);
        for (int i = 0; i < 3000; i++)
        {
            string filter = RandomFilter(random);
            string topic = i % 2 == 0 ? RandomTopic(random) : TopicFor(filter, random);
            Assert.Equal(RegexMatches(filter, topic), TopicRules.Matches(filter, topic));
        }
    }

    private static bool RegexMatches(string filter, string topic)
    {
        if (topic.StartsWith('$') && (filter.StartsWith('+') || filter.StartsWith('#')))
        {
            return false;
        }

        var pattern = new StringBuilder("^");
        string[] levels = filter.Split('/');
        for (int i = 0; i < levels.Length; i++)
        {
            string level = levels[i];
            if (level == "#")
            {
                // "#" alone matches everything; "x/#" matches "x" and "x/anything".
                pattern.Append(i == 0 ? ".*" : "(/.*)?");
                break;
            }

            if (i > 0)
            {
                pattern.Append('/');
            }

            pattern.Append(level == "+" ? "[^/]*" : System.Text.RegularExpressions.Regex.Escape(level));
        }

        pattern.Append('$');
        return System.Text.RegularExpressions.Regex.IsMatch(topic, pattern.ToString());
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    public void Random_add_remove_sequences_agree_with_a_list_model(int seed)
    {
        var random = new Random(seed);
        var sessions = Enumerable.Range(0, 6).Select(i => NewSession("c" + i)).ToArray();
        string[] filterPool = [.. Enumerable.Range(0, 60).Select(_ => RandomFilter(random)).Distinct()];
        var trie = new SubscriptionTrie();
        var model = new List<Subscription>();

        for (int op = 0; op < 3000; op++)
        {
            Session session = sessions[random.Next(sessions.Length)];
            string filter = filterPool[random.Next(filterPool.Length)];
            int existing = model.FindIndex(s => ReferenceEquals(s.Subscriber, session) && s.Filter == filter);
            if (random.Next(10) < 6)
            {
                var subscription = new Subscription(session, filter, (byte)random.Next(3));
                Assert.Equal(existing < 0, trie.Add(subscription));
                if (existing >= 0)
                {
                    model[existing] = subscription;
                }
                else
                {
                    model.Add(subscription);
                }
            }
            else
            {
                Assert.Equal(existing >= 0, trie.Remove(filter, session));
                if (existing >= 0)
                {
                    model.RemoveAt(existing);
                }
            }

            Assert.Equal(model.Count, trie.Count);
            if (op % 25 == 0)
            {
                for (int i = 0; i < 30; i++)
                {
                    string topic = i % 2 == 0 ? RandomTopic(random) : TopicFor(filterPool[random.Next(filterPool.Length)], random);
                    Assert.Equal(Reference(model, topic), Match(trie, topic));
                }
            }
        }

        // Drain in random order: everything must go, and nothing may match afterwards.
        foreach (Subscription subscription in model.OrderBy(_ => random.Next()).ToList())
        {
            Assert.True(trie.Remove(subscription.Filter, subscription.Subscriber));
            model.Remove(subscription);
            Assert.Equal(model.Count, trie.Count);
            string topic = TopicFor(filterPool[random.Next(filterPool.Length)], random);
            Assert.Equal(Reference(model, topic), Match(trie, topic));
        }

        Assert.Equal(0, trie.Count);
        foreach (string filter in filterPool)
        {
            Assert.Empty(Match(trie, TopicFor(filter, random)));
            Assert.False(trie.Remove(filter, sessions[0]));
        }
    }
}
