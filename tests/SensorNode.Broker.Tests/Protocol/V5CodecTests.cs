using System.Buffers;
using System.Text;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;
using static SensorNode.Broker.Tests.Protocol.RawFrames;
using static SensorNode.Broker.Tests.Protocol.V5Frames;

namespace SensorNode.Broker.Tests.Protocol;

/// <summary>
/// The MQTT 5.0 codec: round trips of every packet type with full properties, writer output compared with
/// hand-built bytes, short forms of the acknowledgements, DISCONNECT and AUTH, the Reason Code tables and the
/// per-packet rules of §3.
/// </summary>
public sealed class V5CodecTests
{
    // ------------------------------------------------------------------ helpers

    private static List<MqttUserProperty> Users(string tag) => [new("origin", tag), new("x", "1"), new("origin", tag + "-again")];

    private static string Describe(MqttPacket packet) => packet switch
    {
        ConnectPacket c => $"CONNECT {c.ProtocolName} {c.ProtocolLevel} {c.ClientId} {c.CleanStart} {c.KeepAliveSeconds} [{c.Properties}] "
            + $"will:{c.Will?.Topic} {Convert.ToHexString(c.Will?.Payload ?? [])} {c.Will?.Qos} {c.Will?.Retain} [{c.Will?.Properties}] "
            + $"user:{c.UserName} pw:{(c.Password is null ? "-" : Convert.ToHexString(c.Password))}",
        ConnAckPacket c => $"CONNACK {c.SessionPresent} {c.ReasonCode} [{c.Properties}]",
        PublishPacket p => $"PUBLISH '{p.Topic}' {p.Qos} {p.Dup} {p.Retain} {p.PacketId} {Convert.ToHexString(p.Payload.Span)} [{p.Properties}]",
        PacketIdPacket a => $"{a.Type} {a.PacketId} {a.ReasonCode} [{a.Properties}]",
        SubscribePacket s => $"SUBSCRIBE {s.PacketId} {string.Join(",", s.Subscriptions)} [{s.Properties}]",
        SubAckPacket s => $"SUBACK {s.PacketId} {Convert.ToHexString(s.ReturnCodes)} [{s.Properties}]",
        UnsubscribePacket u => $"UNSUBSCRIBE {u.PacketId} {string.Join(",", u.Filters)} [{u.Properties}]",
        UnsubAckPacket u => $"UNSUBACK {u.PacketId} {string.Join(",", u.ReasonCodes)} [{u.Properties}]",
        DisconnectPacket d => $"DISCONNECT {d.ReasonCode} [{d.Properties}]",
        AuthPacket a => $"AUTH {a.ReasonCode} [{a.Properties}]",
        EmptyPacket e => e.Type.ToString(),
        _ => throw new ArgumentException(packet.Type.ToString()),
    };

    /// <summary>Encode, decode, compare, and check that re-encoding the decoded packet gives the same bytes.</summary>
    private static T RoundTrip<T>(MqttPacket packet, bool fromServer)
        where T : MqttPacket
    {
        byte[] wire = MqttPacketWriter.ToArray(packet, ProtocolLevel.V500);
        var decoded = Assert.IsType<T>(Decode(wire, fromServer));
        Assert.Equal(Describe(packet), Describe(decoded));
        Assert.Equal(Hex(wire), Hex(MqttPacketWriter.ToArray(decoded, ProtocolLevel.V500)));
        return decoded;
    }

    private static void AssertWire(MqttPacket packet, byte[] expected, bool fromServer)
    {
        Assert.Equal(Hex(expected), Hex(MqttPacketWriter.ToArray(packet, ProtocolLevel.V500)));
        Assert.Equal(Describe(packet), Describe(Decode(expected, fromServer)));
    }

    // ------------------------------------------------------------------ round trips with full properties

    [Theory]
    [InlineData(false, false, false)]
    [InlineData(true, false, false)]
    [InlineData(true, true, true)]
    [InlineData(false, true, false)]
    public void Connect_round_trips_with_every_connect_and_will_property(bool withWill, bool withUser, bool withPassword)
    {
        var packet = new ConnectPacket
        {
            ProtocolLevel = ProtocolLevel.V500,
            ClientId = "sensor-ü-1",
            CleanStart = !withWill,
            KeepAliveSeconds = 45,
            UserName = withUser ? "alice" : null,
            Password = withPassword ? [0x00, 0xFF, 0x10] : null,
            Properties = new MqttProperties
            {
                SessionExpiryInterval = 3600,
                ReceiveMaximum = 100,
                MaximumPacketSize = 65_536,
                TopicAliasMaximum = 10,
                RequestResponseInformation = true,
                RequestProblemInformation = false,
                AuthenticationMethod = "SCRAM-SHA-256",
                AuthenticationData = [1, 2, 3],
                UserProperties = Users("connect"),
            },
            Will = withWill
                ? new WillMessage
                {
                    Topic = "status/sensor-1",
                    Payload = Utf8("{\"online\":false}"),
                    Qos = 1,
                    Retain = true,
                    Properties = new MqttProperties
                    {
                        PayloadFormatIndicator = 1,
                        MessageExpiryInterval = 600,
                        ContentType = "application/json",
                        ResponseTopic = "status/ack",
                        CorrelationData = [9, 8, 7],
                        WillDelayInterval = 30,
                        UserProperties = Users("will"),
                    },
                }
                : null,
        };
        RoundTrip<ConnectPacket>(packet, fromServer: false);
    }

    [Fact]
    public void Connect_password_without_user_name_is_allowed_in_5_0_but_not_in_3_1_1()
    {
        // 5.0 §3.1.2.9 dropped the 3.1.1 rule [MQTT-3.1.2-22] that a password needs a user name.
        byte[] v5 = Frame(0x10, Str("MQTT"), [5, 0x42], U16(10), [0], Str("c"), Bin([1, 2]));
        var connect = Assert.IsType<ConnectPacket>(Decode(v5));
        Assert.Null(connect.UserName);
        Assert.Equal([1, 2], connect.Password!);

        byte[] v311 = Frame(0x10, Str("MQTT"), [4, 0x42], U16(10), Str("c"), Bin([1, 2]));
        Assert.Throws<MqttProtocolException>(() => MqttPacketDecoder.ReadConnect(v311.AsSpan(2)));
    }

    [Fact]
    public void ConnAck_round_trips_with_every_connack_property()
    {
        var properties = new MqttProperties
        {
            SessionExpiryInterval = 0,
            ReceiveMaximum = 20,
            MaximumQos = 1,
            RetainAvailable = false,
            MaximumPacketSize = 1_048_576,
            AssignedClientIdentifier = "auto-42",
            TopicAliasMaximum = 16,
            ReasonString = "welcome",
            UserProperties = Users("connack"),
            WildcardSubscriptionAvailable = true,
            SubscriptionIdentifiersAvailable = false,
            SharedSubscriptionAvailable = true,
            ServerKeepAlive = 120,
            ResponseInformation = "resp/",
            ServerReference = "backup:1883",
            AuthenticationMethod = "SCRAM-SHA-256",
            AuthenticationData = [0xAA],
        };
        RoundTrip<ConnAckPacket>(new ConnAckPacket(true, ReasonCode.Success, properties), fromServer: true);
        ConnAckPacket refused = RoundTrip<ConnAckPacket>(new ConnAckPacket(false, ReasonCode.ServerMoved, new MqttProperties { ServerReference = "elsewhere" }), fromServer: true);
        Assert.Equal(ConnectReturnCode.ServerUnavailable, refused.ReturnCode);
    }

    [Theory]
    [InlineData((byte)0, false)]
    [InlineData((byte)1, false)]
    [InlineData((byte)2, true)]
    public void Publish_round_trips_with_every_publish_property(byte qos, bool retain)
    {
        var packet = new PublishPacket
        {
            Topic = "site/1/temperature",
            Payload = Utf8("21.5"),
            Qos = qos,
            Retain = retain,
            Dup = qos > 0,
            PacketId = qos > 0 ? (ushort)777 : (ushort)0,
            Properties = new MqttProperties
            {
                PayloadFormatIndicator = 1,
                MessageExpiryInterval = 86_400,
                ContentType = "text/plain; charset=utf-8",
                ResponseTopic = "site/1/replies",
                CorrelationData = Encoding.ASCII.GetBytes("req-17"),
                // Several identifiers: a server may send one PUBLISH for overlapping subscriptions [MQTT-3.3.4-4].
                SubscriptionIdentifiers = [1, 268_435_455, 300],
                TopicAlias = 5,
                UserProperties = Users("publish"),
            },
        };
        RoundTrip<PublishPacket>(packet, fromServer: true);
    }

    [Fact]
    public void Publish_with_empty_payload_and_no_properties_round_trips()
    {
        RoundTrip<PublishPacket>(new PublishPacket { Topic = "a", Payload = ReadOnlyMemory<byte>.Empty }, fromServer: false);
        AssertWire(new PublishPacket { Topic = "a" }, [0x30, 0x04, 0x00, 0x01, (byte)'a', 0x00], fromServer: false);
    }

    [Theory]
    [InlineData(PacketType.PubAck, ReasonCode.Success)]
    [InlineData(PacketType.PubAck, ReasonCode.NoMatchingSubscribers)]
    [InlineData(PacketType.PubAck, ReasonCode.QuotaExceeded)]
    [InlineData(PacketType.PubRec, ReasonCode.PayloadFormatInvalid)]
    [InlineData(PacketType.PubRec, ReasonCode.PacketIdentifierInUse)]
    [InlineData(PacketType.PubRel, ReasonCode.Success)]
    [InlineData(PacketType.PubRel, ReasonCode.PacketIdentifierNotFound)]
    [InlineData(PacketType.PubComp, ReasonCode.PacketIdentifierNotFound)]
    public void Publish_acknowledgements_round_trip_in_full_and_short_forms(PacketType type, ReasonCode reason)
    {
        RoundTrip<PacketIdPacket>(new PacketIdPacket(type, 0xBEEF) { ReasonCode = reason }, fromServer: false);
        RoundTrip<PacketIdPacket>(new PacketIdPacket(type, 0xBEEF) { ReasonCode = reason, Properties = new MqttProperties { ReasonString = "why", UserProperties = Users("ack") } }, fromServer: false);
    }

    [Fact]
    public void Subscribe_round_trips_with_properties_and_every_subscription_option()
    {
        var packet = new SubscribePacket
        {
            PacketId = 9,
            Properties = new MqttProperties { SubscriptionIdentifiers = [42], UserProperties = Users("sub") },
            Subscriptions =
            [
                new("a/+/c", 0),
                new("a/#", 1) { NoLocal = true },
                new("b", 2) { RetainAsPublished = true },
                new("c", 1) { RetainHandling = 1 },
                new("d", 2) { NoLocal = true, RetainAsPublished = true, RetainHandling = 2 },
                new("$share/g/e", 1) { RetainAsPublished = true, RetainHandling = 2 },
            ],
        };
        SubscribePacket decoded = RoundTrip<SubscribePacket>(packet, fromServer: false);
        Assert.Equal(packet.Subscriptions, decoded.Subscriptions);
    }

    [Fact]
    public void SubAck_Unsubscribe_UnsubAck_round_trip_with_properties()
    {
        RoundTrip<SubAckPacket>(new SubAckPacket(9, [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2]) { Properties = new MqttProperties { ReasonString = "mixed", UserProperties = Users("suback") } }, fromServer: true);
        RoundTrip<SubAckPacket>(new SubAckPacket(10, [0x01]), fromServer: true);
        RoundTrip<UnsubscribePacket>(new UnsubscribePacket { PacketId = 11, Filters = ["a/#", "$share/g/b", "c"], Properties = new MqttProperties { UserProperties = Users("unsub") } }, fromServer: false);
        RoundTrip<UnsubAckPacket>(new UnsubAckPacket(11, [ReasonCode.Success, ReasonCode.NoSubscriptionExisted, ReasonCode.NotAuthorized]) { Properties = new MqttProperties { ReasonString = "done", UserProperties = Users("unsuback") } }, fromServer: true);
        RoundTrip<UnsubAckPacket>(new UnsubAckPacket(12, [ReasonCode.TopicFilterInvalid]), fromServer: true);
    }

    [Fact]
    public void Ping_Disconnect_and_Auth_round_trip()
    {
        RoundTrip<EmptyPacket>(EmptyPacket.PingReq, fromServer: false);
        RoundTrip<EmptyPacket>(EmptyPacket.PingResp, fromServer: true);
        RoundTrip<DisconnectPacket>(new DisconnectPacket(), fromServer: false);
        RoundTrip<DisconnectPacket>(new DisconnectPacket(ReasonCode.DisconnectWithWillMessage), fromServer: false);
        RoundTrip<DisconnectPacket>(
            new DisconnectPacket(ReasonCode.NormalDisconnection, new MqttProperties { SessionExpiryInterval = 0, ReasonString = "bye", UserProperties = Users("disconnect") }),
            fromServer: false);
        RoundTrip<DisconnectPacket>(
            new DisconnectPacket(ReasonCode.UseAnotherServer, new MqttProperties { ServerReference = "b:1883", ReasonString = "moving", UserProperties = Users("server") }),
            fromServer: true);
        RoundTrip<AuthPacket>(new AuthPacket(), fromServer: false);
        RoundTrip<AuthPacket>(
            new AuthPacket(ReasonCode.ContinueAuthentication, new MqttProperties { AuthenticationMethod = "SCRAM-SHA-1", AuthenticationData = Utf8("c=biws"), ReasonString = "step 2", UserProperties = Users("auth") }),
            fromServer: true);
        RoundTrip<AuthPacket>(new AuthPacket(ReasonCode.ReAuthenticate, new MqttProperties { AuthenticationMethod = "SCRAM-SHA-1" }), fromServer: false);
    }

    // ------------------------------------------------------------------ wire bytes built by hand

    [Fact]
    public void Connect_wire_bytes_match_the_spec_layout_3_1()
    {
        // Flags 0xCE: User Name, Password, Will QoS 1, Will Flag, Clean Start (§3.1.2.3); Keep Alive 10;
        // properties: Session Expiry Interval 10 (the example of §3.1.2.11 figure 3-8); Will Properties before the Will Topic.
        byte[] expected = Frame(
            0x10,
            [0x00, 0x04, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 0x05, 0xCE, 0x00, 0x0A],
            [0x05, 0x11, 0x00, 0x00, 0x00, 0x0A],
            Str("client"),
            [0x02, 0x01, 0x01],
            Str("will"),
            Bin(Utf8("bye")),
            Str("user"),
            Bin(Utf8("pw")));
        var packet = new ConnectPacket
        {
            ProtocolLevel = ProtocolLevel.V500,
            ClientId = "client",
            CleanStart = true,
            KeepAliveSeconds = 10,
            Properties = new MqttProperties { SessionExpiryInterval = 10 },
            Will = new WillMessage { Topic = "will", Payload = Utf8("bye"), Qos = 1, Properties = new MqttProperties { PayloadFormatIndicator = 1 } },
            UserName = "user",
            Password = Utf8("pw"),
        };
        AssertWire(packet, expected, fromServer: false);
    }

    [Fact]
    public void Connack_publish_subscribe_suback_unsuback_disconnect_auth_wire_bytes()
    {
        // CONNACK, no properties: the property length is still present [MQTT-2.2.2-1].
        AssertWire(new ConnAckPacket(false, ReasonCode.Success), [0x20, 0x03, 0x00, 0x00, 0x00], fromServer: true);
        AssertWire(new ConnAckPacket(false, ReasonCode.NotAuthorized), [0x20, 0x03, 0x00, 0x87, 0x00], fromServer: true);
        AssertWire(
            new ConnAckPacket(true, ReasonCode.Success, new MqttProperties { AssignedClientIdentifier = "id", TopicAliasMaximum = 8 }),
            [0x20, 0x0B, 0x01, 0x00, 0x08, 0x12, 0x00, 0x02, (byte)'i', (byte)'d', 0x22, 0x00, 0x08],
            fromServer: true);

        // PUBLISH QoS 1: topic, packet id, properties (Content Type, User Property), payload.
        AssertWire(
            new PublishPacket { Topic = "a/b", Qos = 1, PacketId = 10, Payload = Utf8("hi"), Properties = new MqttProperties { ContentType = "t", UserProperties = [new("k", "v")] } },
            Frame(0x32, Str("a/b"), U16(10), [0x0B, 0x03, 0x00, 0x01, (byte)'t', 0x26, 0x00, 0x01, (byte)'k', 0x00, 0x01, (byte)'v'], Utf8("hi")),
            fromServer: false);

        // SUBSCRIBE: Subscription Identifier 1; options 0x2E = QoS 2, No Local, Retain As Published, Retain Handling 2 (§3.8.3.1).
        AssertWire(
            new SubscribePacket
            {
                PacketId = 1,
                Properties = new MqttProperties { SubscriptionIdentifiers = [1] },
                Subscriptions = [new("a/#", 2) { NoLocal = true, RetainAsPublished = true, RetainHandling = 2 }, new("b", 1)],
            },
            [0x82, 0x0F, 0x00, 0x01, 0x02, 0x0B, 0x01, 0x00, 0x03, (byte)'a', (byte)'/', (byte)'#', 0x2E, 0x00, 0x01, (byte)'b', 0x01],
            fromServer: false);

        AssertWire(new SubAckPacket(1, [0x02, 0xA2]), [0x90, 0x05, 0x00, 0x01, 0x00, 0x02, 0xA2], fromServer: true);
        AssertWire(new UnsubAckPacket(1, [ReasonCode.Success, ReasonCode.NoSubscriptionExisted]), [0xB0, 0x05, 0x00, 0x01, 0x00, 0x00, 0x11], fromServer: true);
        AssertWire(new UnsubscribePacket { PacketId = 2, Filters = ["x"] }, [0xA2, 0x06, 0x00, 0x02, 0x00, 0x00, 0x01, (byte)'x'], fromServer: false);

        // DISCONNECT 0x8B (Server shutting down) with a Reason String.
        AssertWire(
            new DisconnectPacket(ReasonCode.ServerShuttingDown, new MqttProperties { ReasonString = "by" }),
            [0xE0, 0x07, 0x8B, 0x05, 0x1F, 0x00, 0x02, (byte)'b', (byte)'y'],
            fromServer: true);

        // AUTH 0x18 with an Authentication Method.
        AssertWire(
            new AuthPacket(ReasonCode.ContinueAuthentication, new MqttProperties { AuthenticationMethod = "M" }),
            [0xF0, 0x06, 0x18, 0x04, 0x15, 0x00, 0x01, (byte)'M'],
            fromServer: false);
    }

    // ------------------------------------------------------------------ short forms

    [Fact]
    public void Ack_short_forms_MQTT_3_4_2_1()
    {
        // Remaining length 2: Success and no properties (§3.4.2.1); PUBREL keeps flags 0010 [MQTT-3.6.1-1].
        AssertWire(new PacketIdPacket(PacketType.PubAck, 1), [0x40, 0x02, 0x00, 0x01], fromServer: false);
        AssertWire(new PacketIdPacket(PacketType.PubRel, 1), [0x62, 0x02, 0x00, 0x01], fromServer: false);
        // Remaining length 3: a Reason Code and no Property Length.
        AssertWire(new PacketIdPacket(PacketType.PubRec, 1) { ReasonCode = ReasonCode.NoMatchingSubscribers }, [0x50, 0x03, 0x00, 0x01, 0x10], fromServer: false);
        AssertWire(new PacketIdPacket(PacketType.PubComp, 1) { ReasonCode = ReasonCode.PacketIdentifierNotFound }, [0x70, 0x03, 0x00, 0x01, 0x92], fromServer: false);
        // An empty property set is not written.
        Assert.Equal("40020001", Hex(MqttPacketWriter.ToArray(new PacketIdPacket(PacketType.PubAck, 1) { Properties = new MqttProperties() }, ProtocolLevel.V500)));

        // Decoding: a Reason Code of Success and an explicit empty property list are read as well.
        var full = Assert.IsType<PacketIdPacket>(Decode([0x40, 0x04, 0x00, 0x05, 0x00, 0x00]));
        Assert.Equal((ushort)5, full.PacketId);
        Assert.Equal(ReasonCode.Success, full.ReasonCode);
        Assert.Null(full.Properties);
        var reasonOnly = Assert.IsType<PacketIdPacket>(Decode([0x50, 0x03, 0x00, 0x05, 0x80]));
        Assert.Equal(ReasonCode.UnspecifiedError, reasonOnly.ReasonCode);
    }

    [Fact]
    public void Ack_bodies_that_are_too_short_or_too_long_are_malformed()
    {
        Assert.Equal(DisconnectReason.MalformedPacket, DecodeFails([0x40, 0x01, 0x00]).Reason);
        Assert.Equal(DisconnectReason.MalformedPacket, DecodeFails([0x40, 0x00]).Reason);
        Assert.Equal(DisconnectReason.MalformedPacket, DecodeFails([0x40, 0x05, 0x00, 0x01, 0x00, 0x00, 0xFF]).Reason);
    }

    [Fact]
    public void Disconnect_short_forms_3_14_2_1()
    {
        var normal = Assert.IsType<DisconnectPacket>(Decode([0xE0, 0x00]));
        Assert.Equal(ReasonCode.NormalDisconnection, normal.ReasonCode);
        Assert.Null(normal.Properties);
        var withWill = Assert.IsType<DisconnectPacket>(Decode([0xE0, 0x01, 0x04]));
        Assert.Equal(ReasonCode.DisconnectWithWillMessage, withWill.ReasonCode);

        AssertWire(new DisconnectPacket(), [0xE0, 0x00], fromServer: false);
        AssertWire(new DisconnectPacket(ReasonCode.SessionTakenOver), [0xE0, 0x01, 0x8E], fromServer: true);
        AssertWire(new DisconnectPacket(ReasonCode.NormalDisconnection, new MqttProperties { SessionExpiryInterval = 5 }), [0xE0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x05], fromServer: false);
        Assert.Equal("E000", Hex(MqttPacketWriter.ToArray(EmptyPacket.Disconnect, ProtocolLevel.V500)));
    }

    [Fact]
    public void Auth_short_form_3_15_2_1()
    {
        var success = Assert.IsType<AuthPacket>(Decode([0xF0, 0x00]));
        Assert.Equal(ReasonCode.Success, success.ReasonCode);
        AssertWire(new AuthPacket(), [0xF0, 0x00], fromServer: false);
        // A reason code other than Success is always followed by a property length.
        Assert.Equal("F0021900", Hex(MqttPacketWriter.ToArray(new AuthPacket(ReasonCode.ReAuthenticate), ProtocolLevel.V500)));
        // A lone reason code is read leniently.
        Assert.Equal(ReasonCode.ReAuthenticate, Assert.IsType<AuthPacket>(Decode([0xF0, 0x01, 0x19])).ReasonCode);
    }

    [Fact]
    public void Disconnect_from_server_must_not_carry_session_expiry_MQTT_3_14_2_2()
    {
        byte[] frame = [0xE0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x05];
        Assert.NotNull(Decode(frame, fromServer: false));
        Assert.Equal(DisconnectReason.ProtocolError, DecodeFails(frame, fromServer: true).Reason);
    }

    // ------------------------------------------------------------------ Reason Codes

    [Fact]
    public void Reason_code_values_are_those_of_table_2_6()
    {
        (string Name, byte Value)[] table =
        [
            ("Success", 0x00), ("NormalDisconnection", 0x00), ("GrantedQos0", 0x00), ("GrantedQos1", 0x01), ("GrantedQos2", 0x02),
            ("DisconnectWithWillMessage", 0x04), ("NoMatchingSubscribers", 0x10), ("NoSubscriptionExisted", 0x11),
            ("ContinueAuthentication", 0x18), ("ReAuthenticate", 0x19), ("UnspecifiedError", 0x80), ("MalformedPacket", 0x81),
            ("ProtocolError", 0x82), ("ImplementationSpecificError", 0x83), ("UnsupportedProtocolVersion", 0x84),
            ("ClientIdentifierNotValid", 0x85), ("BadUserNameOrPassword", 0x86), ("NotAuthorized", 0x87), ("ServerUnavailable", 0x88),
            ("ServerBusy", 0x89), ("Banned", 0x8A), ("ServerShuttingDown", 0x8B), ("BadAuthenticationMethod", 0x8C),
            ("KeepAliveTimeout", 0x8D), ("SessionTakenOver", 0x8E), ("TopicFilterInvalid", 0x8F), ("TopicNameInvalid", 0x90),
            ("PacketIdentifierInUse", 0x91), ("PacketIdentifierNotFound", 0x92), ("ReceiveMaximumExceeded", 0x93),
            ("TopicAliasInvalid", 0x94), ("PacketTooLarge", 0x95), ("MessageRateTooHigh", 0x96), ("QuotaExceeded", 0x97),
            ("AdministrativeAction", 0x98), ("PayloadFormatInvalid", 0x99), ("RetainNotSupported", 0x9A), ("QosNotSupported", 0x9B),
            ("UseAnotherServer", 0x9C), ("ServerMoved", 0x9D), ("SharedSubscriptionsNotSupported", 0x9E),
            ("ConnectionRateExceeded", 0x9F), ("MaximumConnectTime", 0xA0), ("SubscriptionIdentifiersNotSupported", 0xA1),
            ("WildcardSubscriptionsNotSupported", 0xA2),
        ];
        foreach ((string name, byte value) in table)
        {
            Assert.Equal(value, (byte)Enum.Parse<ReasonCode>(name));
        }

        Assert.Equal(43, Enum.GetValues<ReasonCode>().Distinct().Count());
        foreach (DisconnectReason reason in Enum.GetValues<DisconnectReason>())
        {
            Assert.True(Enum.IsDefined((ReasonCode)(byte)reason), $"{reason} has no ReasonCode");
        }
    }

    /// <summary>Each packet's Reason Code table (§3), transcribed by hand; anything else is a Protocol Error.</summary>
    public static TheoryData<PacketType, byte[]> ReasonCodeTables() => new()
    {
        { PacketType.ConnAck, [0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F] }, // Table 3-1 [MQTT-3.2.2-8]
        { PacketType.PubAck, [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99] }, // [MQTT-3.4.2-1]
        { PacketType.PubRec, [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99] }, // [MQTT-3.5.2-1]
        { PacketType.PubRel, [0x00, 0x92] }, // [MQTT-3.6.2-1]
        { PacketType.PubComp, [0x00, 0x92] }, // [MQTT-3.7.2-1]
        { PacketType.SubAck, [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2] }, // [MQTT-3.9.3-2]
        { PacketType.UnsubAck, [0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91] }, // [MQTT-3.11.3-2]
        {
            PacketType.Disconnect,
            [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2]
        }, // [MQTT-3.14.2-1]
        { PacketType.Auth, [0x00, 0x18, 0x19] }, // [MQTT-3.15.2-1]
    };

    [Theory]
    [MemberData(nameof(ReasonCodeTables))]
    public void Only_the_packets_reason_codes_are_accepted(PacketType type, byte[] valid)
    {
        for (int code = 0; code < 256; code++)
        {
            byte c = (byte)code;
            byte[] frame = type switch
            {
                PacketType.ConnAck => [0x20, 0x03, 0x00, c, 0x00],
                PacketType.PubRel => [0x62, 0x03, 0x00, 0x01, c],
                PacketType.SubAck => [0x90, 0x04, 0x00, 0x01, 0x00, c],
                PacketType.UnsubAck => [0xB0, 0x04, 0x00, 0x01, 0x00, c],
                PacketType.Disconnect => [0xE0, 0x01, c],
                PacketType.Auth => [0xF0, 0x02, c, 0x00],
                _ => [(byte)((int)type << 4), 0x03, 0x00, 0x01, c],
            };
            if (valid.Contains(c))
            {
                Decode(frame, fromServer: true);
                Assert.True(ReasonCodes.IsValidFor(type, c));
            }
            else
            {
                Assert.Equal(DisconnectReason.ProtocolError, DecodeFails(frame, fromServer: true).Reason);
                Assert.False(ReasonCodes.IsValidFor(type, c), $"0x{c:X2} for {type}");
            }
        }
    }

    [Fact]
    public void Writer_refuses_reason_codes_the_packet_cannot_carry()
    {
        Assert.ThrowsAny<ArgumentException>(() => MqttPacketWriter.ToArray(new PacketIdPacket(PacketType.PubRel, 1) { ReasonCode = ReasonCode.NoMatchingSubscribers }, ProtocolLevel.V500));
        Assert.ThrowsAny<ArgumentException>(() => MqttPacketWriter.ToArray(new DisconnectPacket(ReasonCode.GrantedQos1), ProtocolLevel.V500));
        Assert.ThrowsAny<ArgumentException>(() => MqttPacketWriter.ToArray(new AuthPacket(ReasonCode.NotAuthorized), ProtocolLevel.V500));
        Assert.ThrowsAny<ArgumentException>(() => MqttPacketWriter.ToArray(new SubAckPacket(1, [0x03]), ProtocolLevel.V500));
        Assert.ThrowsAny<ArgumentException>(() => MqttPacketWriter.ToArray(new ConnAckPacket(true, ReasonCode.NotAuthorized), ProtocolLevel.V500));
        Assert.ThrowsAny<ArgumentException>(() => MqttPacketWriter.ToArray(new PacketIdPacket(PacketType.UnsubAck, 1), ProtocolLevel.V500));
    }

    // ------------------------------------------------------------------ CONNECT / CONNACK rules

    [Fact]
    public void Connect_flag_rules()
    {
        // Reserved flag [MQTT-3.1.2-3], Will QoS/Retain without Will Flag [MQTT-3.1.2-11], Will QoS 3 [MQTT-3.1.2-14].
        foreach (byte flags in new byte[] { 0x03, 0x0A, 0x22, 0x1E })
        {
            byte[] frame = Frame(0x10, Str("MQTT"), [5, flags], U16(10), [0], Str("c"), [0], Str("t"), U16(0));
            Assert.Equal(DisconnectReason.MalformedPacket, DecodeFails(frame).Reason);
        }

        Assert.Equal(DisconnectReason.MalformedPacket, DecodeFails(Frame(0x10, Str("MQTT"), [5, 0x02], U16(10), [0], Str("c"), [0xFF])).Reason);
        // Without a property length the client identifier's length is read as properties and the packet falls apart.
        Assert.Equal(DisconnectReason.MalformedPacket, DecodeFails(Frame(0x10, Str("MQTT"), [5, 0x02], U16(10), Str("c"))).Reason);
    }

    [Fact]
    public void ReadConnect_alone_reads_a_level_5_connect_as_the_engine_calls_it()
    {
        byte[] frame = Frame(0x10, Str("MQTT"), [5, 0x00], U16(30), Props([0x11], U32(99)), Str("dev"));
        (string name, byte level) = MqttPacketDecoder.ReadConnectProtocol(frame.AsSpan(2));
        Assert.Equal(("MQTT", (byte)5), (name, level));
        ConnectPacket connect = MqttPacketDecoder.ReadConnect(frame.AsSpan(2));
        Assert.Equal(ProtocolLevel.V500, connect.ProtocolLevel);
        Assert.False(connect.CleanStart);
        Assert.Equal(99u, connect.Properties!.SessionExpiryInterval);
        Assert.Equal("dev", connect.ClientId);
    }

    [Fact]
    public void Connack_rules()
    {
        Assert.Equal(DisconnectReason.MalformedPacket, DecodeFails([0x20, 0x03, 0x02, 0x00, 0x00], fromServer: true).Reason); // [MQTT-3.2.2-1]
        Assert.Equal(DisconnectReason.ProtocolError, DecodeFails([0x20, 0x03, 0x01, 0x80, 0x00], fromServer: true).Reason); // [MQTT-3.2.2-6]
        Assert.Equal(DisconnectReason.MalformedPacket, DecodeFails([0x20, 0x02, 0x00, 0x00], fromServer: true).Reason); // property length missing
        Assert.Equal(DisconnectReason.MalformedPacket, DecodeFails([0x20, 0x04, 0x00, 0x00, 0x00, 0x00], fromServer: true).Reason);
    }

    [Fact]
    public void ConnAck_keeps_the_3_1_1_return_code_view()
    {
        var v311 = new ConnAckPacket(true, ConnectReturnCode.Accepted);
        Assert.Equal(ReasonCode.Success, v311.ReasonCode);
        Assert.Equal("20020100", Hex(MqttPacketWriter.ToArray(v311)));

        var v5 = new ConnAckPacket(false, ReasonCode.BadUserNameOrPassword);
        Assert.Equal(ConnectReturnCode.BadUserNameOrPassword, v5.ReturnCode);
        Assert.Equal("20020004", Hex(MqttPacketWriter.ToArray(v5, ProtocolLevel.V311)));
        Assert.Equal("2003008600", Hex(MqttPacketWriter.ToArray(v5, ProtocolLevel.V500)));
        Assert.Equal(ConnectReturnCode.IdentifierRejected, new ConnAckPacket(false, ReasonCode.ClientIdentifierNotValid).ReturnCode);
        Assert.Equal(ConnectReturnCode.UnacceptableProtocolVersion, new ConnAckPacket(false, ReasonCode.UnsupportedProtocolVersion).ReturnCode);
        Assert.Equal(ConnectReturnCode.NotAuthorized, new ConnAckPacket(false, ReasonCode.NotAuthorized).ReturnCode);
        Assert.Equal(ConnectReturnCode.ServerUnavailable, new ConnAckPacket(false, ReasonCode.ServerBusy).ReturnCode);
    }

    // ------------------------------------------------------------------ PUBLISH rules

    [Fact]
    public void Publish_empty_topic_is_allowed_only_with_a_topic_alias_3_3_2_1()
    {
        byte[] withAlias = Frame(0x30, U16(0), Props([0x23], U16(4)), Utf8("p"));
        var publish = Assert.IsType<PublishPacket>(Decode(withAlias));
        Assert.Equal(string.Empty, publish.Topic);
        Assert.Equal((ushort)4, publish.Properties!.TopicAlias);
        AssertWire(publish, withAlias, fromServer: false);

        byte[] noAlias = Frame(0x30, U16(0), [0x00], Utf8("p"));
        Assert.Equal(DisconnectReason.ProtocolError, DecodeFails(noAlias).Reason);
        Assert.ThrowsAny<ArgumentException>(() => MqttPacketWriter.ToArray(new PublishPacket { Topic = "" }, ProtocolLevel.V500));

        // A topic with its alias (establishing the mapping) is fine as well; wildcards are still refused [MQTT-3.3.2-2].
        Assert.IsType<PublishPacket>(Decode(Frame(0x30, Str("a/b"), Props([0x23], U16(4)), Utf8("p"))));
        Assert.Equal(DisconnectReason.TopicNameInvalid, DecodeFails(Frame(0x30, Str("a/+"), [0x00])).Reason);
    }

    [Fact]
    public void Publish_from_a_client_must_not_carry_a_subscription_identifier_MQTT_3_3_4_6()
    {
        byte[] frame = Frame(0x30, Str("t"), Props([0x0B, 0x07]), Utf8("p"));
        Assert.Equal(DisconnectReason.ProtocolError, DecodeFails(frame, fromServer: false).Reason);
        Assert.Equal([7u], Assert.IsType<PublishPacket>(Decode(frame, fromServer: true)).Properties!.SubscriptionIdentifiers!);

        byte header = frame[0];
        ReadOnlySpan<byte> body = frame.AsSpan(2);
        try
        {
            MqttPacketDecoder.ReadPublish(header, body, ProtocolLevel.V500, out _);
            Assert.Fail("expected a protocol error");
        }
        catch (MqttProtocolException e)
        {
            Assert.Equal(DisconnectReason.ProtocolError, e.Reason);
        }
    }

    [Fact]
    public void ReadPublish_in_place_returns_slices_and_properties()
    {
        byte[] frame = Frame(0x3B, Str("a/b"), U16(9), Props([0x01, 0x01], [0x02], U32(10)), Utf8("payload"));
        PublishView view = MqttPacketDecoder.ReadPublish(frame[0], frame.AsSpan(2), ProtocolLevel.V500, out MqttProperties? properties);
        Assert.Equal("a/b", Encoding.UTF8.GetString(view.Topic));
        Assert.Equal("payload", Encoding.UTF8.GetString(view.Payload));
        Assert.Equal((1, true, true, (ushort)9), (view.Qos, view.Dup, view.Retain, view.PacketId));
        Assert.Equal((byte)1, properties!.PayloadFormatIndicator);
        Assert.Equal(10u, properties.MessageExpiryInterval);

        // The same bytes at 3.1.1 carry no properties: the property bytes are payload there.
        PublishView old = MqttPacketDecoder.ReadPublish(frame[0], frame.AsSpan(2), ProtocolLevel.V311, out MqttProperties? none);
        Assert.Null(none);
        Assert.Equal(frame.Length - 2 - 5 - 2, old.Payload.Length);

        // QoS 3 [MQTT-3.3.1-4], DUP on QoS 0 [MQTT-3.3.1-2].
        Assert.Equal(DisconnectReason.MalformedPacket, DecodeFails(Frame(0x36, Str("t"), U16(1), [0])).Reason);
        Assert.Equal(DisconnectReason.ProtocolError, DecodeFails(Frame(0x38, Str("t"), [0])).Reason);
    }

    [Fact]
    public void WritePublish_from_an_application_message_matches_the_object_writer()
    {
        ApplicationMessage message = ApplicationMessage.Create("a/b", Utf8("xyz"), 1, false);
        var properties = new MqttProperties { SubscriptionIdentifiers = [3, 4], ContentType = "c" };
        var buffer = new ArrayBufferWriter<byte>();
        MqttPacketWriter.WritePublish(buffer, message, 1, true, false, 42, properties);
        var expected = new PublishPacket { Topic = "a/b", Payload = Utf8("xyz"), Qos = 1, Retain = true, PacketId = 42, Properties = properties };
        Assert.Equal(Hex(MqttPacketWriter.ToArray(expected, ProtocolLevel.V500)), Hex(buffer.WrittenSpan.ToArray()));
        Assert.Equal(Describe(expected), Describe(Decode(buffer.WrittenSpan.ToArray(), fromServer: true)));
    }

    [Fact]
    public void Hot_path_ack_reader_returns_reason_and_properties_without_a_packet_object()
    {
        byte[] frame = Frame(0x50, U16(300), [0x97], Props([0x1F], Str("full")));
        ushort id = MqttPacketDecoder.ReadPacketId(PacketType.PubRec, frame.AsSpan(2), ProtocolLevel.V500, out ReasonCode reason, out MqttProperties? properties);
        Assert.Equal((ushort)300, id);
        Assert.Equal(ReasonCode.QuotaExceeded, reason);
        Assert.Equal("full", properties!.ReasonString);

        Assert.Equal((ushort)300, MqttPacketDecoder.ReadPacketId(PacketType.PubAck, [0x01, 0x2C], ProtocolLevel.V500, out reason, out properties));
        Assert.Equal(ReasonCode.Success, reason);
        Assert.Null(properties);
        // 3.1.1 keeps its exact remaining length 2.
        Assert.Throws<MqttProtocolException>(() => MqttPacketDecoder.ReadPacketId(PacketType.PubAck, [0x01, 0x2C, 0x00], ProtocolLevel.V311, out _, out _));
    }

    // ------------------------------------------------------------------ SUBSCRIBE / UNSUBSCRIBE rules

    [Theory]
    [InlineData((byte)0x40, DisconnectReason.MalformedPacket)] // reserved bit 6 [MQTT-3.8.3-5]
    [InlineData((byte)0x80, DisconnectReason.MalformedPacket)] // reserved bit 7 [MQTT-3.8.3-5]
    [InlineData((byte)0x30, DisconnectReason.ProtocolError)] // Retain Handling 3 (§3.8.3.1)
    [InlineData((byte)0x03, DisconnectReason.ProtocolError)] // Maximum QoS 3 (§3.8.3.1)
    public void Subscription_options_rules(byte options, DisconnectReason expected)
    {
        Assert.Equal(expected, DecodeFails(Frame(0x82, U16(1), [0x00], Str("a"), [options])).Reason);
    }

    [Fact]
    public void No_local_on_a_shared_subscription_is_a_protocol_error_MQTT_3_8_3_4()
    {
        Assert.Equal(DisconnectReason.ProtocolError, DecodeFails(Frame(0x82, U16(1), [0x00], Str("$share/g/a"), [0x04])).Reason);
        var ok = Assert.IsType<SubscribePacket>(Decode(Frame(0x82, U16(1), [0x00], Str("$share/g/a"), [0x01], Str("a"), [0x04])));
        Assert.False(ok.Subscriptions[0].NoLocal);
        Assert.True(ok.Subscriptions[1].NoLocal);
    }

    [Fact]
    public void Subscribe_and_unsubscribe_need_a_filter_and_a_packet_identifier()
    {
        Assert.Equal(DisconnectReason.ProtocolError, DecodeFails(Frame(0x82, U16(1), [0x00])).Reason); // [MQTT-3.8.3-2]
        Assert.Equal(DisconnectReason.ProtocolError, DecodeFails(Frame(0xA2, U16(1), [0x00])).Reason); // [MQTT-3.10.3-2]
        Assert.Equal(DisconnectReason.MalformedPacket, DecodeFails(Frame(0x82, U16(0), [0x00], Str("a"), [0])).Reason); // [MQTT-2.2.1-3], malformed as in Mosquitto
        Assert.Equal(DisconnectReason.MalformedPacket, DecodeFails(Frame(0x90, U16(1), [0x00]), fromServer: true).Reason);
        Assert.Equal(DisconnectReason.MalformedPacket, DecodeFails(Frame(0xB0, U16(1), [0x00]), fromServer: true).Reason);
        // Fixed header flags stay checked [MQTT-3.8.1-1] [MQTT-3.15.1-1].
        Assert.Equal(DisconnectReason.MalformedPacket, DecodeFails(Frame(0x80, U16(1), [0x00], Str("a"), [0])).Reason);
        Assert.Equal(DisconnectReason.MalformedPacket, DecodeFails([0xF1, 0x00]).Reason);
    }

    [Fact]
    public void TopicSubscription_keeps_the_3_1_1_constructor_and_encodes_options()
    {
        var plain = new TopicSubscription("a/b", 1);
        Assert.Equal((byte)1, plain.Options);
        Assert.False(plain.NoLocal || plain.RetainAsPublished);
        Assert.Equal((byte)0, plain.RetainHandling);
        var full = TopicSubscription.FromOptions("x", 0x2E);
        Assert.Equal(new TopicSubscription("x", 2) { NoLocal = true, RetainAsPublished = true, RetainHandling = 2 }, full);
        Assert.Equal((byte)0x2E, full.Options);
    }

    // ------------------------------------------------------------------ 3.1.1 stays as it was

    [Fact]
    public void Level_3_1_1_decoding_and_encoding_are_unchanged()
    {
        byte[][] frames =
        [
            Connect("c"), Publish("a/b", Utf8("x"), 1, 5), [0x40, 0x02, 0x00, 0x05], [0x62, 0x02, 0x00, 0x05], Subscribe(3, ("a/#", 1)),
            [0x90, 0x03, 0x00, 0x03, 0x01], [0xB0, 0x02, 0x00, 0x03], [0xC0, 0x00], [0xD0, 0x00], [0xE0, 0x00],
        ];
        foreach (byte[] frame in frames)
        {
            MqttPacket old = MqttPacketDecoder.Decode(frame[0], frame.AsSpan(2));
            MqttPacket viaLevel = MqttPacketDecoder.Decode(frame[0], frame.AsSpan(2), ProtocolLevel.V311);
            Assert.Equal(Describe(old), Describe(viaLevel));
            Assert.Equal(Hex(frame), Hex(MqttPacketWriter.ToArray(old, ProtocolLevel.V311)));
            Assert.Equal(Hex(frame), Hex(MqttPacketWriter.ToArray(old)));
        }

        // 5.0-only packets: AUTH is not a 3.1.1 packet; DISCONNECT and UNSUBACK lose their 5.0 fields.
        Assert.Equal(DisconnectReason.MalformedPacket, Assert.Throws<MqttProtocolException>(() => MqttPacketDecoder.Decode(0xF0, [], ProtocolLevel.V311)).Reason);
        Assert.ThrowsAny<ArgumentException>(() => MqttPacketWriter.ToArray(new AuthPacket(), ProtocolLevel.V311));
        Assert.Equal("E000", Hex(MqttPacketWriter.ToArray(new DisconnectPacket(ReasonCode.ServerBusy), ProtocolLevel.V311)));
        Assert.Equal("B0020007", Hex(MqttPacketWriter.ToArray(new UnsubAckPacket(7, [ReasonCode.Success]), ProtocolLevel.V311)));
        Assert.Equal(DisconnectReason.MalformedPacket, Assert.Throws<MqttProtocolException>(() => MqttPacketDecoder.Decode(0xE0, [0x00], ProtocolLevel.V311)).Reason);
    }
}
