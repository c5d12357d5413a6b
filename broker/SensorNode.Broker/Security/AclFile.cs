using SensorNode.Broker.Protocol;

namespace SensorNode.Broker.Security;

/// <summary>What an ACL line grants (Mosquitto's access types; <see cref="Deny"/> wins over any grant).</summary>
[Flags]
public enum AclAccess
{
    None = 0,
    Read = 1,
    Write = 2,
    ReadWrite = Read | Write,
    Deny = 4,
}

/// <summary>One ACL line: a topic filter (with %u / %c substituted for patterns) and its access.</summary>
public readonly record struct AclRule(string Filter, AclAccess Access);

/// <summary>
/// A Mosquitto-style ACL file: <c>topic [read|write|readwrite|deny] FILTER</c> lines apply to anonymous
/// clients until the first <c>user NAME</c> line, then to that user; <c>pattern [access] FILTER</c> lines apply
/// to every client with <c>%u</c> (user name) and <c>%c</c> (client id) substituted. '#' starts a comment.
/// </summary>
public sealed class AclFile
{
    private readonly List<AclRule> _anonymous = [];
    private readonly Dictionary<string, List<AclRule>> _users = new(StringComparer.Ordinal);
    private readonly List<AclRule> _patterns = [];

    public static AclFile Load(string path) => Parse(path, File.ReadAllLines(path));

    public static AclFile Parse(string path, IEnumerable<string> lines)
    {
        var acl = new AclFile();
        List<AclRule> current = acl._anonymous;
        int number = 0;
        foreach (string raw in lines)
        {
            number++;
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            string[] words = line.Split((char[]?)null, 3, StringSplitOptions.RemoveEmptyEntries);
            switch (words[0])
            {
                case "user" when words.Length >= 2:
                    string user = line[4..].Trim();
                    if (!acl._users.TryGetValue(user, out List<AclRule>? rules))
                    {
                        rules = [];
                        acl._users[user] = rules;
                    }

                    current = rules;
                    break;
                case "topic" or "pattern" when words.Length >= 2:
                    (AclAccess access, string filter) = ParseRule(path, number, line[words[0].Length..].Trim());
                    (words[0] == "topic" ? current : acl._patterns).Add(new AclRule(filter, access));
                    break;
                default:
                    throw new ConfigFileException(path, number, $"expected 'user NAME', 'topic [read|write|readwrite|deny] FILTER' or 'pattern [access] FILTER', got '{line}'");
            }
        }

        return acl;
    }

    private static (AclAccess Access, string Filter) ParseRule(string path, int number, string rest)
    {
        // Words are separated by any whitespace, tabs included, as in Mosquitto's files.
        int space = rest.AsSpan().IndexOfAny(" \t");
        string first = space < 0 ? rest : rest[..space];
        AclAccess? access = first switch
        {
            "read" => AclAccess.Read,
            "write" => AclAccess.Write,
            "readwrite" => AclAccess.ReadWrite,
            "deny" => AclAccess.Deny,
            _ => null,
        };
        string filter = access is null ? rest : rest[(space + 1)..].Trim();
        if (access is not null && space < 0)
        {
            throw new ConfigFileException(path, number, $"'{first}' needs a topic filter after it");
        }

        string check = filter.Replace("%u", "u", StringComparison.Ordinal).Replace("%c", "c", StringComparison.Ordinal);
        if (!TopicRules.IsValidTopicFilter(check))
        {
            throw new ConfigFileException(path, number, $"'{filter}' is not a valid topic filter");
        }

        return (access ?? AclAccess.ReadWrite, filter);
    }

    /// <summary>The rules that apply to one client: its user's (or the anonymous ones), then the patterns.</summary>
    public AccessRules RulesFor(string? user, string clientId)
    {
        var rules = new List<AclRule>(user is not null && _users.TryGetValue(user, out List<AclRule>? own) ? own : user is null ? _anonymous : []);
        foreach (AclRule pattern in _patterns)
        {
            if (user is null && pattern.Filter.Contains("%u", StringComparison.Ordinal))
            {
                continue;
            }

            // A substituted value containing wildcards or separators would widen the rule: such clients get no pattern rule.
            string substituted = pattern.Filter.Replace("%u", user, StringComparison.Ordinal).Replace("%c", clientId, StringComparison.Ordinal);
            if ((user is null || user.AsSpan().IndexOfAny("/+#") < 0) && clientId.AsSpan().IndexOfAny("/+#") < 0)
            {
                rules.Add(pattern with { Filter = substituted });
            }
        }

        return new AccessRules(rules);
    }
}

/// <summary>The compiled rules for one client.</summary>
public sealed class AccessRules(List<AclRule> rules)
{
    public static readonly AccessRules AllowAll = new([new AclRule("#", AclAccess.ReadWrite)]);

    public bool CanPublish(string topic) => Allows(topic, AclAccess.Write);

    public bool CanRead(string topic) => Allows(topic, AclAccess.Read);

    /// <summary>
    /// A subscription is allowed when it can match some topic a read rule allows, and no deny rule covers all it can
    /// match. What it delivers is checked topic by topic (<see cref="CanRead"/>), so <c>#</c> for a client that may
    /// read <c>sensor/#</c> is granted and brings only <c>sensor/...</c>, as with Mosquitto: tools such as MQTT
    /// Explorer subscribe to <c>#</c> and show what the user may see.
    /// </summary>
    public bool CanSubscribe(string filter)
    {
        bool granted = false;
        foreach (AclRule rule in rules)
        {
            if (rule.Access == AclAccess.Deny && Covers(rule.Filter, filter))
            {
                return false;
            }

            granted |= (rule.Access & AclAccess.Read) != 0 && Intersects(rule.Filter, filter);
        }

        return granted;
    }

    /// <summary>True when some topic is matched by both filters (wildcards at the first level do not match '$' topics).</summary>
    public static bool Intersects(string first, string second)
    {
        string[] a = first.Split('/');
        string[] b = second.Split('/');
        for (int i = 0; ; i++)
        {
            bool aEnds = i >= a.Length;
            bool bEnds = i >= b.Length;
            if (aEnds || bEnds)
            {
                // Both end here, or the longer one goes on with a '#' that also matches its parent level [MQTT-4.7.1-2].
                return (aEnds && bEnds) || (aEnds ? b[i] == "#" && b.Length == i + 1 : a[i] == "#" && a.Length == i + 1);
            }

            string x = a[i];
            string y = b[i];
            if (i == 0 && ((IsWildcard(x) && y.StartsWith('$')) || (IsWildcard(y) && x.StartsWith('$'))))
            {
                return false;
            }

            if (x == "#" || y == "#")
            {
                return true;
            }

            if (x != "+" && y != "+" && x != y)
            {
                return false;
            }
        }

        static bool IsWildcard(string level) => level is "+" or "#";
    }

    private bool Allows(string topic, AclAccess needed)
    {
        bool granted = false;
        foreach (AclRule rule in rules)
        {
            if (!TopicRules.Matches(rule.Filter, topic))
            {
                continue;
            }

            if (rule.Access == AclAccess.Deny)
            {
                return false;
            }

            granted |= (rule.Access & needed) != 0;
        }

        return granted;
    }

    /// <summary>True when every topic <paramref name="filter"/> can match is matched by <paramref name="rule"/>.</summary>
    public static bool Covers(string rule, string filter)
    {
        string[] r = rule.Split('/');
        string[] f = filter.Split('/');
        for (int i = 0; i < r.Length; i++)
        {
            if (r[i] == "#")
            {
                // '#' at the start does not reach '$' topics [MQTT-4.7.2-1].
                return i > 0 || f[0].Length == 0 || f[0][0] != '$';
            }

            if (i >= f.Length)
            {
                return false;
            }

            if (f[i] == "#")
            {
                return false;
            }

            if (r[i] == "+")
            {
                if (i == 0 && f[0].StartsWith('$'))
                {
                    return false;
                }

                continue;
            }

            if (f[i] == "+" || r[i] != f[i])
            {
                return false;
            }
        }

        return f.Length == r.Length;
    }
}
