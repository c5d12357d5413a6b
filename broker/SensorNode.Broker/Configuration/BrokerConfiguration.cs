using System.Collections;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Persistence;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Configuration;

/// <summary>The command-line options that override the file and the environment (each null or false when not given).</summary>
public sealed class CommandLineOverrides
{
    public int? Port { get; set; }

    public string? Bind { get; set; }

    public string? DataDirectory { get; set; }

    public bool NoPersistence { get; set; }

    public StoreDurability? Durability { get; set; }

    public bool RecoverStore { get; set; }

    public int? MaxPacketSize { get; set; }

    public LogLevel? LogLevel { get; set; }

    /// <summary>Port of the (first) WebSocket listener; one is added when the configuration has none.</summary>
    public int? WebSocketPort { get; set; }

    /// <summary>Port of the (first) HTTP listener (/metrics, /health); one is added when the configuration has none.</summary>
    public int? HttpPort { get; set; }

    public int? SysIntervalSeconds { get; set; }
}

/// <summary>A validated configuration: the broker's options and what the host needs besides.</summary>
public sealed class LoadedConfiguration
{
    public required BrokerOptions Options { get; init; }

    public LogLevel LogLevel { get; init; } = LogLevel.Information;

    /// <summary>The file read, or null when only defaults, environment and command line were used.</summary>
    public string? ConfigFile { get; init; }

    /// <summary>Every key in effect with its value and source (check-config prints it).</summary>
    public required IReadOnlyList<ConfigurationEntry> Entries { get; init; }
}

/// <summary>
/// Loads the broker's configuration the way .NET applications layer theirs: built-in defaults, then one JSON file
/// (<c>--config</c> or <c>SENSORNODE_CONFIG</c>; comments allowed), then <c>SENSORNODE_*</c> environment variables, then
/// command-line options. Everything is validated before the broker starts: an unknown key, a bad value or a missing
/// certificate file is an error naming the file (or variable, or option), the line, the key and the reason.
/// </summary>
public static class BrokerConfiguration
{
    public const string DefaultPath = "/etc/sensornode/broker.json";

    private const string DefaultSource = "default";

    /// <summary>Loads and validates; throws <see cref="ConfigurationException"/> listing every problem found.</summary>
    public static LoadedConfiguration Load(string? configPath, IDictionary? environment = null, CommandLineOverrides? overrides = null)
    {
        var entries = new ConfigurationEntries();
        if (configPath is not null)
        {
            if (!File.Exists(configPath))
            {
                throw new ConfigurationException(new ConfigurationError(configPath, null, null, "the configuration file does not exist"));
            }

            entries.AddJsonFile(configPath);
        }

        // Without listeners in the file, listener 0 is the default MQTT one (environment variables may change it).
        if (!entries.ContainsPrefix("listeners"))
        {
            entries.Set("listeners:0:kind", "mqtt", DefaultSource);
            entries.Set("listeners:0:bind", "localhost", DefaultSource);
            entries.Set("listeners:0:port", BrokerOptions.DefaultPort.ToString(CultureInfo.InvariantCulture), DefaultSource);
        }

        if (environment is not null)
        {
            entries.AddEnvironment(environment);
        }

        if (overrides is not null)
        {
            ApplyOverrides(entries, overrides);
        }

        var errors = new List<ConfigurationError>();
        CheckKeys(entries, errors);
        var binder = new Binder(entries, errors, configPath);
        LoadedConfiguration loaded = binder.Bind();
        if (errors.Count > 0)
        {
            throw new ConfigurationException([.. errors.OrderBy(e => e.Line is null ? 1 : 0).ThenBy(e => e.Line ?? 0)]);
        }

        try
        {
            loaded.Options.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new ConfigurationException(new ConfigurationError(configPath ?? "configuration", null, ex.ParamName, ex.Message));
        }

        return loaded;
    }

    private static void ApplyOverrides(ConfigurationEntries entries, CommandLineOverrides o)
    {
        static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);

        if (o.DataDirectory is not null)
        {
            entries.Set("dataDirectory", o.DataDirectory, "command line --data-dir");
        }

        if (o.NoPersistence)
        {
            entries.Set("persistence", "memory", "command line --no-persistence");
        }

        if (o.Durability is { } durability)
        {
            entries.Set("durability", durability.ToString(), "command line --durability");
        }

        if (o.RecoverStore)
        {
            entries.Set("recoverStore", "true", "command line --recover-store");
        }

        if (o.MaxPacketSize is { } max)
        {
            entries.Set("maxPacketSize", Text(max), "command line --max-packet-size");
        }

        if (o.LogLevel is { } level)
        {
            entries.Set("logLevel", level.ToString(), "command line --log-level");
        }

        if (o.SysIntervalSeconds is { } sys)
        {
            entries.Set("sysIntervalSeconds", Text(sys), "command line --sys-interval");
        }

        if (o.Port is { } port)
        {
            int index = FindListener(entries, "mqtt", out bool added);
            if (added)
            {
                entries.Set($"listeners:{index}:kind", "mqtt", "command line --port");
            }

            entries.Set($"listeners:{index}:port", Text(port), "command line --port");
        }

        if (o.WebSocketPort is { } wsPort)
        {
            int index = FindListener(entries, "websocket", out bool added);
            if (added)
            {
                entries.Set($"listeners:{index}:kind", "websocket", "command line --websocket-port");
            }

            entries.Set($"listeners:{index}:port", Text(wsPort), "command line --websocket-port");
        }

        if (o.HttpPort is { } httpPort)
        {
            int index = FindListener(entries, "http", out bool added);
            if (added)
            {
                entries.Set($"listeners:{index}:kind", "http", "command line --http-port");
            }

            entries.Set($"listeners:{index}:port", Text(httpPort), "command line --http-port");
        }

        if (o.Bind is not null)
        {
            for (int i = 0; entries[$"listeners:{i}"] is not null; i++)
            {
                entries.Set($"listeners:{i}:bind", o.Bind, "command line --bind");
            }
        }
    }

    /// <summary>Index of the first listener of a kind (a missing kind counts as mqtt), or of a new one at the end.</summary>
    private static int FindListener(ConfigurationEntries entries, string kind, out bool added)
    {
        int i = 0;
        for (; entries[$"listeners:{i}"] is not null; i++)
        {
            string listenerKind = entries[$"listeners:{i}:kind"]?.Value ?? "mqtt";
            if (listenerKind.Equals(kind, StringComparison.OrdinalIgnoreCase))
            {
                added = false;
                return i;
            }
        }

        added = true;
        return i;
    }

    /// <summary>Every key must be a known one, of the right kind (value, object or list); only the outermost unknown key is reported.</summary>
    private static void CheckKeys(ConfigurationEntries entries, List<ConfigurationError> errors)
    {
        var reported = new List<ConfigurationEntry>();
        foreach (ConfigurationEntry entry in entries.OrderBy(e => e.Key.Length).ThenBy(e => e.Line ?? 0))
        {
            if (reported.Any(u => entry.Key.StartsWith(u.Key + ":", StringComparison.OrdinalIgnoreCase)))
            {
                // Below a key already reported (unknown, or of the wrong kind): one message is enough.
                continue;
            }

            string pattern = ConfigurationKeys.Pattern(entry.Key);
            if (!ConfigurationKeys.Schema.TryGetValue(pattern, out EntryKind expected))
            {
                {
                    reported.Add(entry);
                    string? suggestion = Suggest(pattern);
                    errors.Add(entry.Error(suggestion is null ? "unknown key" : $"unknown key (did you mean '{suggestion}'?)"));
                }

                continue;
            }

            if (expected != entry.Kind)
            {
                reported.Add(entry);
                errors.Add(entry.Error(expected switch
                {
                    EntryKind.Array => "must be a list ([ ... ])",
                    EntryKind.Object => "must be an object ({ ... })",
                    _ => "must be a single value, not a list or object",
                }));
            }
        }
    }

    private static string? Suggest(string pattern)
    {
        string last = pattern[(pattern.LastIndexOf(':') + 1)..];
        string parent = pattern.Contains(':', StringComparison.Ordinal) ? pattern[..pattern.LastIndexOf(':')] : "";
        foreach (string known in ConfigurationKeys.Schema.Keys)
        {
            string knownParent = known.Contains(':', StringComparison.Ordinal) ? known[..known.LastIndexOf(':')] : "";
            string knownLast = known[(known.LastIndexOf(':') + 1)..];
            if (knownParent.Equals(parent, StringComparison.OrdinalIgnoreCase) && Distance(knownLast.ToLowerInvariant(), last.ToLowerInvariant()) <= 2)
            {
                return knownLast;
            }
        }

        return null;
    }

    private static int Distance(string a, string b)
    {
        int[,] d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (int j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }
        }

        return d[a.Length, b.Length];
    }

    /// <summary>Turns entries into options, adding an error for each bad value.</summary>
    private sealed class Binder(ConfigurationEntries entries, List<ConfigurationError> errors, string? configPath)
        : ConfigurationReader(entries, errors, configPath)
    {
        public LoadedConfiguration Bind()
        {
            var options = new BrokerOptions { SysInterval = TimeSpan.FromSeconds(10) };
            String("dataDirectory", v => options.DataDirectory = v, path: true);
            Enum<PersistenceMode>("persistence", v => options.Persistence = v);
            Enum<StoreDurability>("durability", v => options.Durability = v);
            Bool("recoverStore", v => options.RecoverDamagedStore = v);
            Int("maxPacketSize", 16, Protocol.MqttFrameReader.MaxRemainingLength + 5, v => options.MaxPacketSize = v);
            LogLevel logLevel = LogLevel.Information;
            Enum<LogLevel>("logLevel", v => logLevel = v);
            Int("sysIntervalSeconds", 0, 86_400, v => options.SysInterval = TimeSpan.FromSeconds(v));
            Int("connectTimeoutSeconds", 1, 3_600, v => options.ConnectTimeout = TimeSpan.FromSeconds(v));
            Int("shutdownTimeoutSeconds", 0, 300, v => options.ShutdownTimeout = TimeSpan.FromSeconds(v));
            Int("receiveMaximum", 1, 65_535, v => options.ReceiveMaximum = (ushort)v);
            Int("topicAliasMaximum", 0, 65_535, v => options.TopicAliasMaximum = (ushort)v);
            Int("serverKeepAlive", 0, 65_535, v => options.ServerKeepAlive = (ushort)v);
            Int("maxKeepAlive", 1, 65_535, v => options.MaxKeepAlive = (ushort)v);
            Int("maximumQos", 0, 2, v => options.MaximumQos = (byte)v);
            Bool("retainAvailable", v => options.RetainAvailable = v);
            Int("maxSubscriptionsPerClient", 1, 10_000_000, v => options.MaxSubscriptionsPerClient = v);
            Int("maxConnections", 1, 10_000_000, v => options.MaxConnections = v);
            Int("maxConnectionsPerAddress", 1, 10_000_000, v => options.MaxConnectionsPerAddress = v);
            Int("maxClientIdLength", 23, 65_535, v => options.MaxClientIdLength = v);
            Bool("allowZeroLengthClientId", v => options.AllowZeroLengthClientId = v);
            Int("maxPublishRatePerClient", 0, 10_000_000, v => options.MaxPublishRatePerClient = v);
            String("security:passwordFile", v => options.Security.PasswordFile = v, path: true);
            String("security:aclFile", v => options.Security.AclFile = v, path: true);
            Bool("security:allowAnonymous", v => options.Security.AllowAnonymous = v);

            SessionLimits sessions = options.Sessions;
            Int("sessions:maxInflightMessages", 1, 65_535, v => sessions.MaxInflightMessages = v);
            Int("sessions:maxQueuedMessages", 1, int.MaxValue, v => sessions.MaxQueuedMessages = v);
            Long("sessions:maxQueuedBytes", 1, long.MaxValue, v => sessions.MaxQueuedBytes = v);
            Long("sessions:maxTotalQueuedBytes", 1, long.MaxValue, v => sessions.MaxTotalQueuedBytes = v);
            Int("sessions:persistentSessionExpiryDays", 0, 36_500, v => sessions.PersistentSessionExpiry = v == 0 ? null : TimeSpan.FromDays(v));
            Enum<QueueOverflowPolicy>("sessions:overflowPolicy", v => sessions.OverflowPolicy = v);
            Bool("sessions:queueQos0WhileOffline", v => sessions.QueueQos0WhileOffline = v);

            BindListeners(options);
            Bridging.BridgeConfiguration.Bind(Entries, Errors, ConfigPath, options.Bridges);

            Dashboard.DashboardOptions dashboard = options.Dashboard;
            Bool("dashboard:enabled", v => dashboard.Enabled = v);
            Int("dashboard:rawRetentionHours", 1, 24 * 366, v => dashboard.RawRetention = TimeSpan.FromHours(v));
            Int("dashboard:rawIntervalSeconds", 0, 3600, v => dashboard.RawInterval = TimeSpan.FromSeconds(v));
            Int("dashboard:averageRetentionDays", 1, 36_500, v => dashboard.AverageRetention = TimeSpan.FromDays(v));
            Int("dashboard:averageMinutes", 1, 1440, v => dashboard.AverageInterval = TimeSpan.FromMinutes(v));
            Int("dashboard:loginDays", 1, 366, v => dashboard.SessionLifetime = TimeSpan.FromDays(v));

            return new LoadedConfiguration
            {
                Options = options,
                LogLevel = logLevel,
                ConfigFile = ConfigPath is null ? null : Path.GetFullPath(ConfigPath),
                Entries = [.. Entries.Where(e => e.Kind == EntryKind.Value).OrderBy(e => e.Key, StringComparer.OrdinalIgnoreCase)],
            };
        }

        private void BindListeners(BrokerOptions options)
        {
            ConfigurationEntry? list = Entries["listeners"];
            if (list is null || list.Kind != EntryKind.Array)
            {
                return;
            }

            int count = Entries.Where(e => ConfigurationKeys.Pattern(e.Key).Equals("listeners:#", StringComparison.OrdinalIgnoreCase)).Count();
            if (count == 0)
            {
                Errors.Add(list.Error("at least one listener is needed"));
                return;
            }

            var used = new Dictionary<(string, int), int>();
            for (int i = 0; i < count; i++)
            {
                string prefix = $"listeners:{i}";
                ConfigurationEntry? item = Entries[prefix];
                if (item is null)
                {
                    Errors.Add(list.Error($"listener {i} is missing: list indices must run 0..{count - 1} without gaps"));
                    continue;
                }

                var listener = new ListenerOptions();
                ConfigurationEntry? kindEntry = Entries[prefix + ":kind"];
                if (kindEntry?.Value is null)
                {
                    Errors.Add(item.Error($"kind is required: one of {string.Join(", ", ListenerOptions.KindNames.Values)}"));
                    continue;
                }

                KeyValuePair<ListenerKind, string> kind = ListenerOptions.KindNames.FirstOrDefault(k => k.Value.Equals(kindEntry.Value, StringComparison.OrdinalIgnoreCase));
                if (kind.Value is null)
                {
                    Errors.Add(new ConfigurationError(kindEntry.Source, kindEntry.Line, ConfigurationKeys.Display(kindEntry.Key),
                        $"'{kindEntry.Value}' is not a listener kind: one of {string.Join(", ", ListenerOptions.KindNames.Values)}"));
                    continue;
                }

                listener.Kind = kind.Key;
                listener.Port = listener.Kind switch
                {
                    ListenerKind.MqttTls => 8883,
                    ListenerKind.WebSocket => 8080,
                    ListenerKind.WebSocketTls => 8443,
                    ListenerKind.Http => 9883,
                    _ => BrokerOptions.DefaultPort,
                };
                String(prefix + ":bind", v => listener.BindAddress = v);
                Int(prefix + ":port", 0, 65_535, v => listener.Port = v);
                String(prefix + ":path", v => listener.Path = v);
                String(prefix + ":certificate", v => listener.CertificatePath = v, path: true);
                String(prefix + ":privateKey", v => listener.PrivateKeyPath = v, path: true);
                Enum<Security.ClientCertificateMode>(prefix + ":clientCertificates", v => listener.ClientCertificates = v);
                String(prefix + ":clientCa", v => listener.ClientCaPath = v, path: true);
                String(prefix + ":clientCrl", v => listener.ClientCrlPath = v, path: true);

                if (!IsValidBind(listener.BindAddress))
                {
                    Errors.Add(Entry(prefix + ":bind", item).Error($"'{listener.BindAddress}' is not 'localhost', 'any' or an IP address"));
                }

                if (listener.IsWebSocket && !listener.Path.StartsWith('/'))
                {
                    Errors.Add(Entry(prefix + ":path", item).Error($"'{listener.Path}' must start with '/'"));
                }
                else if (!listener.IsWebSocket && Entries[prefix + ":path"] is { } path)
                {
                    Errors.Add(path.Error($"only websocket and wss listeners have a path"));
                }

                if (listener.IsTls)
                {
                    CheckTls(prefix, item, listener);
                }
                else
                {
                    foreach (string tlsKey in new[] { ":certificate", ":privateKey", ":clientCertificates", ":clientCa", ":clientCrl" })
                    {
                        if (Entries[prefix + tlsKey] is { } tls)
                        {
                            Errors.Add(tls.Error($"only mqtts and wss listeners take a certificate (this one is {listener.KindName})"));
                        }
                    }
                }

                if (listener.Port != 0)
                {
                    string bindKey = listener.BindAddress.ToLowerInvariant();
                    if (used.TryGetValue((bindKey, listener.Port), out int other))
                    {
                        Errors.Add(Entry(prefix + ":port", item).Error($"port {listener.Port} is also used by listener {other}"));
                    }

                    used[(bindKey, listener.Port)] = i;
                }

                options.Listeners.Add(listener);
            }
        }

        private void CheckTls(string prefix, ConfigurationEntry item, ListenerOptions listener)
        {
            bool ok = true;
            foreach ((string key, string? path, string what) in new[] { (":certificate", listener.CertificatePath, "certificate"), (":privateKey", listener.PrivateKeyPath, "private key") })
            {
                ConfigurationEntry entry = Entry(prefix + key, item);
                if (string.IsNullOrEmpty(path))
                {
                    Errors.Add(new ConfigurationError(item.Source, item.Line, ConfigurationKeys.Display(prefix + key), $"a {listener.KindName} listener needs a PEM {what} file"));
                    ok = false;
                }
                else if (!File.Exists(path))
                {
                    Errors.Add(entry.Error($"{what} file '{path}' does not exist"));
                    ok = false;
                }
            }

            if (ok)
            {
                try
                {
                    using X509Certificate2 certificate = X509Certificate2.CreateFromPemFile(listener.CertificatePath!, listener.PrivateKeyPath);
                    if (!certificate.HasPrivateKey)
                    {
                        Errors.Add(Entry(prefix + ":privateKey", item).Error("the private key does not match the certificate"));
                    }
                    else if (Security.TlsOptions.ServerUsageProblem(certificate) is { } usage)
                    {
                        Errors.Add(Entry(prefix + ":certificate", item).Error(usage));
                    }
                }
                catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
                {
                    Errors.Add(Entry(prefix + ":certificate", item).Error($"cannot load the certificate and key: {ex.Message}"));
                }
            }

            // MQTT over WebSocket does not see the TLS connection's client certificate, so it could not become the user
            // name: refused rather than asked for and then ignored.
            if (listener.Kind == ListenerKind.WebSocketTls && Entries[prefix + ":clientCertificates"] is { } wssCerts)
            {
                Errors.Add(wssCerts.Error("client certificates are taken on mqtts listeners only, not wss"));
            }

            // As on the command line: asking for certificates with no CA to check them against would refuse them all.
            if (listener.ClientCertificates != Security.ClientCertificateMode.None && listener.ClientCaPath is null)
            {
                Errors.Add(Entry(prefix + ":clientCertificates", item).Error($"client certificates are {listener.ClientCertificates} but no clientCa says whom to trust, so every one would be refused"));
            }
            else if (listener.ClientCaPath is { } ca && !File.Exists(ca))
            {
                Errors.Add(Entry(prefix + ":clientCa", item).Error($"CA file '{ca}' does not exist"));
            }
            else if (listener.ClientCrlPath is { } crl && Entries[prefix + ":clientCrl"] is { } crlEntry)
            {
                if (listener.ClientCertificates == Security.ClientCertificateMode.None)
                {
                    Errors.Add(crlEntry.Error("a CRL file needs clientCertificates (optional or required): there is nothing to check it against"));
                }
                else if (StartupFileChecks.ClientCrlProblem(crl, listener.ClientCaPath!) is { } problem)
                {
                    Errors.Add(crlEntry.Error(problem));
                }
            }
        }

        private static bool IsValidBind(string bind) =>
            bind.Trim().ToLowerInvariant() is "localhost" or "loopback" or "any" or "*" or "0.0.0.0" or "::" or "[::]"
            || System.Net.IPAddress.TryParse(bind.Trim('[', ']'), out _);
    }
}
