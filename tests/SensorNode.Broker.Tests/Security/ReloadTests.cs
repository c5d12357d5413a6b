using MQTTnet;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Security;
using SensorNode.Broker.Tests.Infrastructure;
using static SensorNode.Broker.Tests.Security.SecurityTestSupport;

namespace SensorNode.Broker.Tests.Security;

/// <summary>The users and ACL files are reloaded when they change, without dropping connections.</summary>
public sealed class ReloadTests
{
    private const string Before = """
        user alice
        topic readwrite sensors/#
        user bob
        topic read sensors/#
        pattern readwrite marker/#
        """;

    // The same rules, except that bob may no longer read sensors/#; returns the version from before the reload.
    private static async Task<int> RevokeBobsSensorsAsync(BrokerServer broker, string acl)
    {
        int version = broker.Broker.Security.Version;
        WriteAtomically(acl, """
            user alice
            topic readwrite sensors/#
            user bob
            topic read other/#
            pattern readwrite marker/#
            """);
        await WaitForReloadAsync(broker, version);
        return version;
    }

    [Fact]
    public async Task Acl_change_applies_to_connected_clients_without_dropping_them()
    {
        string acl = WriteAcl(TestBroker.NewDataDirectory(), Before);
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.Security.AclFile = acl);
        await using MqttNetClient alice = await ConnectV5Async(broker.Port, configure: b => b.WithCredentials("alice", "x"));
        await using MqttNetClient bob = await ConnectV5Async(broker.Port, configure: b => b.WithCredentials("bob", "x"));
        await bob.SubscribeAsync("sensors/#", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, (await alice.PublishAsync("extra/x", "no", MqttQualityOfServiceLevel.AtLeastOnce)).ReasonCode);
        Assert.Equal(MqttClientSubscribeResultCode.NotAuthorized, (await bob.SubscribeAsync("extra/#")).Items.Single().ResultCode);

        int version = broker.Broker.Security.Version;
        WriteAtomically(acl, """
            user alice
            topic read sensors/#
            topic write extra/#
            user bob
            topic read sensors/#
            topic read extra/#
            pattern readwrite marker/#
            """);
        await WaitForReloadAsync(broker, version);

        // alice lost write on sensors/# and gained extra/#; bob gained read on extra/#. Same connections.
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, (await alice.PublishAsync("sensors/t", "denied", MqttQualityOfServiceLevel.AtLeastOnce)).ReasonCode);
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, (await bob.SubscribeAsync("extra/#", MqttQualityOfServiceLevel.AtLeastOnce)).Items.Single().ResultCode);
        Assert.Equal(MqttClientPublishReasonCode.Success, (await alice.PublishAsync("extra/x", "yes", MqttQualityOfServiceLevel.AtLeastOnce)).ReasonCode);
        ReceivedMessage received = await bob.NextAsync();
        Assert.Equal(("extra/x", "yes"), (received.Topic, received.Payload));
        Assert.True(alice.Client.IsConnected);
        Assert.True(bob.Client.IsConnected);
        Assert.Empty(await bob.ReceiveUntilMarkerAsync(alice));
    }

    // Mosquitto checks read access on every delivery, so a reload that takes read access away also stops the
    // messages of subscriptions made before it.
    [Fact]
    public async Task Acl_reload_that_revokes_read_stops_deliveries_to_existing_subscriptions()
    {
        string acl = WriteAcl(TestBroker.NewDataDirectory(), Before);
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.Security.AclFile = acl);
        await using MqttNetClient alice = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials("alice", "x"));
        await using MqttNetClient bob = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials("bob", "x"));
        await bob.SubscribeAsync("sensors/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await alice.PublishAsync("sensors/t", "before", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal("before", (await bob.NextAsync()).Payload);

        await RevokeBobsSensorsAsync(broker, acl);

        await alice.PublishAsync("sensors/t", "after", MqttQualityOfServiceLevel.AtLeastOnce);
        List<ReceivedMessage> leaked = await bob.ReceiveUntilMarkerAsync(alice);
        Assert.True(leaked.Count == 0, $"bob no longer may read sensors/# but still received: {string.Join(", ", leaked.Select(m => $"{m.Topic}={m.Payload}"))}");
        Assert.True(bob.Client.IsConnected);
    }

    // The same for what was queued before the reload: Mosquitto checks read access as a message goes out, so a
    // persistent session's queued message on a topic its client may no longer read is not delivered when it returns.
    [Fact]
    public async Task Acl_reload_that_revokes_read_drops_what_a_persistent_session_had_queued()
    {
        string acl = WriteAcl(TestBroker.NewDataDirectory(), Before);
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.Security.AclFile = acl);
        await using MqttNetClient alice = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials("alice", "x"));
        await using (MqttNetClient away = await MqttNetClient.ConnectAsync(broker.Port, "bob-persistent", cleanSession: false, configure: b => b.WithCredentials("bob", "x")))
        {
            await away.SubscribeAsync("sensors/#", MqttQualityOfServiceLevel.AtLeastOnce);
            await away.SubscribeAsync("marker/#", MqttQualityOfServiceLevel.AtLeastOnce);
        }

        await alice.PublishAsync("sensors/kept-out", "queued before", MqttQualityOfServiceLevel.AtLeastOnce);
        await alice.PublishAsync("marker/still", "readable", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal(2, broker.Broker.Sessions.Find("bob-persistent")!.QueuedCount);
        long deniedBefore = broker.Broker.Metrics.AclDenied;
        await RevokeBobsSensorsAsync(broker, acl);

        await using MqttNetClient back = await MqttNetClient.ConnectAsync(broker.Port, "bob-persistent", cleanSession: false, configure: b => b.WithCredentials("bob", "x"));

        Assert.Equal([("marker/still", "readable")], (await back.ReceiveUntilMarkerAsync(alice)).Select(m => (m.Topic, m.Payload)));
        Assert.Equal(deniedBefore + 1, broker.Broker.Metrics.AclDenied);
    }

    // The same when another user resumes the session by its client id: what was queued for bob was checked against
    // bob's rules, and carol may not read it.
    [Fact]
    public async Task A_different_user_resuming_a_persistent_session_gets_only_what_it_may_read_of_the_queue()
    {
        string acl = WriteAcl(TestBroker.NewDataDirectory(), Before);
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.Security.AclFile = acl);
        await using MqttNetClient alice = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials("alice", "x"));
        await using (MqttNetClient away = await MqttNetClient.ConnectAsync(broker.Port, "shared-id", cleanSession: false, configure: b => b.WithCredentials("bob", "x")))
        {
            await away.SubscribeAsync("sensors/#", MqttQualityOfServiceLevel.AtLeastOnce);
            await away.SubscribeAsync("marker/#", MqttQualityOfServiceLevel.AtLeastOnce);
        }

        await alice.PublishAsync("sensors/for-bob", "queued", MqttQualityOfServiceLevel.AtLeastOnce);
        await alice.PublishAsync("marker/anyone", "readable", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal(2, broker.Broker.Sessions.Find("shared-id")!.QueuedCount);

        await using MqttNetClient carol = await MqttNetClient.ConnectAsync(broker.Port, "shared-id", cleanSession: false, configure: b => b.WithCredentials("carol", "x"));

        Assert.Equal([("marker/anyone", "readable")], (await carol.ReceiveUntilMarkerAsync(alice)).Select(m => (m.Topic, m.Payload)));
    }

    // What bob received but never acknowledged would be re-sent (DUP) to whoever resumes the session [MQTT-4.4.0-1]:
    // for carol, who may not read it, it is dropped instead.
    [Fact]
    public async Task A_different_user_resuming_a_session_is_not_re_sent_what_it_may_not_read()
    {
        string acl = WriteAcl(TestBroker.NewDataDirectory(), Before);
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.Security.AclFile = acl);
        await using MqttNetClient alice = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials("alice", "x"));
        long deniedBefore = broker.Broker.Metrics.AclDenied;
        await using (RawMqttClient bob = await RawMqttClient.ConnectAsync(broker.Port))
        {
            await bob.SendAsync(new ConnectPacket { ClientId = "inflight-id", CleanSession = false, KeepAliveSeconds = 60, UserName = "bob", Password = "x"u8.ToArray() });
            Assert.Equal(ConnectReturnCode.Accepted, (await bob.ExpectAsync<ConnAckPacket>()).ReturnCode);
            await bob.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("sensors/#", 1), new TopicSubscription("marker/#", 1)] });
            await bob.ExpectAsync<SubAckPacket>();
            await alice.PublishAsync("sensors/unacknowledged", "for bob", MqttQualityOfServiceLevel.AtLeastOnce);
            Assert.Equal("sensors/unacknowledged", (await bob.ExpectAsync<PublishPacket>()).Topic);
            bob.Abort();
        }

        await Eventually.AssertAsync(() => broker.Broker.Sessions.Find("inflight-id") is { IsConnected: false, InflightCount: 1 }, "bob's session is offline with the message in flight");
        await using RawMqttClient carol = await RawMqttClient.ConnectAsync(broker.Port);
        await carol.SendAsync(new ConnectPacket { ClientId = "inflight-id", CleanSession = false, KeepAliveSeconds = 60, UserName = "carol", Password = "x"u8.ToArray() });
        Assert.True((await carol.ExpectAsync<ConnAckPacket>()).SessionPresent);
        await alice.PublishAsync("marker/after", "readable", MqttQualityOfServiceLevel.AtLeastOnce);

        PublishPacket first = await carol.ExpectAsync<PublishPacket>();
        Assert.Equal(("marker/after", false), (first.Topic, first.Dup));
        Assert.Equal(deniedBefore + 1, broker.Broker.Metrics.AclDenied);
    }

    // A delivery the router checked under the old rules reaches the queue a store commit later, possibly after the
    // queue was re-checked against the new ones: it is checked again when queued, so a reload cannot let it through.
    [Fact]
    public async Task A_delivery_routed_under_rules_a_reload_replaced_is_checked_again_when_queued()
    {
        string acl = WriteAcl(TestBroker.NewDataDirectory(), Before);
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.Security.AclFile = acl);
        await using (MqttNetClient away = await MqttNetClient.ConnectAsync(broker.Port, "routed-before", cleanSession: false, configure: b => b.WithCredentials("bob", "x")))
        {
            await away.SubscribeAsync("sensors/#", MqttQualityOfServiceLevel.AtLeastOnce);
            await away.SubscribeAsync("marker/#", MqttQualityOfServiceLevel.AtLeastOnce);
        }

        SensorNode.Broker.Sessions.Session session = broker.Broker.Sessions.Find("routed-before")!;
        int before = await RevokeBobsSensorsAsync(broker, acl);

        session.Enqueue(ApplicationMessage.Create("sensors/t", "routed before the reload"u8, 1, false), 1, false, aclVersion: before);
        session.Enqueue(ApplicationMessage.Create("marker/t", "still readable"u8, 1, false), 1, false, aclVersion: before);

        Assert.Equal(1, session.QueuedCount);
    }

    // A retained replay still coming out when the ACL is reloaded: its remaining messages were matched under the old
    // rules, and are checked as they go out. (Receive Maximum 1 and an unacknowledged first message hold it back.)
    [Fact]
    public async Task Acl_reload_during_a_retained_replay_stops_the_rest_of_it()
    {
        string acl = WriteAcl(TestBroker.NewDataDirectory(), Before);
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.Security.AclFile = acl);
        await using MqttNetClient alice = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials("alice", "x"));
        foreach (string n in new[] { "1", "2", "3" })
        {
            await alice.PublishAsync("sensors/" + n, "retained " + n, MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        }

        await using RawMqttClient bob = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "replaying", c =>
        {
            c.UserName = "bob";
            c.Password = "x"u8.ToArray();
            c.Properties = new SensorNode.Broker.Protocol.V5.MqttProperties { ReceiveMaximum = 1 };
        });
        await bob.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("marker/#", 1), new TopicSubscription("sensors/#", 1)] });
        await bob.ExpectAsync<SubAckPacket>();
        PublishPacket first = await bob.ExpectAsync<PublishPacket>();
        Assert.StartsWith("sensors/", first.Topic, StringComparison.Ordinal);

        await RevokeBobsSensorsAsync(broker, acl);
        await bob.SendAsync(new PacketIdPacket(PacketType.PubAck, first.PacketId));
        await alice.PublishAsync("marker/after", "readable", MqttQualityOfServiceLevel.AtLeastOnce);

        Assert.Equal("marker/after", (await bob.ExpectAsync<PublishPacket>()).Topic);
    }

    [Fact]
    public async Task Users_file_change_applies_to_new_logins_while_existing_connections_stay()
    {
        string directory = TestBroker.NewDataDirectory();
        string users = WriteUsers(directory, ("alice", "alice-old"), ("bob", "bob-pw"));
        await using BrokerServer broker = await TestBroker.StartAsync(o =>
        {
            o.Security.PasswordFile = users;
            o.Security.AllowAnonymous = false;
            o.Security.FailedLoginDelay = TimeSpan.FromMilliseconds(10);
        });
        await using MqttNetClient alice = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials("alice", "alice-old"));
        Assert.Equal(MqttClientConnectResultCode.Success, alice.ConnectResult!.ResultCode);
        await using (MqttNetClient carolBefore = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials("carol", "carol-pw")))
        {
            Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, carolBefore.ConnectResult!.ResultCode);
        }

        // Rewritten as `passwd add` would: alice's password changed, carol added, bob removed.
        int version = broker.Broker.Security.Version;
        PasswordFile.Load(users).With("alice", "alice-new").With("carol", "carol-pw").Without("bob").Save(users);
        await WaitForReloadAsync(broker, version);

        async Task<MqttClientConnectResultCode> LoginAsync(string user, string password)
        {
            await using MqttNetClient client = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials(user, password));
            return client.ConnectResult!.ResultCode;
        }

        Assert.Equal(MqttClientConnectResultCode.Success, await LoginAsync("carol", "carol-pw"));
        Assert.Equal(MqttClientConnectResultCode.Success, await LoginAsync("alice", "alice-new"));
        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, await LoginAsync("alice", "alice-old")); // no stale cache
        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, await LoginAsync("bob", "bob-pw"));

        // The connection made with the old password is still up and working.
        Assert.True(alice.Client.IsConnected);
        await alice.SubscribeAsync("still/here");
        await alice.PublishAsync("still/here", "yes");
        Assert.Equal("yes", (await alice.NextAsync()).Payload);
    }

    [Fact]
    public async Task Acl_file_that_no_longer_parses_keeps_the_previous_rules_and_logs_file_and_line()
    {
        var logs = new CapturingLoggerProvider();
        string acl = WriteAcl(TestBroker.NewDataDirectory(), Before);
        await using BrokerServer broker = await StartWithLogsAsync(logs, o => o.Security.AclFile = acl);
        await using MqttNetClient alice = await ConnectV5Async(broker.Port, configure: b => b.WithCredentials("alice", "x"));

        int version = broker.Broker.Security.Version;
        WriteAtomically(acl, "user alice\ntopic readwrite sensors/#\ntopic bogus/#/x\n");
        broker.Reload(); // what SIGHUP does; the file watcher may try as well
        Assert.Equal(version, broker.Broker.Security.Version);
        Assert.Contains(logs.Lines, l => l.Contains($"{acl}:3:", StringComparison.Ordinal));

        // The previous rules are still in force.
        Assert.Equal(MqttClientPublishReasonCode.NoMatchingSubscribers, (await alice.PublishAsync("sensors/t", "x", MqttQualityOfServiceLevel.AtLeastOnce)).ReasonCode);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, (await alice.PublishAsync("bogus/a/x", "x", MqttQualityOfServiceLevel.AtLeastOnce)).ReasonCode);
        Assert.True(alice.Client.IsConnected);
    }
}
