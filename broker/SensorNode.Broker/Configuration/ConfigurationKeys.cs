using System.Text;

namespace SensorNode.Broker.Configuration;

/// <summary>The keys a configuration may hold, and how they are named in messages.</summary>
public static class ConfigurationKeys
{
    public const string EnvironmentPrefix = "SENSORNODE_";

    /// <summary>Environment variable naming the configuration file when <c>--config</c> is not given.</summary>
    public const string ConfigPathVariable = "SENSORNODE_CONFIG";

    /// <summary>
    /// SENSORNODE_* variables that are not configuration keys (read where they apply), so not "unknown keys": the
    /// configuration file's path, the PKCS#12 password, the plain-TCP transport and its thread count.
    /// </summary>
    public static IReadOnlySet<string> OtherVariables { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        ConfigPathVariable,
        "SENSORNODE_TLS_PFX_PASSWORD",
        "SENSORNODE_TCP_TRANSPORT",
        "SENSORNODE_IO_THREADS",
    };

    /// <summary>Every key, in the order of the documentation; "#" stands for a list index.</summary>
    public static IReadOnlyDictionary<string, EntryKind> Schema { get; } = new Dictionary<string, EntryKind>(Bridging.BridgeConfiguration.Keys, StringComparer.OrdinalIgnoreCase)
    {
        ["dataDirectory"] = EntryKind.Value,
        ["persistence"] = EntryKind.Value,
        ["durability"] = EntryKind.Value,
        ["recoverStore"] = EntryKind.Value,
        ["maxPacketSize"] = EntryKind.Value,
        ["logLevel"] = EntryKind.Value,
        ["sysIntervalSeconds"] = EntryKind.Value,
        ["connectTimeoutSeconds"] = EntryKind.Value,
        ["shutdownTimeoutSeconds"] = EntryKind.Value,
        ["receiveMaximum"] = EntryKind.Value,
        ["topicAliasMaximum"] = EntryKind.Value,
        ["serverKeepAlive"] = EntryKind.Value,
        ["maxKeepAlive"] = EntryKind.Value,
        ["maximumQos"] = EntryKind.Value,
        ["retainAvailable"] = EntryKind.Value,
        ["maxSubscriptionsPerClient"] = EntryKind.Value,
        ["maxConnections"] = EntryKind.Value,
        ["maxConnectionsPerAddress"] = EntryKind.Value,
        ["maxClientIdLength"] = EntryKind.Value,
        ["allowZeroLengthClientId"] = EntryKind.Value,
        ["maxPublishRatePerClient"] = EntryKind.Value,
        ["security"] = EntryKind.Object,
        ["security:passwordFile"] = EntryKind.Value,
        ["security:aclFile"] = EntryKind.Value,
        ["security:allowAnonymous"] = EntryKind.Value,
        ["sessions"] = EntryKind.Object,
        ["sessions:maxInflightMessages"] = EntryKind.Value,
        ["sessions:maxQueuedMessages"] = EntryKind.Value,
        ["sessions:maxQueuedBytes"] = EntryKind.Value,
        ["sessions:maxTotalQueuedBytes"] = EntryKind.Value,
        ["sessions:persistentSessionExpiryDays"] = EntryKind.Value,
        ["sessions:overflowPolicy"] = EntryKind.Value,
        ["sessions:queueQos0WhileOffline"] = EntryKind.Value,
        ["listeners"] = EntryKind.Array,
        ["listeners:#"] = EntryKind.Object,
        ["listeners:#:kind"] = EntryKind.Value,
        ["listeners:#:bind"] = EntryKind.Value,
        ["listeners:#:port"] = EntryKind.Value,
        ["listeners:#:path"] = EntryKind.Value,
        ["listeners:#:certificate"] = EntryKind.Value,
        ["listeners:#:privateKey"] = EntryKind.Value,
        ["listeners:#:clientCertificates"] = EntryKind.Value,
        ["listeners:#:clientCa"] = EntryKind.Value,
        ["listeners:#:clientCrl"] = EntryKind.Value,
        ["dashboard"] = EntryKind.Object,
        ["dashboard:enabled"] = EntryKind.Value,
        ["dashboard:rawRetentionHours"] = EntryKind.Value,
        ["dashboard:rawIntervalSeconds"] = EntryKind.Value,
        ["dashboard:averageRetentionDays"] = EntryKind.Value,
        ["dashboard:averageMinutes"] = EntryKind.Value,
        ["dashboard:loginDays"] = EntryKind.Value,
    };

    /// <summary>"listeners:1:port" → "listeners:#:port".</summary>
    public static string Pattern(string key)
    {
        string[] parts = key.Split(':');
        for (int i = 0; i < parts.Length; i++)
        {
            if (parts[i].Length > 0 && parts[i].All(char.IsAsciiDigit))
            {
                parts[i] = "#";
            }
        }

        return string.Join(':', parts);
    }

    /// <summary>A key spelled as the schema spells it ("LISTENERS:0:PORT" → "listeners:0:port"); unknown keys stay as they are.</summary>
    public static string Canonical(string key)
    {
        string[] parts = key.Split(':');
        for (int length = parts.Length; length > 0; length--)
        {
            string pattern = Pattern(string.Join(':', parts[..length]));
            string? known = Schema.Keys.FirstOrDefault(k => k.Equals(pattern, StringComparison.OrdinalIgnoreCase));
            if (known is not null)
            {
                string[] canonical = known.Split(':');
                for (int i = 0; i < length; i++)
                {
                    if (canonical[i] != "#")
                    {
                        parts[i] = canonical[i];
                    }
                }

                break;
            }
        }

        return string.Join(':', parts);
    }

    /// <summary>"listeners:1:port" → "listeners[1].port", the way the key is shown in messages.</summary>
    public static string Display(string key)
    {
        var text = new StringBuilder();
        foreach (string part in key.Split(':'))
        {
            if (part.Length > 0 && part.All(char.IsAsciiDigit))
            {
                text.Append('[').Append(part).Append(']');
            }
            else
            {
                if (text.Length > 0)
                {
                    text.Append('.');
                }

                text.Append(part);
            }
        }

        return text.ToString();
    }

    /// <summary>The environment variable that sets a key: "listeners:0:port" → SENSORNODE_LISTENERS__0__PORT.</summary>
    public static string EnvironmentVariable(string key) => EnvironmentPrefix + key.Replace(":", "__", StringComparison.Ordinal).ToUpperInvariant();
}
