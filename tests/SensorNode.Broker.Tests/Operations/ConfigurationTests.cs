using System.Collections;
using SensorNode.Broker.Configuration;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Persistence;
using SensorNode.Broker.Sessions;
using SensorNode.Broker.Tests.Security;

namespace SensorNode.Broker.Tests.Operations;

/// <summary>
/// The configuration file, SENSORNODE_* variables and options: a good file binds every key; each kind of mistake
/// stops start-up with the file (or variable, or option), the line, the key and the reason.
/// </summary>
public sealed class ConfigurationTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "sensornode-config-tests", Guid.NewGuid().ToString("N"));

    public ConfigurationTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Write(string json, string name = "broker.json")
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllText(path, json);
        return path;
    }

    private static ConfigurationError LoadFails(string? path, IDictionary? environment = null, CommandLineOverrides? overrides = null)
    {
        var ex = Assert.Throws<ConfigurationException>(() => BrokerConfiguration.Load(path, environment ?? new Hashtable(), overrides));
        return Assert.Single(ex.Errors);
    }

    [Fact]
    public void A_file_that_is_not_utf8_is_refused_with_its_line_not_a_crash()
    {
        // Found by the broker-config fuzz target: a Latin-1 byte inside a key used to escape as InvalidOperationException.
        string path = Path.Combine(_directory, "latin1.json");
        File.WriteAllBytes(path, [.. "{\n  \"logLevel\": \"Debug\",\n  \"l"u8, 0xEC, .. "steners\": []\n}\n"u8]);
        ConfigurationError error = LoadFails(path);
        Assert.Equal((path, 3), (error.Source, error.Line));
        Assert.Contains("not valid UTF-8", error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_good_file_with_comments_sets_every_key()
    {
        string path = Write("""
            // SensorNode broker
            {
              /* where the database lives */
              "dataDirectory": "/var/lib/sensornode",
              "persistence": "sqlite",
              "durability": "normal",
              "recoverStore": true,
              "maxPacketSize": 65536,
              "logLevel": "warning",
              "sysIntervalSeconds": 30,
              "connectTimeoutSeconds": 5,
              "shutdownTimeoutSeconds": 3,
              "receiveMaximum": 200,
              "topicAliasMaximum": 10,
              "serverKeepAlive": 120,
              "maxKeepAlive": 600,
              "maxConnections": 500,
              "maxConnectionsPerAddress": 50,
              "maxClientIdLength": 64,
              "maxPublishRatePerClient": 100,
              "allowZeroLengthClientId": false,
              "maximumQos": 1,
              "retainAvailable": false,
              "sessions": {
                "maxInflightMessages": 20,
                "maxQueuedMessages": 1000,
                "maxQueuedBytes": 1048576,
                "maxTotalQueuedBytes": 67108864,
                "persistentSessionExpiryDays": 7,
                "overflowPolicy": "dropNewest",
                "queueQos0WhileOffline": true,
              },
              "listeners": [
                { "kind": "mqtt", "bind": "any", "port": 1883 },
                { "kind": "websocket", "bind": "any", "port": 8080, "path": "/mqtt" },
                { "kind": "http", "bind": "localhost", "port": 9883 },
              ],
            }
            """);

        LoadedConfiguration config = BrokerConfiguration.Load(path, new Hashtable());
        BrokerOptions o = config.Options;
        Assert.Equal(Path.GetFullPath(path), config.ConfigFile);
        Assert.Equal("/var/lib/sensornode", o.DataDirectory);
        Assert.Equal(PersistenceMode.Sqlite, o.Persistence);
        Assert.Equal(StoreDurability.Normal, o.Durability);
        Assert.True(o.RecoverDamagedStore);
        Assert.Equal(65536, o.MaxPacketSize);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, config.LogLevel);
        Assert.Equal(TimeSpan.FromSeconds(30), o.SysInterval);
        Assert.Equal(TimeSpan.FromSeconds(5), o.ConnectTimeout);
        Assert.Equal(TimeSpan.FromSeconds(3), o.ShutdownTimeout);
        Assert.Equal(200, o.ReceiveMaximum);
        Assert.Equal(10, o.TopicAliasMaximum);
        Assert.Equal((ushort)120, o.ServerKeepAlive);
        Assert.Equal((ushort)600, o.MaxKeepAlive);
        Assert.Equal((500, 50, 64, 100), (o.MaxConnections, o.MaxConnectionsPerAddress, o.MaxClientIdLength, o.MaxPublishRatePerClient));
        Assert.False(o.AllowZeroLengthClientId);
        Assert.Equal(1, o.MaximumQos);
        Assert.False(o.RetainAvailable);
        Assert.Equal(20, o.Sessions.MaxInflightMessages);
        Assert.Equal(1000, o.Sessions.MaxQueuedMessages);
        Assert.Equal(1048576, o.Sessions.MaxQueuedBytes);
        Assert.Equal(67108864, o.Sessions.MaxTotalQueuedBytes);
        Assert.Equal(TimeSpan.FromDays(7), o.Sessions.PersistentSessionExpiry);
        Assert.Equal(QueueOverflowPolicy.DropNewest, o.Sessions.OverflowPolicy);
        Assert.True(o.Sessions.QueueQos0WhileOffline);
        Assert.Collection(
            o.Listeners,
            l => Assert.Equal((ListenerKind.Mqtt, "any", 1883), (l.Kind, l.BindAddress, l.Port)),
            l => Assert.Equal((ListenerKind.WebSocket, "any", 8080, "/mqtt"), (l.Kind, l.BindAddress, l.Port, l.Path)),
            l => Assert.Equal((ListenerKind.Http, "localhost", 9883), (l.Kind, l.BindAddress, l.Port)));
    }

    [Fact]
    public void Without_a_file_the_defaults_are_the_embedded_ones_plus_sys_topics()
    {
        LoadedConfiguration config = BrokerConfiguration.Load(null, new Hashtable());
        ListenerOptions listener = Assert.Single(config.Options.Listeners);
        Assert.Equal((ListenerKind.Mqtt, "localhost", 1883), (listener.Kind, listener.BindAddress, listener.Port));
        Assert.Equal("sensornode-data", config.Options.DataDirectory);
        Assert.Equal(TimeSpan.FromSeconds(10), config.Options.SysInterval);
        Assert.Null(config.ConfigFile);
    }

    [Fact]
    public void An_unknown_key_names_the_file_the_line_and_the_key_with_a_suggestion()
    {
        string path = Write("{\n  \"dataDirectory\": \"data\",\n  \"maxPaketSize\": 1000\n}\n");
        ConfigurationError error = LoadFails(path);
        Assert.Equal(path, error.Source);
        Assert.Equal(3, error.Line);
        Assert.Equal("maxPaketSize", error.Key);
        Assert.Contains("unknown key", error.Reason);
        Assert.Contains("maxPacketSize", error.Reason);
        Assert.StartsWith($"{path}:3: maxPaketSize: unknown key", error.ToString());
    }

    [Fact]
    public void An_unknown_key_inside_a_listener_is_named_with_its_index()
    {
        string path = Write("{\n  \"listeners\": [\n    { \"kind\": \"mqtt\", \"port\": 1883 },\n    { \"kind\": \"http\", \"prot\": 9883 }\n  ]\n}");
        ConfigurationError error = LoadFails(path);
        Assert.Equal((4, "listeners[1].prot"), (error.Line, error.Key));
    }

    [Theory]
    [InlineData("\"maxPacketSize\": \"big\"", "maxPacketSize", "'big' is not a whole number")]
    [InlineData("\"maxPacketSize\": 8", "maxPacketSize", "8 is out of range")]
    [InlineData("\"durability\": \"sometimes\"", "durability", "'sometimes' is not one of Full, Normal")]
    [InlineData("\"durability\": 1", "durability", "'1' is not one of")]
    [InlineData("\"recoverStore\": \"yes\"", "recoverStore", "'yes' is not true or false")]
    [InlineData("\"dataDirectory\": \"\"", "dataDirectory", "must not be empty")]
    [InlineData("\"sessions\": 5", "sessions", "must be an object")]
    [InlineData("\"listeners\": { \"kind\": \"mqtt\" }", "listeners", "must be a list")]
    [InlineData("\"sysIntervalSeconds\": -1", "sysIntervalSeconds", "out of range")]
    [InlineData("\"logLevel\": [\"Debug\"]", "logLevel", "must be a single value")]
    public void A_bad_value_names_the_line_the_key_and_the_reason(string line2, string key, string reason)
    {
        string path = Write("{\n  " + line2 + "\n}\n");
        ConfigurationError error = LoadFails(path);
        Assert.Equal(path, error.Source);
        Assert.Equal(2, error.Line);
        Assert.Equal(key, error.Key);
        Assert.Contains(reason, error.Reason);
    }

    [Theory]
    [InlineData("{ \"kind\": \"mqttt\", \"port\": 1883 }", "listeners[0].kind", "'mqttt' is not a listener kind")]
    [InlineData("{ \"port\": 1883 }", "listeners[0]", "kind is required")]
    [InlineData("{ \"kind\": \"mqtt\", \"port\": 70000 }", "listeners[0].port", "out of range")]
    [InlineData("{ \"kind\": \"mqtt\", \"bind\": \"the-moon\" }", "listeners[0].bind", "is not 'localhost', 'any' or an IP address")]
    [InlineData("{ \"kind\": \"websocket\", \"path\": \"mqtt\" }", "listeners[0].path", "must start with '/'")]
    [InlineData("{ \"kind\": \"mqtt\", \"path\": \"/mqtt\" }", "listeners[0].path", "only websocket and wss listeners have a path")]
    [InlineData("{ \"kind\": \"mqtt\", \"certificate\": \"/x.pem\" }", "listeners[0].certificate", "only mqtts and wss listeners take a certificate")]
    [InlineData("{ \"kind\": \"mqtt\", \"clientCertificates\": \"required\" }", "listeners[0].clientCertificates", "only mqtts and wss listeners take a certificate")]
    public void A_bad_listener_names_its_key(string listener, string key, string reason)
    {
        string path = Write("{\n  \"listeners\": [\n    " + listener + "\n  ]\n}\n");
        ConfigurationError error = LoadFails(path);
        Assert.Equal((3, key), (error.Line, error.Key));
        Assert.Contains(reason, error.Reason);
    }

    [Fact]
    public void Two_listeners_on_one_port_are_refused()
    {
        string path = Write("{\n\"listeners\": [\n{ \"kind\": \"mqtt\", \"port\": 1883 },\n{ \"kind\": \"websocket\", \"port\": 1883 }\n]}");
        ConfigurationError error = LoadFails(path);
        Assert.Equal((4, "listeners[1].port"), (error.Line, error.Key));
        Assert.Contains("also used by listener 0", error.Reason);
    }

    [Fact]
    public void A_missing_certificate_file_names_the_key_and_the_file()
    {
        string missing = Path.Combine(_directory, "missing-cert.pem");
        File.WriteAllText(Path.Combine(_directory, "key.pem"), "not really a key");
        string path = Write($$"""
            {
              "listeners": [
                { "kind": "mqtt", "port": 1883 },
                { "kind": "mqtts", "port": 8883,
                  "certificate": "missing-cert.pem",
                  "privateKey": "key.pem" }
              ]
            }
            """);
        ConfigurationError error = LoadFails(path);
        Assert.Equal((path, 5, "listeners[1].certificate"), (error.Source, error.Line, error.Key));
        Assert.Contains($"certificate file '{missing}' does not exist", error.Reason);
    }

    // Client certificates per TLS listener, in the file as on the command line: checked against clientCa, which must
    // be given (or every certificate would be refused) and must exist, and against clientCrl when one is given.
    [Fact]
    public void A_tls_listener_reads_its_client_certificate_settings_and_needs_a_CA_for_them()
    {
        TestPki pki = TestPki.Create();
        string cert = Path.Combine(_directory, "server.pem"), key = Path.Combine(_directory, "server.key");
        pki.IssueServer(cert, key);
        string Listener(string extra) => Write($$"""
            {
              "listeners": [
                { "kind": "mqtts", "port": 8883, "certificate": "server.pem", "privateKey": "server.key"{{extra}} }
              ]
            }
            """);

        ListenerOptions listener = BrokerConfiguration.Load(Listener($", \"clientCertificates\": \"required\", \"clientCa\": \"{pki.CaPath}\""), new Hashtable()).Options.Listeners.Single();
        Assert.Equal((SensorNode.Broker.Security.ClientCertificateMode.Required, pki.CaPath), (listener.ClientCertificates, listener.ClientCaPath));

        ConfigurationError noCa = LoadFails(Listener(", \"clientCertificates\": \"optional\""));
        Assert.Equal((3, "listeners[0].clientCertificates"), (noCa.Line, noCa.Key));
        Assert.Contains("no clientCa says whom to trust", noCa.Reason);

        ConfigurationError missing = LoadFails(Listener(", \"clientCertificates\": \"required\", \"clientCa\": \"nowhere.pem\""));
        Assert.Equal("listeners[0].clientCa", missing.Key);
        Assert.Contains("does not exist", missing.Reason);

        // A CRL file (Mosquitto's crlfile) goes with client certificates, and must be a CRL signed by the CA.
        string crl = Path.Combine(_directory, "ca.crl");
        pki.WriteCrl(crl, []);
        listener = BrokerConfiguration.Load(Listener($", \"clientCertificates\": \"required\", \"clientCa\": \"{pki.CaPath}\", \"clientCrl\": \"ca.crl\""), new Hashtable()).Options.Listeners.Single();
        Assert.Equal(crl, listener.ClientCrlPath);

        ConfigurationError crlWithoutCertificates = LoadFails(Listener(", \"clientCrl\": \"ca.crl\""));
        Assert.Equal((3, "listeners[0].clientCrl"), (crlWithoutCertificates.Line, crlWithoutCertificates.Key));
        Assert.Contains("needs clientCertificates", crlWithoutCertificates.Reason);

        TestPki.Create().WriteCrl(crl, []);
        ConfigurationError forged = LoadFails(Listener($", \"clientCertificates\": \"required\", \"clientCa\": \"{pki.CaPath}\", \"clientCrl\": \"ca.crl\""));
        Assert.Equal("listeners[0].clientCrl", forged.Key);
        Assert.Contains($"CRL file '{crl}'", forged.Reason);
        Assert.Contains("is not signed by that CA's key", forged.Reason);

        string wss = Write($$"""
            {
              "listeners": [
                { "kind": "wss", "port": 8443, "certificate": "server.pem", "privateKey": "server.key", "clientCertificates": "required", "clientCa": "{{pki.CaPath}}" }
              ]
            }
            """);
        ConfigurationError onWss = LoadFails(wss);
        Assert.Equal("listeners[0].clientCertificates", onWss.Key);
        Assert.Contains("mqtts listeners only", onWss.Reason);
    }

    // A client certificate (Extended Key Usage: client authentication only) given as the server's is refused by every
    // TLS client: start-up says so, naming the key, rather than each handshake failing.
    [Fact]
    public void A_certificate_not_meant_for_servers_is_refused_at_start_up()
    {
        TestPki pki = TestPki.Create();
        pki.IssueClient("not-a-server", Path.Combine(_directory, "client.pem"), Path.Combine(_directory, "client.key"));
        string path = Write("{ \"listeners\": [ { \"kind\": \"mqtts\", \"port\": 8883, \"certificate\": \"client.pem\", \"privateKey\": \"client.key\" } ] }");

        ConfigurationError error = LoadFails(path);
        Assert.Equal("listeners[0].certificate", error.Key);
        Assert.Contains("does not include Server Authentication", error.Reason);

        var tls = new SensorNode.Broker.Security.TlsOptions { CertificatePath = Path.Combine(_directory, "client.pem"), KeyPath = Path.Combine(_directory, "client.key") };
        var options = new BrokerOptions { Tls = tls };
        var startup = Assert.Throws<ConfigurationException>(() => StartupFileChecks.Check(options));
        Assert.Contains(startup.Errors, e => e.Reason.Contains("does not include Server Authentication", StringComparison.Ordinal));
    }

    [Fact]
    public void A_tls_listener_without_a_certificate_is_refused()
    {
        string path = Write("{ \"listeners\": [ { \"kind\": \"wss\", \"port\": 8443 } ] }");
        var ex = Assert.Throws<ConfigurationException>(() => BrokerConfiguration.Load(path, new Hashtable()));
        Assert.Contains(ex.Errors, e => e.Key == "listeners[0].certificate" && e.Reason.Contains("needs a PEM certificate", StringComparison.Ordinal));
        Assert.Contains(ex.Errors, e => e.Key == "listeners[0].privateKey");
    }

    [Fact]
    public void A_certificate_that_is_not_pem_is_refused_at_start_up()
    {
        File.WriteAllText(Path.Combine(_directory, "cert.pem"), "garbage");
        File.WriteAllText(Path.Combine(_directory, "key.pem"), "garbage");
        string path = Write("{ \"listeners\": [ { \"kind\": \"mqtts\", \"port\": 8883, \"certificate\": \"cert.pem\", \"privateKey\": \"key.pem\" } ] }");
        ConfigurationError error = LoadFails(path);
        Assert.Equal("listeners[0].certificate", error.Key);
        Assert.Contains("cannot load the certificate and key", error.Reason);
    }

    [Theory]
    [InlineData("{\n  \"port\": 1883,\n  \"bind\" \"any\"\n}", 3)]
    [InlineData("{\n  \"maxPacketSize\": 12,\n  \"maxPacketSize\": 13\n}", 3)]
    [InlineData("[1, 2]", 1)]
    public void Broken_json_names_the_file_and_line(string json, int line)
    {
        string path = Write(json);
        ConfigurationError error = LoadFails(path);
        Assert.Equal((path, line), (error.Source, error.Line));
    }

    [Fact]
    public void A_missing_file_is_an_error_naming_it()
    {
        string path = Path.Combine(_directory, "nope.json");
        ConfigurationError error = LoadFails(path);
        Assert.Equal(path, error.Source);
        Assert.Contains("does not exist", error.Reason);
    }

    [Fact]
    public void Environment_variables_override_the_file_and_command_line_overrides_both()
    {
        string path = Write("""{ "dataDirectory": "from-file", "maxPacketSize": 2000, "listeners": [ { "kind": "mqtt", "port": 1000 }, { "kind": "http", "port": 1001 } ] }""");
        var environment = new Hashtable
        {
            ["SENSORNODE_MAXPACKETSIZE"] = "3000",
            ["SENSORNODE_LISTENERS__0__PORT"] = "2000",
            ["SENSORNODE_LISTENERS__1__BIND"] = "127.0.0.1",
            ["SENSORNODE_CONFIG"] = "ignored: the file's path, not a key",
            ["SENSORNODE_TLS_PFX_PASSWORD"] = "read by the TLS set-up, not a key",
            ["SENSORNODE_TCP_TRANSPORT"] = "sockets",
            ["sensornode_io_threads"] = "2",
            ["OTHER_VARIABLE"] = "ignored",
        };
        LoadedConfiguration config = BrokerConfiguration.Load(path, environment, new CommandLineOverrides { Port = 3000, DataDirectory = "from-cli", WebSocketPort = 0 });
        BrokerOptions o = config.Options;
        Assert.Equal("from-cli", o.DataDirectory);
        Assert.Equal(3000, o.MaxPacketSize);
        Assert.Equal(3000, o.Listeners[0].Port);
        Assert.Equal(("127.0.0.1", 1001), (o.Listeners[1].BindAddress, o.Listeners[1].Port));
        Assert.Equal((ListenerKind.WebSocket, 0), (o.Listeners[2].Kind, o.Listeners[2].Port));
        Assert.Contains(config.Entries, e => e.Key == "listeners:0:port" && e.Source == "command line --port");
    }

    [Fact]
    public void A_bad_environment_variable_is_named()
    {
        ConfigurationError error = LoadFails(null, new Hashtable { ["SENSORNODE_LISTENERS__0__PORT"] = "eighty" });
        Assert.Equal("environment variable SENSORNODE_LISTENERS__0__PORT", error.Source);
        Assert.Equal("listeners[0].port", error.Key);
        Assert.Null(error.Line);
    }

    [Fact]
    public void An_unknown_environment_variable_with_the_prefix_is_refused()
    {
        ConfigurationError error = LoadFails(null, new Hashtable { ["SENSORNODE_DATADIR"] = "x" });
        Assert.Equal(("environment variable SENSORNODE_DATADIR", "DATADIR"), (error.Source, error.Key));
        Assert.Contains("unknown key", error.Reason);
    }

    [Fact]
    public void A_bad_command_line_value_is_named_by_its_option()
    {
        ConfigurationError error = LoadFails(null, overrides: new CommandLineOverrides { Port = 99999 });
        Assert.Equal(("command line --port", "listeners[0].port"), (error.Source, error.Key));
    }

    [Fact]
    public void Bind_on_the_command_line_applies_to_every_listener()
    {
        string path = Write("""{ "listeners": [ { "kind": "mqtt" }, { "kind": "websocket" } ] }""");
        LoadedConfiguration config = BrokerConfiguration.Load(path, new Hashtable(), new CommandLineOverrides { Bind = "any" });
        Assert.All(config.Options.Listeners, l => Assert.Equal("any", l.BindAddress));
        Assert.Equal(8080, config.Options.Listeners[1].Port);
    }

    [Fact]
    public void Every_error_is_reported_at_once()
    {
        string path = Write("{\n\"maxPacketSize\": \"x\",\n\"durability\": \"y\",\n\"colour\": \"blue\"\n}");
        var ex = Assert.Throws<ConfigurationException>(() => BrokerConfiguration.Load(path, new Hashtable()));
        Assert.Equal([2, 3, 4], ex.Errors.Select(e => e.Line ?? 0).Order());
    }

    [Fact]
    public void Subscription_bound_and_dashboard_raw_interval_are_read_and_checked()
    {
        LoadedConfiguration config = BrokerConfiguration.Load(Write("{ \"maxSubscriptionsPerClient\": 25000, \"dashboard\": { \"rawIntervalSeconds\": 0 } }"), new Hashtable());
        Assert.Equal(25_000, config.Options.MaxSubscriptionsPerClient);
        Assert.Equal(TimeSpan.Zero, config.Options.Dashboard.RawInterval);
        Assert.Equal(100_000, new BrokerOptions().MaxSubscriptionsPerClient);

        var ex = Assert.Throws<ConfigurationException>(() => BrokerConfiguration.Load(Write("{\n\"maxSubscriptionsPerClient\": 0\n}"), new Hashtable()));
        Assert.Contains(ex.Errors, e => e.Key == "maxSubscriptionsPerClient" && e.Line == 2);
    }

    /// <summary>The systemd unit passes only --config: users, ACL and anonymous access must be settable in the file.</summary>
    [Fact]
    public void Security_files_and_anonymous_access_are_read_from_the_file()
    {
        string path = Write("""{ "security": { "passwordFile": "users", "aclFile": "acl", "allowAnonymous": true } }""");
        LoadedConfiguration config = BrokerConfiguration.Load(path, new Hashtable());
        string directory = Path.GetDirectoryName(path)!;
        Assert.Equal(Path.Combine(directory, "users"), config.Options.Security.PasswordFile);
        Assert.Equal(Path.Combine(directory, "acl"), config.Options.Security.AclFile);
        Assert.True(config.Options.Security.AllowAnonymous);
    }

    [Fact]
    public void The_shipped_example_configuration_is_valid()
    {
        string example = Path.Combine(RepositoryRoot(), "deploy", "broker.json");
        LoadedConfiguration config = BrokerConfiguration.Load(example, new Hashtable());
        Assert.Contains(config.Options.Listeners, l => l.Kind == ListenerKind.Mqtt && l.Port == 1883);
        Assert.Contains(config.Options.Listeners, l => l.Kind == ListenerKind.WebSocket && l.Port == 8080 && l.Path == "/mqtt");
        Assert.Contains(config.Options.Listeners, l => l.Kind == ListenerKind.Http);
        Assert.Equal("/var/lib/sensornode", config.Options.DataDirectory);
    }

    internal static string RepositoryRoot()
    {
        for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "SensorNode.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("SensorNode.sln not found above " + AppContext.BaseDirectory);
    }
}
