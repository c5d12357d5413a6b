using System.Globalization;
using SensorNode.Broker.Configuration;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Bridging;

/// <summary>
/// Reads the <c>bridges</c> list of the configuration into <see cref="BridgeOptions"/>; every bad value is an error
/// naming the file, line and key (e.g. <c>broker.json:14: bridges[0].topics[1].qos: 3 is out of range (0..2)</c>).
/// </summary>
public static class BridgeConfiguration
{
    /// <summary>The keys below <c>bridges</c>, for <see cref="ConfigurationKeys.Schema"/>.</summary>
    public static IEnumerable<KeyValuePair<string, EntryKind>> Keys { get; } = new Dictionary<string, EntryKind>
    {
        ["bridges"] = EntryKind.Array,
        ["bridges:#"] = EntryKind.Object,
        ["bridges:#:name"] = EntryKind.Value,
        ["bridges:#:addresses"] = EntryKind.Array,
        ["bridges:#:addresses:#"] = EntryKind.Value,
        ["bridges:#:tls"] = EntryKind.Value,
        ["bridges:#:caFile"] = EntryKind.Value,
        ["bridges:#:certificate"] = EntryKind.Value,
        ["bridges:#:privateKey"] = EntryKind.Value,
        ["bridges:#:serverName"] = EntryKind.Value,
        ["bridges:#:alpn"] = EntryKind.Array,
        ["bridges:#:alpn:#"] = EntryKind.Value,
        ["bridges:#:userName"] = EntryKind.Value,
        ["bridges:#:password"] = EntryKind.Value,
        ["bridges:#:clientId"] = EntryKind.Value,
        ["bridges:#:protocol"] = EntryKind.Value,
        ["bridges:#:keepAliveSeconds"] = EntryKind.Value,
        ["bridges:#:cleanStart"] = EntryKind.Value,
        ["bridges:#:sessionExpirySeconds"] = EntryKind.Value,
        ["bridges:#:bridgeProtocolFlag"] = EntryKind.Value,
        ["bridges:#:reconnectMinMs"] = EntryKind.Value,
        ["bridges:#:reconnectMaxMs"] = EntryKind.Value,
        ["bridges:#:connectTimeoutSeconds"] = EntryKind.Value,
        ["bridges:#:maxQueuedBytes"] = EntryKind.Value,
        ["bridges:#:maxQueuedMessages"] = EntryKind.Value,
        ["bridges:#:maxMessageAgeSeconds"] = EntryKind.Value,
        ["bridges:#:overflowPolicy"] = EntryKind.Value,
        ["bridges:#:maxInflight"] = EntryKind.Value,
        ["bridges:#:drainRatePerSecond"] = EntryKind.Value,
        ["bridges:#:maxPacketSize"] = EntryKind.Value,
        ["bridges:#:topics"] = EntryKind.Array,
        ["bridges:#:topics:#"] = EntryKind.Object,
        ["bridges:#:topics:#:direction"] = EntryKind.Value,
        ["bridges:#:topics:#:local"] = EntryKind.Value,
        ["bridges:#:topics:#:remote"] = EntryKind.Value,
        ["bridges:#:topics:#:remotePrefix"] = EntryKind.Value,
        ["bridges:#:topics:#:qos"] = EntryKind.Value,
        ["bridges:#:topics:#:retain"] = EntryKind.Value,
    };

    /// <summary>Adds a <see cref="BridgeOptions"/> to <paramref name="into"/> per configured bridge, and an error per bad value.</summary>
    public static void Bind(ConfigurationEntries entries, List<ConfigurationError> errors, string? configPath, IList<BridgeOptions> into)
    {
        var reader = new Reader(entries, errors, configPath);
        int count = reader.Count("bridges");
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < count; i++)
        {
            string prefix = $"bridges:{i}";
            ConfigurationEntry? item = entries[prefix];
            if (item is null)
            {
                errors.Add(entries["bridges"]!.Error($"bridge {i} is missing: list indices must run 0..{count - 1} without gaps"));
                continue;
            }

            BridgeOptions bridge = BindOne(reader, prefix, item);
            if (!names.Add(bridge.Name))
            {
                errors.Add(reader.Entry(prefix + ":name", item).Error($"the name '{bridge.Name}' is used by another bridge"));
            }

            into.Add(bridge);
        }
    }

    private static BridgeOptions BindOne(Reader r, string prefix, ConfigurationEntry item)
    {
        var bridge = new BridgeOptions();
        if (r.Entries[prefix + ":name"] is null)
        {
            r.Errors.Add(item.Error("name is required (used in $SYS/broker/bridge/<name>, /metrics and logs)"));
        }

        r.String(prefix + ":name", v =>
        {
            if (v.AsSpan().IndexOfAny("/+#$ ") >= 0)
            {
                r.Errors.Add(r.Entries[prefix + ":name"]!.Error($"'{v}' may not contain '/', '+', '#', '$' or spaces"));
            }

            bridge.Name = v;
        });
        r.Bool(prefix + ":tls", v => bridge.Tls = v);
        r.String(prefix + ":caFile", v => bridge.CaFile = v, path: true);
        r.String(prefix + ":certificate", v => bridge.Certificate = v, path: true);
        r.String(prefix + ":privateKey", v => bridge.PrivateKey = v, path: true);
        r.String(prefix + ":serverName", v => bridge.ServerName = v);
        for (int a = 0, n = r.Count(prefix + ":alpn"); a < n; a++)
        {
            r.String($"{prefix}:alpn:{a}", v => bridge.Alpn.Add(v));
        }

        r.String(prefix + ":userName", v => bridge.UserName = v);
        r.String(prefix + ":password", v => bridge.Password = v);
        r.String(prefix + ":clientId", v => bridge.ClientId = v);
        r.String(prefix + ":protocol", v =>
        {
            switch (v.Trim())
            {
                case "5" or "5.0" or "mqtt5":
                    bridge.Mqtt5 = true;
                    break;
                case "3.1.1" or "4" or "mqtt311":
                    bridge.Mqtt5 = false;
                    break;
                default:
                    r.Errors.Add(r.Entries[prefix + ":protocol"]!.Error($"'{v}' is not an MQTT version this bridge speaks: \"3.1.1\" or \"5.0\""));
                    break;
            }
        });
        r.Long(prefix + ":keepAliveSeconds", 0, 65_535, v => bridge.KeepAliveSeconds = (ushort)v);
        r.Bool(prefix + ":cleanStart", v => bridge.CleanStart = v);
        r.Long(prefix + ":sessionExpirySeconds", 0, uint.MaxValue, v => bridge.SessionExpirySeconds = (uint)v);
        r.Bool(prefix + ":bridgeProtocolFlag", v => bridge.BridgeProtocolFlag = v);
        r.Long(prefix + ":reconnectMinMs", 10, 3_600_000, v => bridge.ReconnectMin = TimeSpan.FromMilliseconds(v));
        r.Long(prefix + ":reconnectMaxMs", 10, 3_600_000, v => bridge.ReconnectMax = TimeSpan.FromMilliseconds(v));
        r.Long(prefix + ":connectTimeoutSeconds", 1, 600, v => bridge.ConnectTimeout = TimeSpan.FromSeconds(v));
        r.Long(prefix + ":maxQueuedBytes", 1, long.MaxValue, v => bridge.MaxQueuedBytes = v);
        r.Long(prefix + ":maxQueuedMessages", 1, int.MaxValue, v => bridge.MaxQueuedMessages = (int)v);
        r.Long(prefix + ":maxMessageAgeSeconds", 0, 10L * 365 * 86_400, v => bridge.MaxMessageAge = v == 0 ? null : TimeSpan.FromSeconds(v));
        r.Enum<QueueOverflowPolicy>(prefix + ":overflowPolicy", v => bridge.OverflowPolicy = v);
        r.Long(prefix + ":maxInflight", 1, 65_535, v => bridge.MaxInflight = (int)v);
        r.Long(prefix + ":drainRatePerSecond", 0, 1_000_000, v => bridge.DrainRatePerSecond = (int)v);
        r.Long(prefix + ":maxPacketSize", 0, 268_435_460, v => bridge.MaxPacketSize = v);

        if (bridge.ReconnectMin > bridge.ReconnectMax)
        {
            r.Errors.Add(r.Entry(prefix + ":reconnectMinMs", item).Error("must not be more than reconnectMaxMs"));
        }

        BindAddresses(r, prefix, item, bridge);
        CheckTls(r, prefix, item, bridge);
        BindTopics(r, prefix, item, bridge);
        return bridge;
    }

    private static void BindAddresses(Reader r, string prefix, ConfigurationEntry item, BridgeOptions bridge)
    {
        int count = r.Count(prefix + ":addresses");
        if (count == 0)
        {
            r.Errors.Add(r.Entry(prefix + ":addresses", item).Error("at least one upstream address (\"host:port\") is needed"));
            return;
        }

        for (int a = 0; a < count; a++)
        {
            string key = $"{prefix}:addresses:{a}";
            r.String(key, v =>
            {
                if (TryParseAddress(v, bridge.Tls ? 8883 : 1883, out UpstreamAddress? address))
                {
                    bridge.Addresses.Add(address);
                }
                else
                {
                    r.Errors.Add(r.Entries[key]!.Error($"'{v}' is not \"host\" or \"host:port\" (port 1..65535; IPv6 as \"[::1]:1883\")"));
                }
            });
        }
    }

    /// <summary>"host", "host:port", "[v6]:port" or "v6".</summary>
    public static bool TryParseAddress(string text, int defaultPort, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out UpstreamAddress? address)
    {
        address = null;
        text = text.Trim();
        string host = text;
        int port = defaultPort;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                return false;
            }

            host = text[1..close];
            string rest = text[(close + 1)..];
            if (rest.Length > 0 && (!rest.StartsWith(':') || !int.TryParse(rest[1..], NumberStyles.None, CultureInfo.InvariantCulture, out port)))
            {
                return false;
            }
        }
        else if (text.Count(c => c == ':') == 1)
        {
            int colon = text.IndexOf(':', StringComparison.Ordinal);
            host = text[..colon];
            if (!int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port))
            {
                return false;
            }
        }

        if (host.Length == 0 || host.Any(char.IsWhiteSpace) || port is < 1 or > 65_535)
        {
            return false;
        }

        address = new UpstreamAddress(host, port);
        return true;
    }

    private static void CheckTls(Reader r, string prefix, ConfigurationEntry item, BridgeOptions bridge)
    {
        foreach ((string key, string? path, string what) in new[] { (":caFile", bridge.CaFile, "CA file"), (":certificate", bridge.Certificate, "certificate"), (":privateKey", bridge.PrivateKey, "private key") })
        {
            if (path is null)
            {
                continue;
            }

            if (!bridge.Tls)
            {
                r.Errors.Add(r.Entry(prefix + key, item).Error("only used with \"tls\": true"));
            }
            else if (!File.Exists(path))
            {
                r.Errors.Add(r.Entry(prefix + key, item).Error($"{what} '{path}' does not exist"));
            }
        }

        if (bridge.Tls && bridge.PrivateKey is not null && bridge.Certificate is null)
        {
            r.Errors.Add(r.Entry(prefix + ":privateKey", item).Error("a private key needs a certificate"));
        }

        if (bridge.Tls && bridge.Certificate is not null && File.Exists(bridge.Certificate) && (bridge.PrivateKey is null || File.Exists(bridge.PrivateKey)))
        {
            try
            {
                using var certificate = UpstreamLink.LoadClientCertificate(bridge.Certificate, bridge.PrivateKey);
            }
            catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or IOException or ArgumentException)
            {
                r.Errors.Add(r.Entry(prefix + ":certificate", item).Error($"cannot load the client certificate and key: {ex.Message}"));
            }
        }

        if (bridge.Tls && bridge.CaFile is not null && File.Exists(bridge.CaFile))
        {
            try
            {
                if (UpstreamLink.LoadCaFile(bridge.CaFile).Count == 0)
                {
                    r.Errors.Add(r.Entry(prefix + ":caFile", item).Error("holds no PEM certificate"));
                }
            }
            catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or IOException)
            {
                r.Errors.Add(r.Entry(prefix + ":caFile", item).Error($"cannot read the CA certificates: {ex.Message}"));
            }
        }
    }

    private static void BindTopics(Reader r, string prefix, ConfigurationEntry item, BridgeOptions bridge)
    {
        int count = r.Count(prefix + ":topics");
        if (count == 0)
        {
            r.Errors.Add(r.Entry(prefix + ":topics", item).Error("at least one topic rule ({ \"direction\": \"out\", \"local\": \"sensor/#\" }) is needed"));
            return;
        }

        for (int t = 0; t < count; t++)
        {
            string key = $"{prefix}:topics:{t}";
            ConfigurationEntry ruleEntry = r.Entry(key, item);
            var rule = new BridgeTopicRule();
            r.Enum<BridgeDirection>(key + ":direction", v => rule.Direction = v);
            string? local = null, remote = null, remotePrefix = null;
            r.String(key + ":local", v => local = v);
            r.String(key + ":remote", v => remote = v);
            r.String(key + ":remotePrefix", v => remotePrefix = v);
            r.Long(key + ":qos", 0, 2, v => rule.MaxQos = (byte)v);
            r.Enum<BridgeRetainMode>(key + ":retain", v => rule.Retain = v);
            if (local is null)
            {
                r.Errors.Add(ruleEntry.Error("local (the local topic filter, e.g. \"sensor/#\") is required"));
                continue;
            }

            if (remote is not null && remotePrefix is not null)
            {
                r.Errors.Add(r.Entry(key + ":remotePrefix", ruleEntry).Error("give either remote or remotePrefix, not both"));
                continue;
            }

            rule.Local = local;
            rule.Remote = remote ?? (remotePrefix ?? string.Empty) + local;
            if (TopicMapper.Check(rule.Local, rule.RemoteFilter) is { } problem)
            {
                string culprit = remote is not null ? ":remote" : remotePrefix is not null ? ":remotePrefix" : ":local";
                r.Errors.Add(r.Entry(key + culprit, ruleEntry).Error(problem));
                continue;
            }

            bridge.Topics.Add(rule);
        }
    }

    /// <summary>Typed reading of the bridges' entries; enum names in errors as the file spells them (camelCase).</summary>
    private sealed class Reader(ConfigurationEntries entries, List<ConfigurationError> errors, string? configPath)
        : ConfigurationReader(entries, errors, configPath, camelCaseEnumNames: true);
}
