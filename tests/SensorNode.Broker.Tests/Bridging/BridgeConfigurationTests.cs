using System.Collections;
using SensorNode.Broker.Bridging;
using SensorNode.Broker.Configuration;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Tests.Bridging;

/// <summary>The <c>bridges</c> list of the configuration file: every key binds, every mistake names file, line and key.</summary>
[Trait("Category", "Bridging")]
public sealed class BridgeConfigurationTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "sensornode-bridge-config-tests", Guid.NewGuid().ToString("N"));

    public BridgeConfigurationTests() => Directory.CreateDirectory(_directory);

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Write(string json, string name = "broker.json")
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllText(path, json);
        return path;
    }

    private static ConfigurationError LoadFails(string path)
    {
        var ex = Assert.Throws<ConfigurationException>(() => BrokerConfiguration.Load(path, new Hashtable()));
        return Assert.Single(ex.Errors);
    }

    [Fact]
    public void A_good_bridge_sets_every_key()
    {
        File.WriteAllText(Path.Combine(_directory, "ca.pem"), "not checked here: tls is off in the second bridge");
        string path = Write("""
            {
              "bridges": [
                {
                  "name": "cloud",
                  "addresses": [ "emqx-1.example.net:8883", "emqx-2.example.net", "[::1]:18883" ],
                  "tls": false,
                  "serverName": "mqtt.example.net",
                  "alpn": [ "x-amzn-mqtt-ca" ],
                  "userName": "site-a",
                  "password": "secret",
                  "clientId": "site-a-bridge",
                  "protocol": "3.1.1",
                  "keepAliveSeconds": 30,
                  "cleanStart": false,
                  "sessionExpirySeconds": 3600,
                  "bridgeProtocolFlag": false,
                  "reconnectMinMs": 500,
                  "reconnectMaxMs": 30000,
                  "connectTimeoutSeconds": 7,
                  "maxQueuedBytes": 1048576,
                  "maxQueuedMessages": 5000,
                  "maxMessageAgeSeconds": 86400,
                  "overflowPolicy": "dropNewest",
                  "maxInflight": 5,
                  "drainRatePerSecond": 200,
                  "maxPacketSize": 65536,
                  "topics": [
                    { "direction": "out", "local": "sensor/#", "remotePrefix": "site-a/", "qos": 1, "retain": "clear" },
                    { "direction": "in", "local": "cmd/#", "remote": "commands/site-a/#" },
                    { "direction": "both", "local": "shared/+/x" },
                  ],
                },
                { "name": "backup", "addresses": [ "127.0.0.1" ], "topics": [ { "local": "#" } ] },
              ],
            }
            """);

        BrokerOptions o = BrokerConfiguration.Load(path, new Hashtable()).Options;
        Assert.Equal(2, o.Bridges.Count);
        BridgeOptions b = o.Bridges[0];
        Assert.Equal("cloud", b.Name);
        Assert.Equal(
            [new UpstreamAddress("emqx-1.example.net", 8883), new UpstreamAddress("emqx-2.example.net", 1883), new UpstreamAddress("::1", 18883)],
            b.Addresses);
        Assert.False(b.Tls);
        Assert.Equal("mqtt.example.net", b.ServerName);
        Assert.Equal(["x-amzn-mqtt-ca"], b.Alpn);
        Assert.Equal(("site-a", "secret", "site-a-bridge"), (b.UserName, b.Password, b.ClientId));
        Assert.False(b.Mqtt5);
        Assert.Equal(30, b.KeepAliveSeconds);
        Assert.False(b.CleanStart);
        Assert.Equal(3600u, b.SessionExpirySeconds);
        Assert.False(b.BridgeProtocolFlag);
        Assert.Equal(TimeSpan.FromMilliseconds(500), b.ReconnectMin);
        Assert.Equal(TimeSpan.FromSeconds(30), b.ReconnectMax);
        Assert.Equal(TimeSpan.FromSeconds(7), b.ConnectTimeout);
        Assert.Equal(1048576, b.MaxQueuedBytes);
        Assert.Equal(5000, b.MaxQueuedMessages);
        Assert.Equal(TimeSpan.FromDays(1), b.MaxMessageAge);
        Assert.Equal(QueueOverflowPolicy.DropNewest, b.OverflowPolicy);
        Assert.Equal(5, b.MaxInflight);
        Assert.Equal(200, b.DrainRatePerSecond);
        Assert.Equal(65536, b.MaxPacketSize);
        Assert.Equal(3, b.Topics.Count);
        Assert.Equal((BridgeDirection.Out, "sensor/#", "site-a/sensor/#", (byte)1, BridgeRetainMode.Clear), (b.Topics[0].Direction, b.Topics[0].Local, b.Topics[0].RemoteFilter, b.Topics[0].MaxQos, b.Topics[0].Retain));
        Assert.Equal((BridgeDirection.In, "cmd/#", "commands/site-a/#", (byte)2), (b.Topics[1].Direction, b.Topics[1].Local, b.Topics[1].RemoteFilter, b.Topics[1].MaxQos));
        Assert.Equal((BridgeDirection.Both, "shared/+/x"), (b.Topics[2].Direction, b.Topics[2].RemoteFilter));
        Assert.Equal(("backup", true, $"sensornode-{Environment.MachineName.ToLowerInvariant()}-backup", "$bridge/backup"), (o.Bridges[1].Name, o.Bridges[1].Mqtt5, o.Bridges[1].EffectiveClientId, o.Bridges[1].LocalClientId));
    }

    [Theory]
    [InlineData("\"addresses\": [\"h:99999\"],\n", 4, "bridges[0].addresses[0]", "is not \"host\" or \"host:port\"")]
    [InlineData("\"addresses\": [],\n", 4, "bridges[0].addresses", "at least one upstream address")]
    [InlineData("\"protocol\": \"3.1\",\n", 4, "bridges[0].protocol", "\"3.1.1\" or \"5.0\"")]
    [InlineData("\"keepAliveSeconds\": -1,\n", 4, "bridges[0].keepAliveSeconds", "out of range")]
    [InlineData("\"overflowPolicy\": \"dropAll\",\n", 4, "bridges[0].overflowPolicy", "is not one of dropOldest, dropNewest")]
    [InlineData("\"caFile\": \"ca.pem\",\n", 4, "bridges[0].caFile", "only used with \"tls\": true")]
    [InlineData("\"tls\": true, \"caFile\": \"missing.pem\",\n", 4, "bridges[0].caFile", "does not exist")]
    [InlineData("\"reconnectMinMs\": 5000, \"reconnectMaxMs\": 1000,\n", 4, "bridges[0].reconnectMinMs", "must not be more than reconnectMaxMs")]
    [InlineData("\"upstream\": \"x\",\n", 4, "bridges[0].upstream", "unknown key")]
    [InlineData("\"addreses\": [\"x\"],\n", 4, "bridges[0].addreses", "did you mean 'addresses'")]
    public void A_bad_bridge_value_names_file_line_and_key(string line4, int line, string key, string reason)
    {
        string path = Write("{\n\"bridges\": [ {\n\"name\": \"cloud\", \"topics\": [ { \"local\": \"a/#\" } ],\n" + line4 + (line4.Contains("addresses", StringComparison.Ordinal) && !line4.Contains("addreses", StringComparison.Ordinal) ? "" : "\"addresses\": [\"127.0.0.1\"],\n") + "} ]\n}");
        ConfigurationError error = LoadFails(path);
        Assert.Equal(path, error.Source);
        Assert.Equal(line, error.Line);
        Assert.Equal(key, error.Key);
        Assert.Contains(reason, error.Reason, StringComparison.Ordinal);
        Assert.StartsWith($"{path}:{line}: {key}: ", error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ \"local\": \"a/#\", \"qos\": 3 }", "bridges[0].topics[0].qos", "out of range (0..2)")]
    [InlineData("{ \"local\": \"a/#\", \"remote\": \"b/+\" }", "bridges[0].topics[0].remote", "must end in the same wildcard levels")]
    [InlineData("{ \"local\": \"a/#/b\" }", "bridges[0].topics[0].local", "not a valid topic filter")]
    [InlineData("{ \"local\": \"a/#\", \"direction\": \"sideways\" }", "bridges[0].topics[0].direction", "is not one of out, in, both")]
    [InlineData("{ \"local\": \"a/#\", \"remote\": \"b/#\", \"remotePrefix\": \"c/\" }", "bridges[0].topics[0].remotePrefix", "either remote or remotePrefix")]
    [InlineData("{ \"direction\": \"in\" }", "bridges[0].topics[0]", "local (the local topic filter")]
    [InlineData("{ \"local\": \"a/#\", \"retain\": \"maybe\" }", "bridges[0].topics[0].retain", "is not one of keep, clear")]
    public void A_bad_topic_rule_names_its_line_and_key(string rule, string key, string reason)
    {
        string path = Write("{\n\"bridges\": [ {\n\"name\": \"cloud\", \"addresses\": [\"127.0.0.1\"],\n\"topics\": [\n" + rule + "\n] } ]\n}");
        ConfigurationError error = LoadFails(path);
        Assert.Equal(5, error.Line);
        Assert.Equal(key, error.Key);
        Assert.Contains(reason, error.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Names_are_required_unique_and_plain()
    {
        string path = Write("{\n\"bridges\": [\n{ \"name\": \"a\", \"addresses\": [\"h\"], \"topics\": [ { \"local\": \"#\" } ] },\n{ \"name\": \"a\", \"addresses\": [\"h\"], \"topics\": [ { \"local\": \"#\" } ] },\n{ \"name\": \"x/y\", \"addresses\": [\"h\"], \"topics\": [ { \"local\": \"#\" } ] },\n{ \"addresses\": [\"h\"], \"topics\": [ { \"local\": \"#\" } ] }\n]\n}");
        var ex = Assert.Throws<ConfigurationException>(() => BrokerConfiguration.Load(path, new Hashtable()));
        Assert.Collection(
            ex.Errors.OrderBy(e => e.Line),
            e => Assert.Equal((4, "bridges[1].name"), (e.Line!.Value, e.Key!)),
            e => Assert.Equal((5, "bridges[2].name"), (e.Line!.Value, e.Key!)),
            e => Assert.Equal((6, "bridges[3]"), (e.Line!.Value, e.Key!)));
    }

    [Fact]
    public void The_example_bridge_in_the_shipped_configuration_is_valid()
    {
        // deploy/broker.json carries the bridge commented out (a fresh install has no upstream): uncommented, it loads.
        string shipped = File.ReadAllText(Path.Combine(Operations.ConfigurationTests.RepositoryRoot(), "deploy", "broker.json"));
        const string begin = "// --- bridge example begin ---";
        const string end = "// --- bridge example end ---";
        int from = shipped.IndexOf(begin, StringComparison.Ordinal);
        int to = shipped.IndexOf(end, StringComparison.Ordinal);
        Assert.True(from >= 0 && to > from, "deploy/broker.json has no bridge example between the markers");
        string block = string.Join('\n', shipped[(from + begin.Length)..to].Split('\n')
            .Select(l => l.TrimStart())
            .Where(l => l.StartsWith("// ", StringComparison.Ordinal))
            .Select(l => l[3..]));
        string path = Write("{\n" + block + "\n}");
        BrokerOptions o = BrokerConfiguration.Load(path, new Hashtable()).Options;
        BridgeOptions bridge = Assert.Single(o.Bridges);
        Assert.NotEmpty(bridge.Addresses);
        Assert.NotEmpty(bridge.Topics);
    }
}
