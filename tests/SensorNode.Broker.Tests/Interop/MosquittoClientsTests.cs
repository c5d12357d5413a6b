using System.Globalization;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SensorNode.Broker.Tests.Interop;

/// <summary>
/// Eclipse Mosquitto's command-line clients (mosquitto_pub, mosquitto_sub from mosquitto-clients) against the
/// broker. mosquitto_sub prints nothing before its first message, so tests wait on the broker's routing table
/// for its subscription (by the client id given with -i). Skipped without the tools, failed for them on CI.
/// </summary>
public sealed class MosquittoClientsTests(ITestOutputHelper output)
{
    [SkippableTheory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Mosquitto_sub_receives_mosquitto_pub_messages(int qos)
    {
        string sub = ExternalTool.RequireMosquittoSub();
        string pub = ExternalTool.RequireMosquittoPub();
        await using BrokerServer broker = await TestBroker.StartAsync();
        string q = qos.ToString(CultureInfo.InvariantCulture);
        string topic = $"sensor/qos{qos}/temperature";
        string verboseId = NewId("ms-v");
        string formatId = NewId("ms-f");

        // The classic form, -v printing "topic payload"; a second subscriber prints the QoS and retain flag it got.
        await using ExternalProcess verbose = StartSub(sub, broker.Port, "-i", verboseId, "-t", "sensor/#", "-q", q, "-v", "-C", "5", "-W", "10");
        await using ExternalProcess formatted = StartSub(sub, broker.Port, "-i", formatId, "-t", "sensor/#", "-q", q, "-F", "%q %r %t %p", "-C", "5", "-W", "10");
        await BrokerWait.ForSubscriptionAsync(broker, verboseId, topic, verbose);
        await BrokerWait.ForSubscriptionAsync(broker, formatId, topic, formatted);

        // -l publishes each stdin line as a message over one connection, so their order is kept even at QoS 0.
        string[] payloads = [.. Enumerable.Range(0, 5).Select(i => $"{20 + i}.5")];
        ProcessResult published = await RunPub(pub, broker.Port, payloads, "-t", topic, "-q", q, "-l");

        published.AssertSuccess();
        await verbose.AssertExitsCleanlyAsync();
        await formatted.AssertExitsCleanlyAsync();
        Assert.Equal([.. payloads.Select(p => $"{topic} {p}")], verbose.OutputLines);
        Assert.Equal([.. payloads.Select(p => $"{qos} 0 {topic} {p}")], formatted.OutputLines);
    }

    [SkippableFact]
    public async Task Mosquitto_sub_wildcard_filters_receive_only_matching_topics()
    {
        string sub = ExternalTool.RequireMosquittoSub();
        string pub = ExternalTool.RequireMosquittoPub();
        await using BrokerServer broker = await TestBroker.StartAsync();
        string id = NewId("ms-wild");
        await using ExternalProcess subscriber = StartSub(sub, broker.Port, "-i", id, "-t", "sensor/+/temperature", "-t", "alerts/#", "-q", "1", "-v", "-C", "4", "-W", "10");
        await BrokerWait.ForSubscriptionAsync(broker, id, "sensor/kitchen/temperature", subscriber);
        await BrokerWait.ForSubscriptionAsync(broker, id, "alerts/fire", subscriber);

        // One QoS 1 publish per process: each returns after PUBACK, so the broker routed them in this order.
        // Non-matching topics are interleaved; had one been delivered it would take the place of a matching one.
        (string Topic, bool Matches)[] publications =
        [
            ("sensor/kitchen/humidity", false),
            ("sensor/kitchen/temperature", true),
            ("sensor/garage/door/temperature", false), // '+' is exactly one level
            ("alerts", true), // 'alerts/#' includes the parent level [MQTT-4.7.1-2]
            ("other/alerts/fire", false),
            ("alerts/fire/zone1", true),
            ("sensor/temperature", false),
            ("sensor/attic/temperature", true),
        ];
        for (int i = 0; i < publications.Length; i++)
        {
            (await RunPub(pub, broker.Port, null, "-t", publications[i].Topic, "-m", $"m{i}", "-q", "1")).AssertSuccess();
        }

        await subscriber.AssertExitsCleanlyAsync();
        string[] expected = [.. publications.Select((p, i) => (p, i)).Where(x => x.p.Matches).Select(x => $"{x.p.Topic} m{x.i}")];
        Assert.Equal(expected, subscriber.OutputLines);
    }

    [SkippableFact]
    public async Task Retained_message_from_mosquitto_pub_reaches_a_later_mosquitto_sub_with_retain_flag()
    {
        string sub = ExternalTool.RequireMosquittoSub();
        string pub = ExternalTool.RequireMosquittoPub();
        await using BrokerServer broker = await TestBroker.StartAsync();

        (await RunPub(pub, broker.Port, null, "-t", "sensor/outdoor/temperature", "-m", "12.5", "-q", "1", "-r")).AssertSuccess();

        // Subscribed only now: the broker sends the stored message with RETAIN=1 [MQTT-3.3.1-8].
        await using ExternalProcess verbose = StartSub(sub, broker.Port, "-t", "sensor/#", "-q", "1", "-v", "-C", "1", "-W", "10");
        await using ExternalProcess formatted = StartSub(sub, broker.Port, "-t", "sensor/#", "-q", "1", "-F", "%r %q %t %p", "-C", "1", "-W", "10");
        await verbose.AssertExitsCleanlyAsync();
        await formatted.AssertExitsCleanlyAsync();
        Assert.Equal(["sensor/outdoor/temperature 12.5"], verbose.OutputLines);
        Assert.Equal(["1 1 sensor/outdoor/temperature 12.5"], formatted.OutputLines);
    }

    [SkippableFact]
    public async Task Empty_retained_message_from_mosquitto_pub_deletes_the_retained_value()
    {
        string sub = ExternalTool.RequireMosquittoSub();
        string pub = ExternalTool.RequireMosquittoPub();
        await using BrokerServer broker = await TestBroker.StartAsync();
        (await RunPub(pub, broker.Port, null, "-t", "sensor/door", "-m", "open", "-q", "1", "-r")).AssertSuccess();
        Assert.Single(BrokerWait.Retained(broker, "sensor/door"));

        // -r -n: a zero-byte retained message removes the stored one [MQTT-3.3.1-10].
        (await RunPub(pub, broker.Port, null, "-t", "sensor/door", "-q", "1", "-r", "-n")).AssertSuccess();
        Assert.Empty(BrokerWait.Retained(broker, "sensor/door"));

        // And a new subscriber gets nothing for the topic: the first thing it sees is a marker published after it subscribed.
        string id = NewId("ms-noret");
        string marker = $"marker/{id}";
        await using ExternalProcess subscriber = StartSub(sub, broker.Port, "-i", id, "-t", "sensor/door", "-t", marker, "-q", "1", "-v", "-C", "1", "-W", "10");
        await BrokerWait.ForSubscriptionAsync(broker, id, marker, subscriber);
        (await RunPub(pub, broker.Port, null, "-t", marker, "-m", "end", "-q", "1")).AssertSuccess();
        await subscriber.AssertExitsCleanlyAsync();
        Assert.Equal([$"{marker} end"], subscriber.OutputLines);
    }

    [SkippableTheory]
    [InlineData("mqttv31")]
    [InlineData("mqttv311")]
    public async Task Mosquitto_clients_work_with_protocol_version(string version)
    {
        string sub = ExternalTool.RequireMosquittoSub();
        string pub = ExternalTool.RequireMosquittoPub();
        await using BrokerServer broker = await TestBroker.StartAsync();

        // MQTT 3.1 limits client identifiers to 23 characters: these are 14.
        string subId = NewId("ms-s");
        await using ExternalProcess subscriber = StartSub(sub, broker.Port, "-V", version, "-i", subId, "-t", "sensor/+/version", "-q", "2", "-F", "%q %t %p", "-C", "3", "-W", "10");
        await BrokerWait.ForSubscriptionAsync(broker, subId, "sensor/x/version", subscriber);

        (await RunPub(pub, broker.Port, null, "-V", version, "-i", NewId("ms-p"), "-t", "sensor/a/version", "-m", "q0", "-q", "0")).AssertSuccess();
        (await RunPub(pub, broker.Port, null, "-V", version, "-i", NewId("ms-p"), "-t", "sensor/b/version", "-m", "q1", "-q", "1")).AssertSuccess();
        (await RunPub(pub, broker.Port, null, "-V", version, "-i", NewId("ms-p"), "-t", "sensor/c/version", "-m", "q2", "-q", "2")).AssertSuccess();

        await subscriber.AssertExitsCleanlyAsync();

        // A QoS 0 publisher's message may in principle be overtaken by the next publisher's; compare as a set.
        Assert.Equal(["0 sensor/a/version q0", "1 sensor/b/version q1", "2 sensor/c/version q2"], subscriber.OutputLines.Order(StringComparer.Ordinal));
    }

    [SkippableFact]
    public async Task Mosquitto_sub_persistent_session_receives_messages_queued_while_offline()
    {
        string sub = ExternalTool.RequireMosquittoSub();
        string pub = ExternalTool.RequireMosquittoPub();
        await using BrokerServer broker = await TestBroker.StartAsync();
        string id = NewId("ms-persist");
        const string topic = "sensor/persistent/level";

        // -c: clean session off; -E: exit (with DISCONNECT) once the subscription is acknowledged.
        ProcessResult first = await ExternalTool.RunAsync(sub, [.. Endpoint(broker.Port), "-c", "-i", id, "-q", "1", "-t", topic, "-E"], output);
        first.AssertSuccess();
        await BrokerWait.ForOfflineSessionAsync(broker, id);

        string[] payloads = ["queued-0", "queued-1", "queued-2"];
        (await RunPub(pub, broker.Port, payloads, "-t", topic, "-q", "1", "-l")).AssertSuccess();

        await using ExternalProcess second = StartSub(sub, broker.Port, "-c", "-i", id, "-q", "1", "-t", topic, "-v", "-C", "3", "-W", "10");
        await second.AssertExitsCleanlyAsync();
        Assert.Equal([.. payloads.Select(p => $"{topic} {p}")], second.OutputLines);
    }

    // A users file written by mosquitto_passwd works unchanged: its default PBKDF2 hash and its old salted SHA-512
    // ('-H sha512'); a wrong password is refused (mosquitto_pub exits non-zero).
    [SkippableFact]
    public async Task A_mosquitto_passwd_file_logs_in_mosquitto_pub()
    {
        string passwd = ExternalTool.RequireMosquittoPasswd();
        string pub = ExternalTool.RequireMosquittoPub();
        string users = Path.Combine(TestBroker.NewDataDirectory(), "passwd");
        Directory.CreateDirectory(Path.GetDirectoryName(users)!);
        (await ExternalTool.RunAsync(passwd, ["-c", "-b", users, "alice", "alice pw"], output)).AssertSuccess();
        (await ExternalTool.RunAsync(passwd, ["-b", "-H", "sha512", users, "bob", "bob-pw"], output)).AssertSuccess();
        await using BrokerServer broker = await TestBroker.StartAsync(o =>
        {
            o.Security.PasswordFile = users;
            o.Security.AllowAnonymous = false;
            o.Security.FailedLoginDelay = TimeSpan.FromMilliseconds(20);
        });
        await using MqttNetClient watcher = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials("alice", "alice pw"));
        await watcher.SubscribeAsync("login/#", MqttQualityOfServiceLevel.AtLeastOnce);

        (await RunPub(pub, broker.Port, null, "-u", "alice", "-P", "alice pw", "-t", "login/alice", "-m", "a", "-q", "1")).AssertSuccess();
        (await RunPub(pub, broker.Port, null, "-u", "bob", "-P", "bob-pw", "-t", "login/bob", "-m", "b", "-q", "1")).AssertSuccess();
        ProcessResult refused = await RunPub(pub, broker.Port, null, "-u", "bob", "-P", "alice pw", "-t", "login/bob", "-m", "no", "-q", "1");

        Assert.NotEqual(0, refused.ExitCode);
        Assert.Equal(["a", "b"], (await watcher.ReceiveUntilMarkerAsync(watcher)).Select(m => m.Payload));
    }

    [SkippableFact]
    public async Task Mosquitto_sub_will_is_published_when_the_process_is_killed()
    {
        string sub = ExternalTool.RequireMosquittoSub();
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient watcher = await MqttNetClient.ConnectAsync(broker.Port);
        await watcher.SubscribeAsync("sensor/status/#", MqttQualityOfServiceLevel.AtLeastOnce);
        string id = NewId("ms-will");
        string willTopic = $"sensor/status/{id}";
        await using ExternalProcess client = StartSub(
            sub, broker.Port, "-i", id, "-t", $"sensor/cmd/{id}", "-W", "15",
            "--will-topic", willTopic, "--will-payload", "offline", "--will-qos", "1");
        await BrokerWait.ForSubscriptionAsync(broker, id, $"sensor/cmd/{id}", client);

        // SIGKILL on the process this test started: no DISCONNECT, so the broker must publish the will.
        await client.KillAsync();

        ReceivedMessage will = await watcher.NextAsync();
        Assert.Equal(new ReceivedMessage(willTopic, "offline", MqttQualityOfServiceLevel.AtLeastOnce, false), will);
    }

    private static string NewId(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    private static string[] Endpoint(int port) => ["-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture)];

    private ExternalProcess StartSub(string mosquittoSub, int port, params string[] arguments) =>
        ExternalProcess.Start(mosquittoSub, [.. Endpoint(port), .. arguments], output);

    private Task<ProcessResult> RunPub(string mosquittoPub, int port, IEnumerable<string>? standardInputLines, params string[] arguments) =>
        ExternalTool.RunAsync(mosquittoPub, [.. Endpoint(port), .. arguments], output, standardInputLines: standardInputLines);
}
