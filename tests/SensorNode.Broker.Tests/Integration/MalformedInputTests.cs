using System.Diagnostics;
using System.Text;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;
using static SensorNode.Broker.Tests.Protocol.RawFrames;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>
/// Bad bytes on a raw socket against the real broker: the offending connection is closed, every other
/// client keeps being served, and state accepted before (retained messages) survives. Also the raw-level
/// QoS 2 exactly-once and session resend rules, which no client library lets a test break on purpose.
/// </summary>
public sealed class MalformedInputTests
{
    // ------------------------------------------------------------------ fixture

    /// <summary>
    /// A broker with an MQTTnet publisher and an MQTTnet observer subscribed to "health/#", and a retained
    /// message on "state/retained" accepted before any bad input.
    /// </summary>
    private sealed class Scene : IAsyncDisposable
    {
        private readonly List<string> _retainedTopics = ["state/retained"];

        private Scene(BrokerServer server, MqttNetClient publisher, MqttNetClient observer)
        {
            Server = server;
            Publisher = publisher;
            Observer = observer;
        }

        public BrokerServer Server { get; }

        public MqttNetClient Publisher { get; }

        public MqttNetClient Observer { get; }

        public int Port => Server.Port;

        public MqttBroker Broker => Server.Broker;

        public static async Task<Scene> StartAsync(Action<BrokerOptions>? configure = null)
        {
            BrokerServer server = await TestBroker.StartAsync(configure);
            MqttNetClient? publisher = null;
            try
            {
                publisher = await MqttNetClient.ConnectAsync(server.Port, "publisher");
                MqttNetClient observer = await MqttNetClient.ConnectAsync(server.Port, "observer");
                await observer.SubscribeAsync("health/#", MqttQualityOfServiceLevel.AtLeastOnce);
                await publisher.PublishAsync("state/retained", "kept", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
                Assert.NotNull(server.Broker.Retained.Find("state/retained"));
                return new Scene(server, publisher, observer);
            }
            catch
            {
                if (publisher is not null)
                {
                    await publisher.DisposeAsync();
                }

                await server.DisposeAsync();
                throw;
            }
        }

        /// <summary>
        /// A raw client that connected properly and had a retained message accepted (PUBACK) before it
        /// misbehaves; the message must survive the connection being closed.
        /// </summary>
        public async Task<RawMqttClient> ConnectOffenderAsync(string clientId, ushort keepAlive = 60)
        {
            RawMqttClient raw = await RawMqttClient.ConnectMqttAsync(Port, clientId, keepAlive: keepAlive);
            string topic = "state/" + clientId;
            await raw.SendAsync(Publish(topic, Utf8("from " + clientId), qos: 1, packetId: 1, retain: true));
            PacketIdPacket ack = Assert.IsType<PacketIdPacket>(await raw.ReceiveAsync());
            Assert.Equal(PacketType.PubAck, ack.Type);
            Assert.Equal(1, ack.PacketId);
            _retainedTopics.Add(topic);
            return raw;
        }

        /// <summary>The broker closed <paramref name="raw"/> because of a protocol error, sending nothing more.</summary>
        public async Task AssertRejectedAsync(RawMqttClient raw, long protocolErrorsBefore, string what = "")
        {
            await raw.AssertClosedAsync();
            Assert.True(Broker.Metrics.ProtocolErrors > protocolErrorsBefore, $"{what}: the close must be a protocol error, not a crash");
        }

        /// <summary>
        /// Another client is still served: a message published now is the observer's very next message (so
        /// nothing from the bad input reached "health/#" before it), and the retained messages are all there.
        /// </summary>
        public async Task AssertStillServingAsync()
        {
            string payload = "after-" + Guid.NewGuid().ToString("N");
            await Publisher.PublishAsync("health/after", payload, MqttQualityOfServiceLevel.AtLeastOnce);
            ReceivedMessage next = await Observer.NextAsync();
            Assert.Equal("health/after", next.Topic);
            Assert.Equal(payload, next.Payload);

            foreach (string topic in _retainedTopics)
            {
                Assert.NotNull(Broker.Retained.Find(topic));
            }

            await using MqttNetClient late = await MqttNetClient.ConnectAsync(Port);
            await late.SubscribeAsync("state/#", MqttQualityOfServiceLevel.AtLeastOnce);
            var replayed = new List<ReceivedMessage>();
            for (int i = 0; i < _retainedTopics.Count; i++)
            {
                replayed.Add(await late.NextAsync());
            }

            Assert.All(replayed, m => Assert.True(m.Retain));
            Assert.Equal(_retainedTopics.Order(StringComparer.Ordinal), replayed.Select(m => m.Topic).Order(StringComparer.Ordinal));
            Assert.Contains(replayed, m => m.Topic == "state/retained" && m.Payload == "kept");
        }

        public async ValueTask DisposeAsync()
        {
            await Observer.DisposeAsync();
            await Publisher.DisposeAsync();
            await Server.DisposeAsync();
        }
    }

    private static async Task<T> ExpectAsync<T>(RawMqttClient client)
        where T : MqttPacket
    {
        MqttPacket? packet = await client.ReceiveAsync();
        Assert.NotNull(packet);
        return Assert.IsType<T>(packet);
    }

    private static async Task ExpectAckAsync(RawMqttClient client, PacketType type, ushort packetId)
    {
        PacketIdPacket ack = await ExpectAsync<PacketIdPacket>(client);
        Assert.Equal(type, ack.Type);
        Assert.Equal(packetId, ack.PacketId);
    }

    private static async Task ExpectPingRespAsync(RawMqttClient client)
    {
        await client.SendAsync([0xC0, 0x00]);
        Assert.Equal(PacketType.PingResp, (await ExpectAsync<EmptyPacket>(client)).Type);
    }

    private static byte[] Ascii(int length, char fill = 'x') => Encoding.ASCII.GetBytes(new string(fill, length));

    // ------------------------------------------------------------------ framing and fixed header

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Remaining_length_of_five_bytes_closes_the_connection(bool afterConnect)
    {
        // §2.2.3: the Remaining Length is at most four bytes.
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = afterConnect ? await scene.ConnectOffenderAsync("five-bytes") : await RawMqttClient.ConnectAsync(scene.Port);
        long errors = scene.Broker.Metrics.ProtocolErrors;

        await raw.SendAsync(Convert.FromHexString("30FFFFFFFF7F"));

        await scene.AssertRejectedAsync(raw, errors);
        await scene.AssertStillServingAsync();
    }

    [Theory]
    [InlineData("SUBSCRIBE 0000", "80")]
    [InlineData("SUBSCRIBE 0011", "83")]
    [InlineData("UNSUBSCRIBE 0000", "A0")]
    [InlineData("PUBREL 0000", "60")]
    [InlineData("PINGREQ 0001", "C1")]
    [InlineData("PINGREQ 0010", "C2")]
    [InlineData("DISCONNECT 1000", "E8")]
    public async Task Reserved_fixed_header_flags_close_the_connection(string what, string headerHex)
    {
        // [MQTT-2.2.2-1] [MQTT-2.2.2-2]: reserved flags must be as specified, otherwise the packet is malformed.
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await scene.ConnectOffenderAsync("flags");
        long errors = scene.Broker.Metrics.ProtocolErrors;
        byte header = Convert.FromHexString(headerHex)[0];
        byte[] packet = (header >> 4) switch
        {
            8 => SubscribeWithHeader(header, 5, ("health/#", 1)),
            10 => Frame(header, U16(5), Str("health/#")),
            6 => Ack(header, 1),
            _ => [header, 0x00],
        };

        await raw.SendAsync(packet);

        // Accepting it would answer SUBACK / UNSUBACK / PUBCOMP / PINGRESP, which AssertClosedAsync refuses.
        await scene.AssertRejectedAsync(raw, errors, what);
        await scene.AssertStillServingAsync();
    }

    [Fact]
    public async Task Auth_packet_type_15_closes_the_connection()
    {
        // Packet type 15 is reserved in MQTT 3.1.1 (AUTH exists only in 5.0).
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await scene.ConnectOffenderAsync("auth");
        long errors = scene.Broker.Metrics.ProtocolErrors;

        await raw.SendAsync([0xF0, 0x00]);

        await scene.AssertRejectedAsync(raw, errors);
        await scene.AssertStillServingAsync();
    }

    [Theory]
    [InlineData("CONNACK", "20020000")]
    [InlineData("SUBACK", "9003000100")]
    [InlineData("UNSUBACK", "B0020001")]
    [InlineData("PINGRESP", "D000")]
    public async Task Server_to_client_packets_sent_by_a_client_close_the_connection(string what, string hex)
    {
        // These packets only flow from server to client (§2.2.1); a client sending one breaks the protocol.
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await scene.ConnectOffenderAsync("wrong-direction");
        long errors = scene.Broker.Metrics.ProtocolErrors;

        await raw.SendAsync(Convert.FromHexString(hex));

        await scene.AssertRejectedAsync(raw, errors, what);
        await scene.AssertStillServingAsync();
    }

    [Fact]
    public async Task Publish_qos_0_with_dup_closes_the_connection_and_is_not_delivered()
    {
        // [MQTT-3.3.1-2]: DUP MUST be 0 for all QoS 0 messages.
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await scene.ConnectOffenderAsync("dup0");
        long errors = scene.Broker.Metrics.ProtocolErrors;

        await raw.SendAsync(Publish("health/dup", Utf8("must not arrive"), qos: 0, dup: true));

        await scene.AssertRejectedAsync(raw, errors);
        await scene.AssertStillServingAsync();
    }

    [Fact]
    public async Task Publish_qos_3_closes_the_connection()
    {
        // [MQTT-3.3.1-4]
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await scene.ConnectOffenderAsync("qos3");
        long errors = scene.Broker.Metrics.ProtocolErrors;

        await raw.SendAsync(Frame(0x36, Str("health/q3"), U16(3), Utf8("x")));

        await scene.AssertRejectedAsync(raw, errors);
        await scene.AssertStillServingAsync();
    }

    // ------------------------------------------------------------------ UTF-8

    [Theory]
    [InlineData("C0AF", "overlong '/'")]
    [InlineData("EDA080", "UTF-16 surrogate U+D800 encoded")]
    [InlineData("E282", "truncated 3-byte sequence")]
    [InlineData("FF", "byte 0xFF")]
    [InlineData("00", "U+0000 [MQTT-1.5.3-2]")]
    [InlineData("610062", "U+0000 between characters [MQTT-1.5.3-2]")]
    public async Task Invalid_utf8_or_null_character_in_topic_closes_the_connection(string badHex, string what)
    {
        // [MQTT-1.5.3-1] [MQTT-1.5.3-2]: the receiver MUST close the connection; the message is not routed.
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await scene.ConnectOffenderAsync("utf8-topic");
        long errors = scene.Broker.Metrics.ProtocolErrors;
        byte[] topic = Concat(Utf8("health/"), Convert.FromHexString(badHex));

        await raw.SendAsync(PublishRaw(topic, Utf8(what), qos: 1, packetId: 2, retain: true));

        await scene.AssertRejectedAsync(raw, errors, what);
        await scene.AssertStillServingAsync();
        Assert.Equal(2, scene.Broker.Retained.Count);
    }

    [Fact]
    public async Task Bom_in_topic_is_accepted_and_delivered_unchanged()
    {
        // [MQTT-1.5.3-3]: U+FEFF MUST NOT be skipped or stripped.
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await RawMqttClient.ConnectMqttAsync(scene.Port, "bom");
        await raw.SendAsync(Subscribe(1, ("bom/#", 0)));
        Assert.Equal(new byte[] { 0 }, (await ExpectAsync<SubAckPacket>(raw)).ReturnCodes);

        await raw.SendAsync(PublishRaw(Concat(Utf8("bom/"), [0xEF, 0xBB, 0xBF], Utf8("x")), Utf8("p"), qos: 1, packetId: 3));

        await ExpectAckAsync(raw, PacketType.PubAck, 3);
        PublishPacket echoed = await ExpectAsync<PublishPacket>(raw);
        Assert.Equal("bom/\uFEFFx", echoed.Topic);
        await scene.AssertStillServingAsync();
    }

    [Theory]
    [InlineData("EDA080")]
    [InlineData("C0AF")]
    [InlineData("6100")]
    public async Task Invalid_utf8_in_client_id_closes_without_connack(string badHex)
    {
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await RawMqttClient.ConnectAsync(scene.Port);
        long errors = scene.Broker.Metrics.ProtocolErrors;

        await raw.SendAsync(ConnectRaw(0x02, Concat(Utf8("id-"), Convert.FromHexString(badHex))));

        await scene.AssertRejectedAsync(raw, errors);
        await scene.AssertStillServingAsync();
    }

    // ------------------------------------------------------------------ CONNECT sequencing

    [Theory]
    [InlineData("PUBLISH")]
    [InlineData("SUBSCRIBE")]
    [InlineData("PINGREQ")]
    public async Task Packet_before_connect_closes_the_connection(string first)
    {
        // [MQTT-3.1.0-1]: the first packet from the client MUST be CONNECT.
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await RawMqttClient.ConnectAsync(scene.Port);
        long errors = scene.Broker.Metrics.ProtocolErrors;
        byte[] packet = first switch
        {
            "PUBLISH" => Publish("health/early", Utf8("must not arrive"), qos: 1, packetId: 1, retain: true),
            "SUBSCRIBE" => Subscribe(1, ("#", 0)),
            _ => [0xC0, 0x00],
        };

        await raw.SendAsync(packet);

        await scene.AssertRejectedAsync(raw, errors);
        Assert.Null(scene.Broker.Retained.Find("health/early"));
        await scene.AssertStillServingAsync();
    }

    [Fact]
    public async Task Second_connect_closes_the_connection()
    {
        // [MQTT-3.1.0-2]: a second CONNECT is a protocol violation; the client is disconnected.
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await scene.ConnectOffenderAsync("twice");
        long errors = scene.Broker.Metrics.ProtocolErrors;

        await raw.SendAsync(Connect("twice"));

        await scene.AssertRejectedAsync(raw, errors);
        await scene.AssertStillServingAsync();
    }

    [Theory]
    [InlineData("MQTX", (byte)4)]
    [InlineData("mqtt", (byte)4)]
    [InlineData("MQ", (byte)4)]
    [InlineData("MQTT5", (byte)5)]
    public async Task Unknown_protocol_name_closes_without_connack(string name, byte level)
    {
        // [MQTT-3.1.2-1]: the server MAY disconnect; it MUST NOT process the CONNECT as MQTT 3.1.1.
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await RawMqttClient.ConnectAsync(scene.Port);

        await raw.SendAsync(Connect("proto", protocolName: name, level: level));

        await raw.AssertClosedAsync();
        await scene.AssertStillServingAsync();
        Assert.Null(scene.Broker.Sessions.Find("proto"));
    }

    [Theory]
    [InlineData((byte)6)]
    [InlineData((byte)99)]
    [InlineData((byte)0)]
    [InlineData((byte)255)]
    public async Task Unsupported_protocol_level_gets_connack_0x01_then_close(byte level)
    {
        // [MQTT-3.1.2-2]: CONNACK with return code 0x01 (unacceptable protocol level), then disconnect.
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await RawMqttClient.ConnectAsync(scene.Port);
        byte[] connect = Connect("level", protocolName: "MQTT", level: level);

        await raw.SendAsync(connect);

        ConnAckPacket connAck = await ExpectAsync<ConnAckPacket>(raw);
        Assert.Equal(ConnectReturnCode.UnacceptableProtocolVersion, connAck.ReturnCode);
        Assert.False(connAck.SessionPresent);
        await raw.AssertClosedAsync();
        await scene.AssertStillServingAsync();
    }

    [Fact]
    public async Task Mqtt_3_1_connect_is_accepted_and_works()
    {
        // MQTT 3.1: protocol name "MQIsdp", level 3.
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await RawMqttClient.ConnectAsync(scene.Port);

        await raw.SendAsync(Connect("legacy", protocolName: "MQIsdp", level: 3));

        ConnAckPacket connAck = await ExpectAsync<ConnAckPacket>(raw);
        Assert.Equal(ConnectReturnCode.Accepted, connAck.ReturnCode);
        Assert.False(connAck.SessionPresent);

        await raw.SendAsync(Subscribe(1, ("legacy/#", 1)));
        Assert.Equal(new byte[] { 1 }, (await ExpectAsync<SubAckPacket>(raw)).ReturnCodes);
        await scene.Publisher.PublishAsync("legacy/t", "hello 3.1", MqttQualityOfServiceLevel.AtLeastOnce);
        PublishPacket received = await ExpectAsync<PublishPacket>(raw);
        Assert.Equal("legacy/t", received.Topic);
        Assert.Equal("hello 3.1", Encoding.UTF8.GetString(received.Payload.Span));
        Assert.Equal(1, received.Qos);
        await raw.SendAsync(Ack(0x40, received.PacketId));
        await ExpectPingRespAsync(raw);
        await scene.AssertStillServingAsync();
    }

    // MQTT 3.1 gave PUBREL (like SUBSCRIBE and UNSUBSCRIBE) a DUP flag, set when it is sent again after a reconnect:
    // 0x6A is a 3.1 client's PUBREL, not a malformed one (Mosquitto takes it too). From 3.1.1 on, the flags are 0010
    // [MQTT-3.6.1-1].
    [Theory]
    [InlineData(3, true)]
    [InlineData(4, false)]
    public async Task A_PUBREL_with_DUP_set_is_taken_from_MQTT_3_1_only(byte level, bool accepted)
    {
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await RawMqttClient.ConnectAsync(scene.Port);
        await raw.SendAsync(Connect("legacy-q2", protocolName: level == 3 ? "MQIsdp" : "MQTT", level: level));
        await ExpectAsync<ConnAckPacket>(raw);
        await raw.SendAsync(Publish("legacy/q2", Utf8("once"), qos: 2, packetId: 7));
        Assert.Equal(PacketType.PubRec, (await ExpectAsync<PacketIdPacket>(raw)).Type);

        await raw.SendAsync(Ack(0x6A, 7));

        if (accepted)
        {
            PacketIdPacket pubComp = await ExpectAsync<PacketIdPacket>(raw);
            Assert.Equal((PacketType.PubComp, (ushort)7), (pubComp.Type, pubComp.PacketId));
        }
        else
        {
            await raw.AssertClosedAsync();
        }

        await scene.AssertStillServingAsync();
    }

    // The same for SUBSCRIBE (0x8A) and UNSUBSCRIBE (0xAA) sent again by a 3.1 client [MQTT-3.8.1-1] [MQTT-3.10.1-1].
    [Theory]
    [InlineData(3, true)]
    [InlineData(4, false)]
    public async Task A_SUBSCRIBE_or_UNSUBSCRIBE_with_DUP_set_is_taken_from_MQTT_3_1_only(byte level, bool accepted)
    {
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await RawMqttClient.ConnectAsync(scene.Port);
        await raw.SendAsync(Connect("legacy-dup", protocolName: level == 3 ? "MQIsdp" : "MQTT", level: level));
        await ExpectAsync<ConnAckPacket>(raw);

        byte[] subscribe = Subscribe(5, ("legacy/dup", 1));
        subscribe[0] = 0x8A;
        await raw.SendAsync(subscribe);
        if (!accepted)
        {
            await raw.AssertClosedAsync();
            return;
        }

        Assert.Equal(new byte[] { 1 }, (await ExpectAsync<SubAckPacket>(raw)).ReturnCodes);
        await raw.SendAsync(Frame(0xAA, U16(6), Str("legacy/dup")));
        Assert.Equal(PacketType.UnsubAck, (await ExpectAsync<PacketIdPacket>(raw)).Type);
        await scene.AssertStillServingAsync();
    }

    [Fact]
    public async Task Empty_client_id_without_clean_session_gets_connack_0x02_then_close()
    {
        // [MQTT-3.1.3-8]
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await RawMqttClient.ConnectAsync(scene.Port);

        await raw.SendAsync(Connect("", cleanSession: false));

        ConnAckPacket connAck = await ExpectAsync<ConnAckPacket>(raw);
        Assert.Equal(ConnectReturnCode.IdentifierRejected, connAck.ReturnCode);
        Assert.False(connAck.SessionPresent);
        await raw.AssertClosedAsync();
        await scene.AssertStillServingAsync();
    }

    [Fact]
    public async Task Mqtt_3_1_connect_with_empty_client_id_gets_connack_0x02_then_close()
    {
        // MQTT 3.1 (MQIsdp) requires a client identifier of 1 to 23 characters; 0x02 is its "identifier rejected".
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await RawMqttClient.ConnectAsync(scene.Port);

        await raw.SendAsync(Connect("", protocolName: "MQIsdp", level: 3));

        ConnAckPacket connAck = await ExpectAsync<ConnAckPacket>(raw);
        Assert.Equal(ConnectReturnCode.IdentifierRejected, connAck.ReturnCode);
        await raw.AssertClosedAsync();
        await scene.AssertStillServingAsync();
    }

    [Fact]
    public async Task Http_request_instead_of_connect_is_refused_at_once_not_after_the_connect_timeout()
    {
        // [MQTT-3.1.0-1]: the first packet must be CONNECT; "GET " starts with 0x47, packet type 4 with flags 0111.
        await using Scene scene = await Scene.StartAsync(o => o.ConnectTimeout = TimeSpan.FromSeconds(30));
        await using RawMqttClient raw = await RawMqttClient.ConnectAsync(scene.Port);

        await raw.SendAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: broker\r\n\r\n"));

        // Far below the 30 s connect timeout: the first byte alone decides.
        await raw.AssertClosedAsync(TimeSpan.FromSeconds(5));
        await scene.AssertStillServingAsync();
    }

    [Fact]
    public async Task Empty_client_id_with_clean_session_is_accepted()
    {
        // [MQTT-3.1.3-6] [MQTT-3.1.3-7]: the server assigns an identifier.
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await RawMqttClient.ConnectAsync(scene.Port);

        await raw.SendAsync(Connect("", cleanSession: true));

        ConnAckPacket connAck = await ExpectAsync<ConnAckPacket>(raw);
        Assert.Equal(ConnectReturnCode.Accepted, connAck.ReturnCode);
        Assert.False(connAck.SessionPresent);
        await ExpectPingRespAsync(raw);
    }

    // ------------------------------------------------------------------ size limits

    /// <summary>A QoS 1 PUBLISH to "health/size" of exactly <paramref name="total"/> bytes on the wire.</summary>
    private static byte[] PublishOfTotalSize(int total, string topic = "health/size")
    {
        int fixedPart = 2 + Encoding.UTF8.GetByteCount(topic) + 2;
        int payload = total - 1 - fixedPart;
        while (1 + MqttFrameReader.VariableByteIntegerSize(fixedPart + payload) + fixedPart + payload > total)
        {
            payload--;
        }

        byte[] packet = Publish(topic, Ascii(payload, 's'), qos: 1, packetId: 9);
        Assert.Equal(total, packet.Length);
        return packet;
    }

    [Fact]
    public async Task Packet_over_max_packet_size_closes_the_connection()
    {
        await using Scene scene = await Scene.StartAsync(o => o.MaxPacketSize = 1024);
        await using RawMqttClient raw = await scene.ConnectOffenderAsync("too-big");
        long errors = scene.Broker.Metrics.ProtocolErrors;

        await raw.SendAsync(PublishOfTotalSize(1025));

        await scene.AssertRejectedAsync(raw, errors);
        await scene.AssertStillServingAsync();
    }

    [Fact]
    public async Task Oversized_packet_is_refused_from_its_fixed_header_before_the_body_arrives()
    {
        await using Scene scene = await Scene.StartAsync(o => o.MaxPacketSize = 1024);
        await using RawMqttClient raw = await scene.ConnectOffenderAsync("header-only");
        long errors = scene.Broker.Metrics.ProtocolErrors;

        // A fixed header announcing 10 MB; the body is never sent.
        await raw.SendAsync([0x30, .. RemainingLength(10 * 1024 * 1024)]);

        await scene.AssertRejectedAsync(raw, errors);
        await scene.AssertStillServingAsync();
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(1024)]
    public async Task Packet_up_to_max_packet_size_is_accepted(int total)
    {
        await using Scene scene = await Scene.StartAsync(o => o.MaxPacketSize = 1024);
        await using RawMqttClient raw = await RawMqttClient.ConnectMqttAsync(scene.Port, "fits");
        byte[] packet = PublishOfTotalSize(total);

        await raw.SendAsync(packet);

        await ExpectAckAsync(raw, PacketType.PubAck, 9);
        ReceivedMessage received = await scene.Observer.NextAsync();
        Assert.Equal("health/size", received.Topic);
        Assert.Equal(total - 1 - 2 - 2 - "health/size".Length - 2, received.Payload.Length);
        Assert.All(received.Payload, c => Assert.Equal('s', c));
        await ExpectPingRespAsync(raw);
        await scene.AssertStillServingAsync();
    }

    [Fact]
    public async Task Near_limit_packet_with_a_large_limit_is_delivered_intact()
    {
        // 2.5 MB under a 3 MB limit: the transport must buffer a whole packet well above its default sizes.
        const int payloadLength = 2_500_000;
        await using Scene scene = await Scene.StartAsync(o => o.MaxPacketSize = 3 * 1024 * 1024);
        await using RawMqttClient subscriber = await RawMqttClient.ConnectMqttAsync(scene.Port, "big-sub");
        await subscriber.SendAsync(Subscribe(1, ("big/data", 1)));
        Assert.Equal(new byte[] { 1 }, (await ExpectAsync<SubAckPacket>(subscriber)).ReturnCodes);
        await using RawMqttClient publisher = await RawMqttClient.ConnectMqttAsync(scene.Port, "big-pub");
        byte[] payload = new byte[payloadLength];
        new Random(42).NextBytes(payload);

        await publisher.SendAsync(Publish("big/data", payload, qos: 1, packetId: 77));

        await ExpectAckAsync(publisher, PacketType.PubAck, 77);
        PublishPacket received = await ExpectAsync<PublishPacket>(subscriber);
        Assert.Equal("big/data", received.Topic);
        Assert.Equal(1, received.Qos);
        Assert.Equal(payloadLength, received.Payload.Length);
        Assert.True(payload.AsSpan().SequenceEqual(received.Payload.Span), "payload corrupted in transit");
        await subscriber.SendAsync(Ack(0x40, received.PacketId));
        await ExpectPingRespAsync(publisher);
        await ExpectPingRespAsync(subscriber);
        await scene.AssertStillServingAsync();
    }

    // ------------------------------------------------------------------ timeouts

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Socket_without_connect_is_closed_after_the_connect_timeout(bool sendsHalfAConnect)
    {
        await using Scene scene = await Scene.StartAsync(o => o.ConnectTimeout = TimeSpan.FromSeconds(1));
        var clock = Stopwatch.StartNew();
        await using RawMqttClient raw = await RawMqttClient.ConnectAsync(scene.Port);
        if (sendsHalfAConnect)
        {
            byte[] connect = Connect("slowloris");
            await raw.SendAsync(connect[..(connect.Length / 2)]);
        }

        await raw.AssertClosedAsync(TimeSpan.FromSeconds(8));
        TimeSpan elapsed = clock.Elapsed;

        Assert.True(elapsed >= TimeSpan.FromMilliseconds(950), $"closed after {elapsed.TotalMilliseconds} ms, before the 1 s connect timeout");
        Assert.True(elapsed < TimeSpan.FromSeconds(4), $"closed only after {elapsed.TotalMilliseconds} ms");
        await scene.AssertStillServingAsync();
    }

    [Fact]
    public async Task Half_a_packet_after_connect_is_closed_by_the_keep_alive()
    {
        // [MQTT-3.1.2-24]: nothing complete within 1.5 × keep alive (1 s) → disconnect.
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await scene.ConnectOffenderAsync("half", keepAlive: 1);
        byte[] publish = Publish("health/half", Utf8("never completed"), qos: 1, packetId: 4);

        await raw.SendAsync(publish[..5]);
        var clock = Stopwatch.StartNew();

        await raw.AssertClosedAsync(TimeSpan.FromSeconds(8));
        TimeSpan elapsed = clock.Elapsed;
        Assert.True(elapsed >= TimeSpan.FromSeconds(1), $"closed after {elapsed.TotalMilliseconds} ms, before the keep-alive period");
        Assert.True(elapsed < TimeSpan.FromSeconds(5), $"closed only after {elapsed.TotalMilliseconds} ms");
        await scene.AssertStillServingAsync();
    }

    [Fact]
    public async Task Packet_trickled_byte_by_byte_does_not_extend_the_keep_alive()
    {
        // [MQTT-3.1.2-24] speaks of Control Packets: bytes of a packet that never completes are not one, so a
        // client with keep alive 1 s that only trickles a partial packet must still be closed after ~1.5 s.
        // The delay below paces the client's traffic (4 bytes/s); the close itself is awaited as an event.
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await scene.ConnectOffenderAsync("trickle", keepAlive: 1);
        byte[] publish = Publish("health/trickle", Ascii(200, 't'), qos: 1, packetId: 5);
        var clock = Stopwatch.StartNew();
        Task<MqttPacket?> closed = raw.ReceiveAsync(TimeSpan.FromSeconds(30));

        for (int i = 0; i < publish.Length - 1 && !closed.IsCompleted && clock.Elapsed < TimeSpan.FromSeconds(5); i++)
        {
            try
            {
                await raw.SendAsync(publish[i..(i + 1)]);
            }
            catch (IOException)
            {
                break;
            }

            await Task.WhenAny(closed, Task.Delay(250));
        }

        Assert.True(closed.IsCompleted, $"still open after {clock.Elapsed.TotalMilliseconds:F0} ms of a partial packet with keep alive 1 s");
        Assert.Null(await closed);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(4), $"closed only after {clock.Elapsed.TotalMilliseconds:F0} ms");
        await scene.AssertStillServingAsync();
    }

    // ------------------------------------------------------------------ SUBSCRIBE with bad filters

    [Theory]
    [InlineData("a/#/b")]
    [InlineData("sport/tennis#")]
    [InlineData("a+")]
    [InlineData("")]
    [InlineData("$share/g+/t")]
    public async Task Subscribe_with_a_filter_that_is_not_well_formed_closes_the_connection_and_applies_none_of_the_packet(string bad)
    {
        // [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.7.3-1]: a protocol violation closes the connection [MQTT-4.8.0-1], as
        // Mosquitto does; the good filter before the bad one is not subscribed either (Mosquitto would have applied it).
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await scene.ConnectOffenderAsync("bad-filter");
        int before = scene.Broker.Subscriptions.Count;
        long errors = scene.Broker.Metrics.ProtocolErrors;

        await raw.SendAsync(Subscribe(12, ("ok/+", 1), (bad, 1)));

        await scene.AssertRejectedAsync(raw, errors, bad);
        Assert.Equal(before, scene.Broker.Subscriptions.Count);
        await scene.AssertStillServingAsync();
    }

    [Fact]
    public async Task Subscribe_over_the_length_limit_is_refused_in_the_SUBACK_and_the_rest_is_granted()
    {
        // A well-formed filter the broker does not allow gets 0x80 (§3.9.3) and the connection stays open.
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await RawMqttClient.ConnectMqttAsync(scene.Port, "mixed");
        int before = scene.Broker.Subscriptions.Count;
        string tooDeep = string.Join('/', Enumerable.Repeat("x", scene.Broker.Options.MaxTopicLevels + 1));

        await raw.SendAsync(Subscribe(12, (tooDeep, 1), ("ok/+", 1), ("ok2/#", 2)));

        SubAckPacket subAck = await ExpectAsync<SubAckPacket>(raw);
        Assert.Equal(12, subAck.PacketId);
        Assert.Equal(new byte[] { 0x80, 0x01, 0x02 }, subAck.ReturnCodes);
        Assert.Equal(before + 2, scene.Broker.Subscriptions.Count);
        await ExpectPingRespAsync(raw);

        await scene.Publisher.PublishAsync("ok/1", "via ok/+", MqttQualityOfServiceLevel.AtLeastOnce);
        PublishPacket first = await ExpectAsync<PublishPacket>(raw);
        Assert.Equal("ok/1", first.Topic);
        Assert.Equal(1, first.Qos);
        await raw.SendAsync(Ack(0x40, first.PacketId));

        await scene.Publisher.PublishAsync("ok2/a/b", "via ok2/#", MqttQualityOfServiceLevel.AtMostOnce);
        PublishPacket second = await ExpectAsync<PublishPacket>(raw);
        Assert.Equal("ok2/a/b", second.Topic);
        await scene.AssertStillServingAsync();
    }

    [Theory]
    [InlineData("SUBSCRIBE")]
    [InlineData("UNSUBSCRIBE")]
    public async Task Subscribe_or_unsubscribe_without_filters_closes_the_connection(string what)
    {
        // [MQTT-3.8.3-3] [MQTT-3.10.3-2]
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await scene.ConnectOffenderAsync("no-filters");
        long errors = scene.Broker.Metrics.ProtocolErrors;

        await raw.SendAsync(Frame(what == "SUBSCRIBE" ? (byte)0x82 : (byte)0xA2, U16(3)));

        await scene.AssertRejectedAsync(raw, errors);
        await scene.AssertStillServingAsync();
    }

    [Fact]
    public async Task Subscribe_with_invalid_requested_qos_closes_the_connection()
    {
        // [MQTT-3-8.3-4]
        await using Scene scene = await Scene.StartAsync();
        await using RawMqttClient raw = await scene.ConnectOffenderAsync("qos-byte");
        long errors = scene.Broker.Metrics.ProtocolErrors;

        await raw.SendAsync(Subscribe(3, ("health/#", 3)));

        await scene.AssertRejectedAsync(raw, errors);
        await scene.AssertStillServingAsync();
    }

    // ------------------------------------------------------------------ QoS 2 exactly once (inbound)

    [Fact]
    public async Task Qos2_publish_resent_before_pubrel_is_delivered_exactly_once()
    {
        // §4.3.3 / [MQTT-4.3.3-2]: the receiver must not deliver the message again before PUBREL.
        await using Scene scene = await Scene.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(scene.Port, "q2-sub");
        await subscriber.SubscribeAsync("q2/#", MqttQualityOfServiceLevel.ExactlyOnce);
        await using RawMqttClient raw = await RawMqttClient.ConnectMqttAsync(scene.Port, "q2-pub");

        await raw.SendAsync(Publish("q2/t", Utf8("once"), qos: 2, packetId: 7));
        await ExpectAckAsync(raw, PacketType.PubRec, 7);
        await raw.SendAsync(Publish("q2/t", Utf8("once"), qos: 2, packetId: 7, dup: true));
        await ExpectAckAsync(raw, PacketType.PubRec, 7);

        // A marker from the same connection, after the duplicate: it must be the next thing after the one copy.
        await raw.SendAsync(Publish("q2/marker", Utf8("marker"), qos: 1, packetId: 8));
        await ExpectAckAsync(raw, PacketType.PubAck, 8);

        ReceivedMessage first = await subscriber.NextAsync();
        Assert.Equal(("q2/t", "once", MqttQualityOfServiceLevel.ExactlyOnce), (first.Topic, first.Payload, first.Qos));
        ReceivedMessage second = await subscriber.NextAsync();
        Assert.Equal(("q2/marker", "marker"), (second.Topic, second.Payload));

        await raw.SendAsync(Ack(0x62, 7));
        await ExpectAckAsync(raw, PacketType.PubComp, 7);

        // After PUBCOMP the identifier is free again: the same id now carries a new message.
        await raw.SendAsync(Publish("q2/t", Utf8("again"), qos: 2, packetId: 7));
        await ExpectAckAsync(raw, PacketType.PubRec, 7);
        ReceivedMessage third = await subscriber.NextAsync();
        Assert.Equal(("q2/t", "again"), (third.Topic, third.Payload));
        await raw.SendAsync(Ack(0x62, 7));
        await ExpectAckAsync(raw, PacketType.PubComp, 7);
        await scene.AssertStillServingAsync();
    }

    [Fact]
    public async Task Qos2_publish_resent_after_reconnect_before_pubrel_is_delivered_exactly_once()
    {
        // §4.3.3 with a persistent session: the inbound "PUBREC sent" state survives the connection, so the
        // publisher's re-sent PUBLISH (DUP=1, same id) on its new connection is acknowledged but not delivered.
        await using Scene scene = await Scene.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(scene.Port, "q2r-sub");
        await subscriber.SubscribeAsync("q2r/#", MqttQualityOfServiceLevel.ExactlyOnce);
        (RawMqttClient first, _) = await ReconnectAsync(scene.Port, "q2r-pub");
        await first.SendAsync(Publish("q2r/t", Utf8("once"), qos: 2, packetId: 21));
        await ExpectAckAsync(first, PacketType.PubRec, 21);
        first.Abort();
        await first.DisposeAsync();

        (RawMqttClient second, ConnAckPacket connAck) = await ReconnectAsync(scene.Port, "q2r-pub");
        await using (second)
        {
            Assert.True(connAck.SessionPresent);
            await second.SendAsync(Publish("q2r/t", Utf8("once"), qos: 2, packetId: 21, dup: true));
            await ExpectAckAsync(second, PacketType.PubRec, 21);
            await second.SendAsync(Publish("q2r/marker", Utf8("marker"), qos: 1, packetId: 22));
            await ExpectAckAsync(second, PacketType.PubAck, 22);
            await second.SendAsync(Ack(0x62, 21));
            await ExpectAckAsync(second, PacketType.PubComp, 21);
        }

        ReceivedMessage message = await subscriber.NextAsync();
        Assert.Equal(("q2r/t", "once"), (message.Topic, message.Payload));
        ReceivedMessage marker = await subscriber.NextAsync();
        Assert.Equal(("q2r/marker", "marker"), (marker.Topic, marker.Payload));
        await scene.AssertStillServingAsync();
    }

    // ------------------------------------------------------------------ outbound resend on reconnect

    private static async Task<(RawMqttClient Client, ConnAckPacket ConnAck)> ReconnectAsync(int port, string clientId)
    {
        RawMqttClient raw = await RawMqttClient.ConnectAsync(port);
        await raw.SendAsync(Connect(clientId, cleanSession: false));
        ConnAckPacket connAck = await ExpectAsync<ConnAckPacket>(raw);
        Assert.Equal(ConnectReturnCode.Accepted, connAck.ReturnCode);
        return (raw, connAck);
    }

    [Theory]
    [InlineData((byte)1)]
    [InlineData((byte)2)]
    public async Task Unacknowledged_publish_is_resent_with_dup_and_the_same_id_after_reconnect(byte qos)
    {
        // [MQTT-4.4.0-1]: on reconnect with CleanSession=0, unacknowledged PUBLISH packets are re-sent
        // with their original packet identifiers; [MQTT-3.3.1-1]: DUP=1 on a re-delivery.
        await using Scene scene = await Scene.StartAsync();
        string clientId = "resend-q" + qos;
        (RawMqttClient first, ConnAckPacket firstAck) = await ReconnectAsync(scene.Port, clientId);
        Assert.False(firstAck.SessionPresent);
        await first.SendAsync(Subscribe(1, ("resend/t", qos)));
        Assert.Equal(new[] { qos }, (await ExpectAsync<SubAckPacket>(first)).ReturnCodes);

        await scene.Publisher.PublishAsync("resend/t", "unacked", (MqttQualityOfServiceLevel)qos);
        PublishPacket original = await ExpectAsync<PublishPacket>(first);
        Assert.False(original.Dup);
        Assert.Equal(qos, original.Qos);
        Assert.NotEqual(0, original.PacketId);
        first.Abort();
        await first.DisposeAsync();

        (RawMqttClient second, ConnAckPacket secondAck) = await ReconnectAsync(scene.Port, clientId);
        await using (second)
        {
            Assert.True(secondAck.SessionPresent);
            PublishPacket resent = await ExpectAsync<PublishPacket>(second);
            Assert.True(resent.Dup, "a re-sent PUBLISH carries DUP=1");
            Assert.Equal(original.PacketId, resent.PacketId);
            Assert.Equal(qos, resent.Qos);
            Assert.Equal("resend/t", resent.Topic);
            Assert.Equal("unacked", Encoding.UTF8.GetString(resent.Payload.Span));

            if (qos == 1)
            {
                await second.SendAsync(Ack(0x40, resent.PacketId));
            }
            else
            {
                await second.SendAsync(Ack(0x50, resent.PacketId));
                await ExpectAckAsync(second, PacketType.PubRel, resent.PacketId);
                await second.SendAsync(Ack(0x70, resent.PacketId));
            }

            await ExpectPingRespAsync(second);
            await second.SendAsync([0xE0, 0x00]);
            await second.AssertClosedAsync();
        }

        // Acknowledged now: a further reconnect gets nothing re-sent (the PINGRESP comes right after CONNACK).
        (RawMqttClient third, ConnAckPacket thirdAck) = await ReconnectAsync(scene.Port, clientId);
        await using (third)
        {
            Assert.True(thirdAck.SessionPresent);
            await ExpectPingRespAsync(third);
        }

        await scene.AssertStillServingAsync();
    }

    [Fact]
    public async Task Pubrel_is_resent_after_reconnect_when_pubcomp_is_missing()
    {
        // [MQTT-4.4.0-1]: after PUBREC the sender's state is "PUBREL sent"; on reconnect the PUBREL is re-sent
        // (not the PUBLISH) with the same identifier.
        await using Scene scene = await Scene.StartAsync();
        const string clientId = "resend-pubrel";
        (RawMqttClient first, _) = await ReconnectAsync(scene.Port, clientId);
        await first.SendAsync(Subscribe(1, ("resend2/t", 2)));
        Assert.Equal(new byte[] { 2 }, (await ExpectAsync<SubAckPacket>(first)).ReturnCodes);

        await scene.Publisher.PublishAsync("resend2/t", "exactly once", MqttQualityOfServiceLevel.ExactlyOnce);
        PublishPacket publish = await ExpectAsync<PublishPacket>(first);
        Assert.Equal(2, publish.Qos);
        await first.SendAsync(Ack(0x50, publish.PacketId));
        await ExpectAckAsync(first, PacketType.PubRel, publish.PacketId);
        first.Abort();
        await first.DisposeAsync();

        (RawMqttClient second, ConnAckPacket secondAck) = await ReconnectAsync(scene.Port, clientId);
        await using (second)
        {
            Assert.True(secondAck.SessionPresent);
            await ExpectAckAsync(second, PacketType.PubRel, publish.PacketId);
            await second.SendAsync(Ack(0x70, publish.PacketId));
            await ExpectPingRespAsync(second);
            await second.SendAsync([0xE0, 0x00]);
            await second.AssertClosedAsync();
        }

        (RawMqttClient third, ConnAckPacket thirdAck) = await ReconnectAsync(scene.Port, clientId);
        await using (third)
        {
            Assert.True(thirdAck.SessionPresent);
            await ExpectPingRespAsync(third);
        }

        await scene.AssertStillServingAsync();
    }
}
