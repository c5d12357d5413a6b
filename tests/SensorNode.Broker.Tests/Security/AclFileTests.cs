using SensorNode.Broker.Security;

namespace SensorNode.Broker.Tests.Security;

public sealed class AclFileTests
{
    private const string MatrixAcl = """
        # Anonymous clients (before any 'user' line)
        topic read public/#
        topic read $SYS/broker/uptime

        user alice
        topic readwrite home/alice/#
        topic read home/+/temperature
        topic write alerts/#
        topic deny home/alice/secret/#

        user bob
        topic home/bob/#
        topic read #

        user admin
        topic readwrite #
        topic read $SYS/#

        # Everyone
        pattern readwrite devices/%c/#
        pattern read users/%u/inbox
        pattern write users/%u/outbox
        """;

    private static AclFile Matrix() => AclFile.Parse("acl.conf", MatrixAcl.Split('\n'));

    // (user, client id, topic, may read, may write): users × topics × read/write, with wildcards, $SYS,
    // patterns (%u, %c), the anonymous section and deny carve-outs.
    public static TheoryData<string?, string, string, bool, bool> Cases => new()
    {
        // Anonymous: the section before the first 'user' line, plus %c patterns (never %u ones).
        { null, "anon1", "public/news", true, false },
        { null, "anon1", "public/a/b/c", true, false },
        { null, "anon1", "public", true, false },
        { null, "anon1", "home/alice/door", false, false },
        { null, "anon1", "$SYS/broker/uptime", true, false },
        { null, "anon1", "$SYS/broker/load", false, false },
        { null, "anon1", "devices/anon1/state", true, true },
        { null, "anon1", "devices/anon2/state", false, false },
        { null, "anon1", "users//inbox", false, false },
        { null, "anon1", "users/anon1/inbox", false, false },

        // alice: own subtree, '+' read, write-only alerts, a deny carve-out; no anonymous rules.
        { "alice", "c-alice", "home/alice/door", true, true },
        { "alice", "c-alice", "home/alice", true, true },
        { "alice", "c-alice", "home/alice/temperature", true, true },
        { "alice", "c-alice", "home/alice/secret", false, false },
        { "alice", "c-alice", "home/alice/secret/pin", false, false },
        { "alice", "c-alice", "home/alice/secretary", true, true },
        { "alice", "c-alice", "home/bob/temperature", true, false },
        { "alice", "c-alice", "home/bob/door", false, false },
        { "alice", "c-alice", "home/bob/kitchen/temperature", false, false },
        { "alice", "c-alice", "alerts/fire", false, true },
        { "alice", "c-alice", "alerts", false, true },
        { "alice", "c-alice", "public/news", false, false },
        { "alice", "c-alice", "users/alice/inbox", true, false },
        { "alice", "c-alice", "users/alice/outbox", false, true },
        { "alice", "c-alice", "users/bob/inbox", false, false },
        { "alice", "c-alice", "devices/c-alice/x", true, true },
        { "alice", "c-alice", "devices/c-bob/x", false, false },
        { "alice", "c-alice", "$SYS/broker/uptime", false, false },

        // bob: implicit readwrite (no access word), read '#' which does not reach $SYS.
        { "bob", "c-bob", "home/bob/door", true, true },
        { "bob", "c-bob", "home/alice/door", true, false },
        { "bob", "c-bob", "home/alice/secret/pin", true, false },
        { "bob", "c-bob", "anything/at/all", true, false },
        { "bob", "c-bob", "$SYS/broker/uptime", false, false },
        { "bob", "c-bob", "users/bob/outbox", true, true },

        // admin: everything, $SYS read-only.
        { "admin", "c-admin", "home/alice/secret/pin", true, true },
        { "admin", "c-admin", "$SYS/broker/load", true, false },

        // A user without a section: patterns only.
        { "carol", "c-carol", "users/carol/inbox", true, false },
        { "carol", "c-carol", "devices/c-carol/x", true, true },
        { "carol", "c-carol", "home/carol/x", false, false },
        { "carol", "c-carol", "public/news", false, false },

        // Client ids and user names with wildcards or separators get no pattern rules (they would widen them).
        { null, "a/b", "devices/a/b/x", false, false },
        { null, "+", "devices/+/x", false, false },
        { null, "+", "devices/x/y", false, false },
        { null, "#", "devices/anything", false, false },
        { "ev+l", "c-evil", "users/ev+l/inbox", false, false },
        { "ev#l", "c-evil", "users/ev#l/outbox", false, false },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Acl_matrix(string? user, string clientId, string topic, bool canRead, bool canWrite)
    {
        AccessRules rules = Matrix().RulesFor(user, clientId);

        Assert.True(canRead == rules.CanRead(topic), $"{user ?? "(anonymous)"}/{clientId} read {topic}: expected {canRead}");
        Assert.True(canWrite == rules.CanPublish(topic), $"{user ?? "(anonymous)"}/{clientId} write {topic}: expected {canWrite}");
    }

    // Granted when the filter can match a topic the client may read (what it delivers is checked topic by topic);
    // refused when it can match none, or a deny rule covers all it can match.
    public static TheoryData<string?, string, bool> SubscribeCases => new()
    {
        { null, "public/#", true },
        { null, "public/+", true },
        { null, "public", true },
        { null, "#", true },                         // delivers public/... only
        { null, "+/news", true },                    // public/news
        { null, "private/#", false },                // nothing readable under it
        { null, "$SYS/broker/uptime", true },
        { null, "$SYS/#", true },                    // delivers $SYS/broker/uptime only
        { null, "$SYS/broker/load/#", false },
        { "alice", "home/alice/#", true },          // granted; the deny carve-out is checked per delivery
        { "alice", "home/alice/+", true },
        { "alice", "home/alice/secret/#", false },   // wholly covered by the deny
        { "alice", "home/alice/secret/pin", false },
        { "alice", "home/+/temperature", true },
        { "alice", "home/bob/temperature", true },
        { "alice", "home/+/+", true },
        { "alice", "home/#", true },
        { "alice", "#", true },
        { "alice", "alerts/#", false },              // write-only
        { "bob", "#", true },
        { "bob", "+/+", true },
        { "bob", "$SYS/#", false },                  // '#' does not reach $SYS topics
        { "bob", "$SYS/broker/uptime", false },
        { "admin", "$SYS/#", true },
        { "admin", "#", true },
        { "carol", "users/carol/inbox", true },
        { "carol", "users/+/inbox", true },
        { "carol", "users/dave/inbox", false },
    };

    [Theory]
    [InlineData("a/b", "a/b", true)]
    [InlineData("a/b", "a/c", false)]
    [InlineData("a/+", "+/b", true)]
    [InlineData("a/#", "a", true)]                  // 'a/#' matches 'a' itself [MQTT-4.7.1-2]
    [InlineData("a/#", "b/#", false)]
    [InlineData("a/+/c", "a/b", false)]
    [InlineData("#", "$SYS/x", false)]              // [MQTT-4.7.2-1]
    [InlineData("+/x", "$SYS/x", false)]
    [InlineData("$SYS/#", "$SYS/broker/+", true)]
    [InlineData("#", "+/+", true)]
    public void Intersects_says_whether_two_filters_share_a_topic(string first, string second, bool expected)
    {
        Assert.Equal(expected, AccessRules.Intersects(first, second));
        Assert.Equal(expected, AccessRules.Intersects(second, first));
    }

    [Theory]
    [MemberData(nameof(SubscribeCases))]
    public void Subscribe_matrix(string? user, string filter, bool allowed)
    {
        AccessRules rules = Matrix().RulesFor(user, "c-" + (user ?? "anon"));
        Assert.True(allowed == rules.CanSubscribe(filter), $"{user ?? "(anonymous)"} subscribe {filter}: expected {allowed}");
    }

    [Fact]
    public void Deny_wins_whatever_the_order_of_the_lines()
    {
        AclFile denyFirst = AclFile.Parse("acl", ["user u", "topic deny a/secret", "topic readwrite a/#"]);
        AclFile denyLast = AclFile.Parse("acl", ["user u", "topic readwrite a/#", "topic deny a/secret"]);
        AclFile viaPattern = AclFile.Parse("acl", ["user u", "topic readwrite a/#", "pattern deny a/%u"]);
        foreach (AclFile acl in new[] { denyFirst, denyLast })
        {
            AccessRules rules = acl.RulesFor("u", "c");
            Assert.False(rules.CanRead("a/secret"));
            Assert.False(rules.CanPublish("a/secret"));
            Assert.True(rules.CanRead("a/public"));
        }

        Assert.False(viaPattern.RulesFor("u", "c").CanPublish("a/u"));
        Assert.True(viaPattern.RulesFor("u", "c").CanPublish("a/v"));
    }

    [Fact]
    public void A_user_section_may_be_split_and_its_rules_accumulate()
    {
        AclFile acl = AclFile.Parse("acl", ["user alice", "topic read a/#", "user bob", "topic read b/#", "user alice", "topic write c/#"]);
        AccessRules alice = acl.RulesFor("alice", "c");
        Assert.True(alice.CanRead("a/x"));
        Assert.True(alice.CanPublish("c/x"));
        Assert.False(alice.CanRead("b/x"));
    }

    [Fact]
    public void Without_any_rule_nothing_is_allowed()
    {
        AccessRules rules = AclFile.Parse("acl", ["# empty"]).RulesFor("alice", "c");
        Assert.False(rules.CanRead("a"));
        Assert.False(rules.CanPublish("a"));
        Assert.False(rules.CanSubscribe("#"));
        Assert.False(AclFile.Parse("acl", []).RulesFor(null, "c").CanPublish("a"));
    }

    [Theory]
    [InlineData("topic", 3)]
    [InlineData("pattern", 3)]
    [InlineData("user", 3)]
    [InlineData("topics read a/#", 3)]
    [InlineData("read a/#", 3)]
    [InlineData("Topic read a/#", 3)]
    public void Unknown_or_incomplete_lines_name_file_and_line(string line, int expectedLine)
    {
        var ex = Assert.Throws<ConfigFileException>(() => AclFile.Parse("/etc/sensornode/acl.conf", ["# comment", "topic read a/#", line, "topic read b/#"]));

        Assert.Equal(expectedLine, ex.Line);
        Assert.Equal("/etc/sensornode/acl.conf", ex.Path);
        Assert.StartsWith($"/etc/sensornode/acl.conf:{expectedLine}: ", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("topic read", "'read' needs a topic filter")]
    [InlineData("topic deny", "'deny' needs a topic filter")]
    [InlineData("pattern write", "'write' needs a topic filter")]
    [InlineData("topic read a/#/b", "is not a valid topic filter")]
    [InlineData("topic a/b#", "is not a valid topic filter")]
    [InlineData("topic readwrite a+/b", "is not a valid topic filter")]
    [InlineData("pattern read devices/%c#", "is not a valid topic filter")]
    [InlineData("topic read a/# extra", "is not a valid topic filter")]
    public void Bad_rules_name_file_line_and_problem(string line, string problem)
    {
        var ex = Assert.Throws<ConfigFileException>(() => AclFile.Parse("acl.conf", ["user alice", string.Empty, "topic read ok/#", line]));

        Assert.Equal(4, ex.Line);
        Assert.StartsWith("acl.conf:4: ", ex.Message, StringComparison.Ordinal);
        Assert.Contains(problem, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_reads_a_file_and_reports_its_path()
    {
        string path = Path.Combine(Infrastructure.TestBroker.NewDataDirectory(), "acl.conf");
        File.WriteAllLines(path, ["user alice", "topic read a/#", "bogus line"]);

        var ex = Assert.Throws<ConfigFileException>(() => AclFile.Load(path));
        Assert.StartsWith($"{path}:3: ", ex.Message, StringComparison.Ordinal);
    }

    // A tab between the words of a rule (common in hand-edited files) must not turn a deny line into a grant:
    // either the line is refused, or it means what it says.
    [Fact]
    public void Tab_separated_deny_rule_is_not_silently_turned_into_a_grant()
    {
        AclFile acl;
        try
        {
            acl = AclFile.Parse("acl.conf", ["user alice", "topic read sensors/#", "topic\tdeny\tsensors/private/#"]);
        }
        catch (ConfigFileException ex)
        {
            Assert.Equal(3, ex.Line);
            return;
        }

        AccessRules alice = acl.RulesFor("alice", "c");
        Assert.False(alice.CanRead("sensors/private/x"), "'topic<TAB>deny<TAB>sensors/private/#' was parsed without error but does not deny sensors/private/x");
        Assert.False(alice.CanPublish("deny\tsensors/private/x"), "the tab-separated deny line became a readwrite grant on the topic 'deny<TAB>sensors/private/#'");
    }

    [Theory]
    [InlineData("#", "a/b", true)]
    [InlineData("#", "#", true)]
    [InlineData("#", "+/b", true)]
    [InlineData("#", "$SYS/x", false)]
    [InlineData("#", "$SYS/#", false)]
    [InlineData("+/#", "$SYS/x", false)]
    [InlineData("+/#", "a", true)]
    [InlineData("$SYS/#", "$SYS/broker/x", true)]
    [InlineData("$SYS/#", "$SYS/#", true)]
    [InlineData("a/#", "a", true)]
    [InlineData("a/#", "a/#", true)]
    [InlineData("a/#", "a/b/#", true)]
    [InlineData("a/#", "a/+/c", true)]
    [InlineData("a/b/#", "a/#", false)]
    [InlineData("a/b/#", "a/+/c", false)]
    [InlineData("a/+", "a/b", true)]
    [InlineData("a/+", "a/+", true)]
    [InlineData("a/+", "a/#", false)]
    [InlineData("a/+", "a/b/c", false)]
    [InlineData("a/+", "a", false)]
    [InlineData("a/b", "a/+", false)]
    [InlineData("a/b", "a/b", true)]
    [InlineData("a/b", "a/b/c", false)]
    [InlineData("a/b", "a", false)]
    [InlineData("+", "+", true)]
    [InlineData("+", "$SYS", false)]
    [InlineData("+/+/c", "a/+/c", true)]
    [InlineData("a/+/c", "+/+/c", false)]
    [InlineData("a//b", "a/+/b", false)]
    [InlineData("a/+/b", "a//b", true)]
    public void Covers_is_true_only_when_every_topic_of_the_filter_matches_the_rule(string rule, string filter, bool covers)
    {
        Assert.Equal(covers, AccessRules.Covers(rule, filter));
    }
}
