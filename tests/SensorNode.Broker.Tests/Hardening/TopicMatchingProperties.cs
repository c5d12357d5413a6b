using FsCheck;
using FsCheck.Fluent;
using SensorNode.Broker.Diagnostics;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Routing;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Tests.Hardening;

/// <summary>
/// FsCheck properties for topic matching: <see cref="SubscriptionTrie"/>, <see cref="TopicRules.Matches"/> and an
/// independent naive matcher written here from the spec (§4.7) agree on generated topics and filters, including
/// '$' topics, empty levels and '+'/'#' at every edge; filter validity agrees with a naive validator; and the trie
/// under random subscribe/unsubscribe sequences (shared subscriptions included) equals a naive list model.
/// </summary>
public sealed class TopicMatchingProperties
{
    private static readonly string[] TopicLevels = ["a", "b", "", "$", "$SYS", "a$", "ab", " ", "日"];
    private static readonly string[] FilterLevels = ["a", "b", "", "$", "$SYS", "a$", "ab", "+", "+", "日"];

    private static Gen<string> Topic =>
        Gen.Choose(1, 5).SelectMany(n => Gen.ArrayOf(Gen.Elements(TopicLevels), n)).Select(l => string.Join('/', l)).Where(t => t.Length > 0);

    /// <summary>Valid filters: levels with '+' anywhere and an optional trailing '#'.</summary>
    private static Gen<string> Filter =>
        from n in Gen.Choose(0, 4)
        from levels in Gen.ArrayOf(Gen.Elements(FilterLevels), n)
        from hash in Gen.Elements(true, false)
        let all = hash ? [.. levels, "#"] : levels
        where all.Length > 0
        let f = string.Join('/', all)
        where f.Length > 0
        select f;

    /// <summary>The spec's matching rule, level by level, written independently of the broker.</summary>
    internal static bool NaiveMatches(string filter, string topic)
    {
        string[] f = filter.Split('/');
        string[] t = topic.Split('/');
        if (topic.StartsWith('$') && (f[0] == "+" || f[0] == "#"))
        {
            return false; // [MQTT-4.7.2-1]
        }

        for (int i = 0; i < f.Length; i++)
        {
            if (f[i] == "#")
            {
                return true; // the rest, including the parent level itself [MQTT-4.7.1-2]
            }

            if (i >= t.Length)
            {
                return false;
            }

            if (f[i] != "+" && f[i] != t[i])
            {
                return false;
            }
        }

        return f.Length == t.Length;
    }

    internal static bool NaiveValidFilter(string filter)
    {
        if (filter.Length == 0)
        {
            return false;
        }

        string[] levels = filter.Split('/');
        for (int i = 0; i < levels.Length; i++)
        {
            string l = levels[i];
            if (l.Contains('#') && (l != "#" || i != levels.Length - 1))
            {
                return false;
            }

            if (l.Contains('+') && l != "+")
            {
                return false;
            }
        }

        return true;
    }

    private static Session NewSession(string id) => new(id, cleanSession: true, new SessionLimits(), new BrokerMetrics());

    private static readonly Config Many = Config.QuickThrowOnFailure.WithMaxTest(2000);

    [Fact]
    public void TopicRules_matches_agrees_with_the_naive_matcher()
    {
        Prop.ForAll(Gen.Zip(Filter, Topic).ToArbitrary(), pair =>
            Assert.True(NaiveMatches(pair.Item1, pair.Item2) == TopicRules.Matches(pair.Item1, pair.Item2), $"filter '{pair.Item1}' topic '{pair.Item2}'"))
            .Check(Many);
    }

    [Fact]
    public void TopicRules_matches_the_same_on_UTF8_bytes_as_on_strings()
    {
        Prop.ForAll(Gen.Zip(Filter, Topic).ToArbitrary(), pair =>
            Assert.True(
                TopicRules.Matches(pair.Item1, pair.Item2) == TopicRules.Matches(System.Text.Encoding.UTF8.GetBytes(pair.Item1), System.Text.Encoding.UTF8.GetBytes(pair.Item2)),
                $"filter '{pair.Item1}' topic '{pair.Item2}'"))
            .Check(Many);
    }

    [Fact]
    public void Trie_agrees_with_the_naive_matcher_for_one_filter()
    {
        Prop.ForAll(Gen.Zip(Filter, Gen.ListOf(Topic, 8)).ToArbitrary(), pair =>
        {
            var trie = new SubscriptionTrie();
            Session s = NewSession("s");
            trie.Add(new Subscription(s, pair.Item1, 1));
            foreach (string topic in pair.Item2)
            {
                var matches = new List<Subscription>();
                trie.Match(topic, matches);
                Assert.True(NaiveMatches(pair.Item1, topic) == (matches.Count == 1), $"filter '{pair.Item1}' topic '{topic}': {matches.Count} matches");
                Assert.True(matches.Count <= 1);
            }
        }).Check(Many);
    }

    [Fact]
    public void Filter_validity_agrees_with_the_naive_validator()
    {
        Gen<string> raw = Gen.Choose(0, 8).SelectMany(n => Gen.ArrayOf(Gen.Elements("a", "/", "+", "#", "$", "", "b"), n)).Select(string.Concat);
        Prop.ForAll(raw.ToArbitrary(), f => Assert.True(NaiveValidFilter(f) == TopicRules.IsValidTopicFilter(f), $"filter '{f}'")).Check(Many);
    }

    [Fact]
    public void Topic_name_validity_rejects_exactly_wildcards_and_empty()
    {
        Gen<string> raw = Gen.Choose(0, 6).SelectMany(n => Gen.ArrayOf(Gen.Elements("a", "/", "+", "#", "$", " "), n)).Select(string.Concat);
        Prop.ForAll(raw.ToArbitrary(), t => Assert.True((t.Length > 0 && !t.Contains('+') && !t.Contains('#')) == TopicRules.IsValidTopicName(t), $"topic '{t}'")).Check(Many);
    }

    // ------------------------------------------------------------------ trie vs model under random operations

    private sealed record Op(bool Subscribe, int Client, string Filter, byte Qos);

    private static Gen<string> ModelFilter =>
        Gen.Frequency(
            (3, Filter),
            (1, from g in Gen.Elements("g1", "g2") from f in Filter select $"$share/{g}/{f}"));

    private static Gen<Op> Operation =>
        from sub in Gen.Frequency((3, Gen.Constant(true)), (2, Gen.Constant(false)))
        from client in Gen.Choose(0, 3)
        from filter in ModelFilter
        from qos in Gen.Choose(0, 2)
        select new Op(sub, client, filter, (byte)qos);

    [Fact]
    public void Trie_under_random_subscribe_and_unsubscribe_equals_a_naive_model()
    {
        Gen<(List<Op>, List<string>)> scenario = Gen.Zip(Gen.Choose(1, 60).SelectMany(n => Gen.ListOf(Operation, n)).Select(l => l.ToList()), Gen.ListOf(Topic, 12).Select(l => l.ToList()));
        Prop.ForAll(scenario.ToArbitrary(), s =>
        {
            (List<Op> ops, List<string> topics) = s;
            Session[] clients = [NewSession("c0"), NewSession("c1"), NewSession("c2"), NewSession("c3")];
            var trie = new SubscriptionTrie();
            var model = new Dictionary<(int Client, string Filter), byte>();
            foreach (Op op in ops)
            {
                if (op.Subscribe)
                {
                    bool isNew = !model.ContainsKey((op.Client, op.Filter));
                    Assert.Equal(isNew, trie.Add(new Subscription(clients[op.Client], op.Filter, op.Qos)));
                    model[(op.Client, op.Filter)] = op.Qos;
                }
                else
                {
                    Assert.Equal(model.Remove((op.Client, op.Filter)), trie.Remove(op.Filter, clients[op.Client]));
                }

                Assert.Equal(model.Count, trie.Count);
            }

            foreach (string topic in topics)
            {
                var matches = new List<Subscription>();
                trie.Match(topic, matches);
                string Key(int c, string f, byte q) => $"c{c}|{f}|{q}";

                // Non-shared: exactly the model's matching entries.
                var expectedPlain = model.Where(e => !SharedSubscription.IsShared(e.Key.Filter) && NaiveMatches(e.Key.Filter, topic))
                    .Select(e => Key(e.Key.Client, e.Key.Filter, e.Value)).Order(StringComparer.Ordinal).ToList();
                var actualPlain = matches.Where(m => m.ShareGroup is null)
                    .Select(m => $"{m.Subscriber.ClientId}|{m.Filter}|{m.Qos}").Order(StringComparer.Ordinal).ToList();
                Assert.Equal(expectedPlain, actualPlain);

                // Shared: one member per (group, filter) that has a matching member, and that member is one of them.
                var sharedGroups = model.Where(e => SharedSubscription.IsShared(e.Key.Filter))
                    .GroupBy(e => e.Key.Filter)
                    .Where(g => SharedSubscription.TryParse(g.Key, out _, out string? tf) && NaiveMatches(tf, topic))
                    .ToDictionary(g => g.Key, g => g.Select(e => Key(e.Key.Client, e.Key.Filter, e.Value)).ToHashSet());
                var actualShared = matches.Where(m => m.ShareGroup is not null).ToList();
                Assert.Equal(sharedGroups.Count, actualShared.Count);
                foreach (Subscription m in actualShared)
                {
                    Assert.True(sharedGroups.TryGetValue(m.Filter, out HashSet<string>? members), $"unexpected shared match {m.Filter} for '{topic}'");
                    Assert.Contains($"{m.Subscriber.ClientId}|{m.Filter}|{m.Qos}", members!);
                }
            }

            // Everything removed: the trie is empty and matches nothing.
            foreach ((int client, string filter) in model.Keys.ToList())
            {
                Assert.True(trie.Remove(filter, clients[client]));
            }

            Assert.Equal(0, trie.Count);
            foreach (string topic in topics)
            {
                var none = new List<Subscription>();
                trie.Match(topic, none);
                Assert.Empty(none);
            }
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(500));
    }

    [Fact]
    public void Shared_group_round_robin_visits_every_member()
    {
        Prop.ForAll(Gen.Zip(Filter, Gen.Choose(1, 4)).ToArbitrary(), p =>
        {
            var trie = new SubscriptionTrie();
            Session[] members = [.. Enumerable.Range(0, p.Item2).Select(i => NewSession("m" + i))];
            foreach (Session m in members)
            {
                trie.Add(new Subscription(m, "$share/g/" + p.Item1, 1));
            }

            string topic = p.Item1.Replace("+", "x").Replace("/#", string.Empty).Replace("#", "x");
            if (!NaiveMatches(p.Item1, topic) || topic.Length == 0)
            {
                return;
            }

            var seen = new HashSet<string>();
            for (int i = 0; i < members.Length; i++)
            {
                var matches = new List<Subscription>();
                trie.Match(topic, matches);
                Assert.Single(matches);
                seen.Add(matches[0].Subscriber.ClientId);
            }

            Assert.Equal(members.Length, seen.Count);
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(300));
    }
}
