using MQTTnet;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;
using static SensorNode.Broker.Tests.Security.SecurityTestSupport;

namespace SensorNode.Broker.Tests.Security;

/// <summary>The ACL file on a real broker: PUBLISH, SUBSCRIBE, delivery, retained replay and wills.</summary>
public sealed class AclEnforcementTests
{
    // No users file: user names are labels for the ACL (anonymous access is on, as on loopback by default).
    private const string Acl = """
        topic read public/#

        user alice
        topic readwrite sensors/#
        topic write alerts/#
        topic readwrite retained/#

        user bob
        topic read sensors/#
        topic deny sensors/private/#
        topic read retained/#
        topic deny retained/private/#
        topic read alerts/#

        user carol
        topic read public/#

        pattern readwrite marker/#
        pattern readwrite clients/%c/#
        pattern readwrite users/%u/#
        """;

    private static Task<BrokerServer> StartAsync() =>
        TestBroker.StartAsync(o => o.Security.AclFile = WriteAcl(TestBroker.NewDataDirectory(), Acl));

    private static Task<MqttNetClient> As(BrokerServer broker, string user, bool v5 = false) =>
        v5 ? ConnectV5Async(broker.Port, configure: b => b.WithCredentials(user, "x"))
           : MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials(user, "x"));

    /// <summary>
    /// After a restart a persistent session is restored before its client logs in, so no ACL is known for it while
    /// messages are queued; what its user may not read is dropped when the client comes back, never delivered.
    /// </summary>
    [Fact]
    public async Task A_restored_session_gets_only_what_its_user_may_read_of_what_was_queued_before_it_logged_in()
    {
        string data = TestBroker.NewDataDirectory();
        string acl = WriteAcl(TestBroker.NewDataDirectory(), Acl);
        void Configure(BrokerOptions o)
        {
            o.DataDirectory = data;
            o.Security.AclFile = acl;
        }

        await using (BrokerServer first = await TestBroker.StartAsync(Configure))
        {
            await using MqttNetClient bob = await MqttNetClient.ConnectAsync(first.Port, "bob-persistent", cleanSession: false, configure: b => b.WithCredentials("bob", "x"));
            await bob.SubscribeAsync("sensors/#", MqttQualityOfServiceLevel.AtLeastOnce);
            await bob.DisconnectAsync();
        }

        await using BrokerServer second = await TestBroker.StartAsync(Configure);
        await using (MqttNetClient alice = await As(second, "alice"))
        {
            await alice.PublishAsync("sensors/private/door", "secret", MqttQualityOfServiceLevel.AtLeastOnce);
            await alice.PublishAsync("sensors/kitchen", "21.5", MqttQualityOfServiceLevel.AtLeastOnce);
        }

        await using MqttNetClient back = await MqttNetClient.ConnectAsync(second.Port, "bob-persistent", cleanSession: false, configure: b => b.WithCredentials("bob", "x"));
        ReceivedMessage queued = await back.NextAsync();
        Assert.Equal(("sensors/kitchen", "21.5"), (queued.Topic, queued.Payload));
        await using MqttNetClient marker = await As(second, "alice");
        await back.AssertNothingReceivedAsync(marker);
        Assert.True(second.Broker.Metrics.AclDenied >= 1);
    }

    [Fact]
    public async Task V311_denied_publish_is_acknowledged_but_not_delivered()
    {
        await using BrokerServer broker = await StartAsync();
        await using MqttNetClient alice = await As(broker, "alice");
        await alice.SubscribeAsync("sensors/#", MqttQualityOfServiceLevel.AtLeastOnce);

        // bob may only read sensors/#: his QoS 1 and QoS 2 publishes are acknowledged as usual (3.1.1 has no refusal)...
        (RawMqttClient bob, ConnAckPacket? connAck) = await RawConnectAsync(broker.Port, "raw-bob", "bob", "x");
        await using (bob)
        {
            Assert.Equal(ConnectReturnCode.Accepted, connAck?.ReturnCode);
            await bob.SendAsync(new PublishPacket { Topic = "sensors/t", Payload = "q1"u8.ToArray(), Qos = 1, PacketId = 11 });
            var pubAck = Assert.IsType<PacketIdPacket>(await bob.ReceiveAsync());
            Assert.Equal((PacketType.PubAck, (ushort)11), (pubAck.Type, pubAck.PacketId));

            await bob.SendAsync(new PublishPacket { Topic = "sensors/t", Payload = "q2"u8.ToArray(), Qos = 2, PacketId = 12 });
            var pubRec = Assert.IsType<PacketIdPacket>(await bob.ReceiveAsync());
            Assert.Equal((PacketType.PubRec, (ushort)12), (pubRec.Type, pubRec.PacketId));
            await bob.SendAsync(new PacketIdPacket(PacketType.PubRel, 12));
            var pubComp = Assert.IsType<PacketIdPacket>(await bob.ReceiveAsync());
            Assert.Equal((PacketType.PubComp, (ushort)12), (pubComp.Type, pubComp.PacketId));

            await bob.SendAsync(new PublishPacket { Topic = "sensors/t", Payload = "q0"u8.ToArray(), Qos = 0 });
        }

        // ...but go nowhere, and the publisher stays connected for what it may do.
        await using MqttNetClient bob2 = await As(broker, "bob");
        await alice.AssertNothingReceivedAsync(bob2);
        Assert.True(broker.Broker.Metrics.AclDenied >= 3);

        // The same topic from a client allowed to write it is delivered.
        await alice.PublishAsync("sensors/t", "from-alice", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal("from-alice", (await alice.NextAsync()).Payload);
    }

    [Fact]
    public async Task V5_denied_publish_is_refused_and_not_delivered()
    {
        await using BrokerServer broker = await StartAsync();
        await using MqttNetClient alice = await As(broker, "alice");
        await alice.SubscribeAsync("sensors/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await using MqttNetClient bob = await As(broker, "bob", v5: true);

        MqttClientPublishResult q1 = await bob.PublishAsync("sensors/t", "q1", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, q1.ReasonCode);

        // QoS 2: the broker answers PUBREC 0x87 (checked on the wire below). MQTTnet 5.2 sends PUBREL anyway and
        // reports the broker's PUBCOMP 0x92 (packet identifier not found) as UnspecifiedError: a failure either way.
        MqttClientPublishResult q2 = await bob.PublishAsync("sensors/t", "q2", MqttQualityOfServiceLevel.ExactlyOnce);
        Assert.False(q2.IsSuccess);

        // Still connected; an allowed topic succeeds.
        Assert.True(bob.Client.IsConnected);
        MqttClientPublishResult allowed = await bob.PublishAsync("marker/bob", "ok", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.True(allowed.ReasonCode is MqttClientPublishReasonCode.Success or MqttClientPublishReasonCode.NoMatchingSubscribers);
        await alice.AssertNothingReceivedAsync(bob);
    }

    [Fact]
    public async Task V5_denied_publish_reason_codes_on_the_wire()
    {
        await using BrokerServer broker = await StartAsync();
        (RawMqttClient bob, ConnAckPacket connAck) = await RawMqttClient.ConnectV5Async(broker.Port, "raw5-bob", c => (c.UserName, c.Password) = ("bob", "x"u8.ToArray()));
        await using (bob)
        {
            Assert.Equal(ReasonCode.Success, connAck?.ReasonCode);

            await bob.SendAsync(new PublishPacket { Topic = "sensors/t", Payload = "q1"u8.ToArray(), Qos = 1, PacketId = 21 });
            var pubAck = Assert.IsType<PacketIdPacket>(await bob.ReceiveAsync());
            Assert.Equal((PacketType.PubAck, (ushort)21, ReasonCode.NotAuthorized), (pubAck.Type, pubAck.PacketId, pubAck.ReasonCode));

            // QoS 2: PUBREC 0x87 ends the exchange (MQTT 5 §4.3.3); a PUBREL for it then finds no packet id (0x92).
            await bob.SendAsync(new PublishPacket { Topic = "sensors/t", Payload = "q2"u8.ToArray(), Qos = 2, PacketId = 22 });
            var pubRec = Assert.IsType<PacketIdPacket>(await bob.ReceiveAsync());
            Assert.Equal((PacketType.PubRec, (ushort)22, ReasonCode.NotAuthorized), (pubRec.Type, pubRec.PacketId, pubRec.ReasonCode));
        }
    }

    [Fact]
    public async Task Denied_subscribe_gets_0x80_with_v311()
    {
        await using BrokerServer broker = await StartAsync();
        (RawMqttClient bob, ConnAckPacket? connAck) = await RawConnectAsync(broker.Port, "raw-bob-sub", "bob", "x");
        await using (bob)
        {
            Assert.Equal(ConnectReturnCode.Accepted, connAck?.ReturnCode);
            await bob.SendAsync(new SubscribePacket
            {
                PacketId = 5,
                Subscriptions =
                [
                    new TopicSubscription("sensors/#", 1),
                    new TopicSubscription("alerts/#", 0),
                    new TopicSubscription("secret/#", 1),
                    new TopicSubscription("sensors/private/#", 1), // wholly inside a deny rule
                    new TopicSubscription("#", 0),                 // granted: delivers what bob may read
                    new TopicSubscription("public/#", 0),          // anonymous rules do not apply to named users
                ],
            });
            var subAck = Assert.IsType<SubAckPacket>(await bob.ReceiveAsync());
            Assert.Equal(5, subAck.PacketId);
            Assert.Equal(new byte[] { 1, 0, 0x80, 0x80, 0, 0x80 }, subAck.ReturnCodes);
        }

        Assert.True(broker.Broker.Metrics.AclDenied >= 3);
    }

    [Fact]
    public async Task Denied_subscribe_gets_0x87_with_v5()
    {
        await using BrokerServer broker = await StartAsync();
        await using MqttNetClient bob = await As(broker, "bob", v5: true);

        MqttClientSubscribeResult result = await bob.Client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter("sensors/#", MqttQualityOfServiceLevel.AtLeastOnce)
            .WithTopicFilter("secret/#")
            .WithTopicFilter("sensors/private/x")
            .Build());

        Assert.Equal(
            [MqttClientSubscribeResultCode.GrantedQoS1, MqttClientSubscribeResultCode.NotAuthorized, MqttClientSubscribeResultCode.NotAuthorized],
            result.Items.Select(i => i.ResultCode).ToArray());
    }

    /// <summary>
    /// '#' from a user who may read only part of the tree is granted, as by Mosquitto (MQTT Explorer and similar
    /// tools subscribe to '#'), and brings exactly the topics the user may read, retained ones included.
    /// </summary>
    [Fact]
    public async Task A_hash_subscription_is_granted_and_brings_only_what_the_user_may_read()
    {
        await using BrokerServer broker = await StartAsync();
        await using MqttNetClient alice = await As(broker, "alice");
        await alice.PublishAsync("retained/open", "R", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        await alice.PublishAsync("retained/private/hidden", "H", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);

        await using MqttNetClient bob = await As(broker, "bob");
        MqttClientSubscribeResult granted = await bob.SubscribeAsync("#", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, granted.Items.Single().ResultCode);
        foreach (string topic in new[] { "sensors/a", "sensors/private/b", "secret/x", "alerts/fire" })
        {
            await alice.PublishAsync(topic, topic, MqttQualityOfServiceLevel.AtLeastOnce);
        }

        List<ReceivedMessage> received = await bob.ReceiveUntilMarkerAsync(alice);
        Assert.Equal(["retained/open", "sensors/a", "alerts/fire"], received.Select(m => m.Topic).Where(t => !t.StartsWith("marker/", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Deny_rule_carves_topics_out_of_an_allowed_subscription_at_delivery()
    {
        await using BrokerServer broker = await StartAsync();
        await using MqttNetClient bob = await As(broker, "bob");
        MqttClientSubscribeResult granted = await bob.SubscribeAsync("sensors/#", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, granted.Items.Single().ResultCode);

        await using MqttNetClient alice = await As(broker, "alice");
        foreach (string topic in new[] { "sensors/a", "sensors/private/b", "sensors/private", "sensors/c", "sensors/private/x/y" })
        {
            await alice.PublishAsync(topic, topic, MqttQualityOfServiceLevel.AtLeastOnce);
        }

        List<ReceivedMessage> received = await bob.ReceiveUntilMarkerAsync(alice);
        Assert.Equal(["sensors/a", "sensors/c"], received.Select(m => m.Topic));
    }

    [Fact]
    public async Task Retained_replay_obeys_read_rules()
    {
        await using BrokerServer broker = await StartAsync();
        await using (MqttNetClient alice = await As(broker, "alice"))
        {
            await alice.PublishAsync("retained/a", "A", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
            await alice.PublishAsync("retained/private/b", "B", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
            await alice.PublishAsync("retained/c", "C", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        }

        await using MqttNetClient marker = await As(broker, "alice");

        // bob reads retained/# except retained/private/#: the replay leaves the carved-out message out.
        await using MqttNetClient bob = await As(broker, "bob");
        await bob.SubscribeAsync("retained/#", MqttQualityOfServiceLevel.AtLeastOnce);
        List<ReceivedMessage> replay = await bob.ReceiveUntilMarkerAsync(marker);
        Assert.Equal(["retained/a", "retained/c"], replay.Select(m => m.Topic).Order(StringComparer.Ordinal));
        Assert.All(replay, m => Assert.True(m.Retain));

        // An exact subscription to the denied topic is refused outright and replays nothing.
        MqttClientSubscribeResult exact = await bob.SubscribeAsync("retained/private/b");
        Assert.Equal(MqttClientSubscribeResultCode.UnspecifiedError, exact.Items.Single().ResultCode);

        // carol may not read retained/# at all: refused (0x80), and nothing is replayed.
        await using MqttNetClient carol = await As(broker, "carol");
        MqttClientSubscribeResult refused = await carol.SubscribeAsync("retained/#");
        Assert.Equal(MqttClientSubscribeResultCode.UnspecifiedError, refused.Items.Single().ResultCode);
        MqttClientSubscribeResult plus = await carol.SubscribeAsync("retained/+");
        Assert.Equal(MqttClientSubscribeResultCode.UnspecifiedError, plus.Items.Single().ResultCode);
        Assert.Empty(await carol.ReceiveUntilMarkerAsync(marker));
        Assert.Empty(await bob.ReceiveUntilMarkerAsync(marker));
    }

    [Fact]
    public async Task Will_to_a_topic_the_client_may_not_write_is_refused_at_connect()
    {
        await using BrokerServer broker = await StartAsync();
        var will = new WillMessage { Topic = "sensors/bob/status", Payload = "offline"u8.ToArray(), Qos = 1 };

        (RawMqttClient raw, ConnAckPacket? connAck) = await RawConnectAsync(broker.Port, "bob-will", "bob", "x", will);
        await using (raw)
        {
            Assert.Equal(ConnectReturnCode.NotAuthorized, connAck?.ReturnCode);
            await raw.AssertClosedAsync();
        }

        Assert.Null(broker.Broker.Sessions.Find("bob-will"));

        await using (MqttNetClient v5 = await ConnectV5Async(broker.Port, configure: b => b.WithCredentials("bob", "x").WithWillTopic("sensors/bob/status").WithWillPayload("offline")))
        {
            Assert.Equal(MqttClientConnectResultCode.NotAuthorized, v5.ConnectResult!.ResultCode);
        }

        // An anonymous client's will to a read-only topic is refused too.
        (RawMqttClient anon, ConnAckPacket? anonAck) = await RawConnectAsync(broker.Port, "anon-will", will: new WillMessage { Topic = "public/x", Payload = [] });
        await using (anon)
        {
            Assert.Equal(ConnectReturnCode.NotAuthorized, anonAck?.ReturnCode);
        }

        // A will to a writable topic is accepted, and published when the connection is lost.
        await using MqttNetClient bob = await As(broker, "bob");
        await bob.SubscribeAsync("sensors/#", MqttQualityOfServiceLevel.AtLeastOnce);
        (RawMqttClient alice, ConnAckPacket? aliceAck) = await RawConnectAsync(broker.Port, "alice-will", "alice", "x", new WillMessage { Topic = "sensors/alice/status", Payload = "gone"u8.ToArray(), Qos = 1 });
        Assert.Equal(ConnectReturnCode.Accepted, aliceAck?.ReturnCode);
        alice.Abort();
        await alice.DisposeAsync();
        ReceivedMessage published = await bob.NextAsync();
        Assert.Equal(("sensors/alice/status", "gone"), (published.Topic, published.Payload));
    }

    [Fact]
    public async Task Pattern_rules_substitute_client_id_and_user_name()
    {
        await using BrokerServer broker = await StartAsync();

        // %c: an anonymous device owns clients/<its id>/#, and nothing of another device.
        await using MqttNetClient dev42 = await ConnectV5Async(broker.Port, "dev42");
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, (await dev42.SubscribeAsync("clients/dev42/#", MqttQualityOfServiceLevel.AtLeastOnce)).Items.Single().ResultCode);
        Assert.Equal(MqttClientPublishReasonCode.Success, (await dev42.PublishAsync("clients/dev42/state", "on", MqttQualityOfServiceLevel.AtLeastOnce)).ReasonCode);
        ReceivedMessage own = await dev42.NextAsync();
        Assert.Equal(("clients/dev42/state", "on"), (own.Topic, own.Payload));
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, (await dev42.PublishAsync("clients/dev43/state", "x", MqttQualityOfServiceLevel.AtLeastOnce)).ReasonCode);
        Assert.Equal(MqttClientSubscribeResultCode.NotAuthorized, (await dev42.SubscribeAsync("clients/dev43/#")).Items.Single().ResultCode);

        // A filter wider than the rule is granted; what it delivers is what the device may read.
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS0, (await dev42.SubscribeAsync("clients/+/state", MqttQualityOfServiceLevel.AtMostOnce)).Items.Single().ResultCode);
        await using MqttNetClient dev43 = await ConnectV5Async(broker.Port, "dev43");
        await dev43.PublishAsync("clients/dev43/state", "theirs", MqttQualityOfServiceLevel.AtLeastOnce);
        await dev42.PublishAsync("clients/dev42/state", "mine", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal(["mine"], (await dev42.ReceiveUntilMarkerAsync(dev43)).Select(m => m.Payload));

        // %u: a named user owns users/<name>/#; anonymous clients get no %u rule.
        await using MqttNetClient alice = await As(broker, "alice", v5: true);
        Assert.Equal(MqttClientPublishReasonCode.NoMatchingSubscribers, (await alice.PublishAsync("users/alice/note", "n", MqttQualityOfServiceLevel.AtLeastOnce)).ReasonCode);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, (await alice.PublishAsync("users/bob/note", "n", MqttQualityOfServiceLevel.AtLeastOnce)).ReasonCode);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, (await dev42.PublishAsync("users//note", "n", MqttQualityOfServiceLevel.AtLeastOnce)).ReasonCode);
    }

    [Fact]
    public async Task Anonymous_section_applies_to_clients_without_a_user_name()
    {
        await using BrokerServer broker = await StartAsync();
        await using MqttNetClient anonymous = await ConnectV5Async(broker.Port);

        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS0, (await anonymous.SubscribeAsync("public/#")).Items.Single().ResultCode);
        Assert.Equal(MqttClientSubscribeResultCode.NotAuthorized, (await anonymous.SubscribeAsync("sensors/#")).Items.Single().ResultCode);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, (await anonymous.PublishAsync("public/news", "x", MqttQualityOfServiceLevel.AtLeastOnce)).ReasonCode);
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, (await anonymous.PublishAsync("sensors/t", "x", MqttQualityOfServiceLevel.AtLeastOnce)).ReasonCode);
    }
}
