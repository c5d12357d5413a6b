using System.Buffers;
using System.Text;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using static SensorNode.Broker.Tests.Protocol.RawFrames;

namespace SensorNode.Broker.Tests.Protocol;

/// <summary>
/// The MQTT 3.1.1 codec: encoder output compared with hand-built bytes, encode→decode round trips for all
/// 14 packet types, the framing rules of §2.2 and the decoding rules of §1.5.3 and §3.
/// </summary>
public sealed class CodecTests
{
    // ------------------------------------------------------------------ helpers

    private static MqttPacket DecodeSingle(ReadOnlySequence<byte> sequence, int maxPacketSize = int.MaxValue)
    {
        Assert.True(MqttFrameReader.TryReadFrame(ref sequence, maxPacketSize, out byte header, out ReadOnlySequence<byte> body), "a whole frame was expected");
        Assert.True(sequence.IsEmpty, "the frame must consume the whole input");
        return MqttPacketDecoder.Decode(header, body.ToArray());
    }

    private static MqttPacket DecodeSingle(byte[] bytes, int maxPacketSize = int.MaxValue) =>
        DecodeSingle(new ReadOnlySequence<byte>(bytes), maxPacketSize);

    /// <summary>Encodes with the broker's writer, checks the bytes against the hand-built ones, decodes back.</summary>
    private static T RoundTrip<T>(MqttPacket packet, byte[] expectedWire)
        where T : MqttPacket
    {
        byte[] wire = MqttPacketWriter.ToArray(packet);
        Assert.Equal(Convert.ToHexString(expectedWire), Convert.ToHexString(wire));
        return Assert.IsType<T>(DecodeSingle(wire));
    }

    private static MqttProtocolException DecodeFails(byte[] frame) =>
        Assert.Throws<MqttProtocolException>(() => DecodeSingle(frame));

    private static byte[] Pattern(int length)
    {
        byte[] payload = new byte[length];
        for (int i = 0; i < length; i++)
        {
            payload[i] = (byte)((i * 31) + (i >> 8));
        }

        return payload;
    }

    private static void AssertSamePublish(PublishPacket expected, PublishPacket actual)
    {
        Assert.Equal(expected.Topic, actual.Topic);
        Assert.Equal(expected.Qos, actual.Qos);
        Assert.Equal(expected.Dup, actual.Dup);
        Assert.Equal(expected.Retain, actual.Retain);
        Assert.Equal(expected.PacketId, actual.PacketId);
        Assert.True(expected.Payload.Span.SequenceEqual(actual.Payload.Span), "payload differs");
    }

    // ------------------------------------------------------------------ CONNECT / CONNACK

    [Theory]
    [InlineData("sensor-1", true, (ushort)60, false, (byte)0, false, null, null)]
    [InlineData("sensor-1", false, (ushort)0, false, (byte)0, false, null, null)]
    [InlineData("", true, (ushort)65535, false, (byte)0, false, null, null)]
    [InlineData("w0", true, (ushort)10, true, (byte)0, false, null, null)]
    [InlineData("w1r", true, (ushort)10, true, (byte)1, true, null, null)]
    [InlineData("w2", false, (ushort)10, true, (byte)2, false, null, null)]
    [InlineData("user", true, (ushort)30, false, (byte)0, false, "alice", null)]
    [InlineData("userpass", true, (ushort)30, false, (byte)0, false, "alice", "s3cret")]
    [InlineData("all", false, (ushort)1, true, (byte)2, true, "bob", "pw")]
    [InlineData("unicodé-ñ-😀", true, (ushort)5, true, (byte)1, false, "ユーザー", "")]
    public void Connect_round_trips_with_exact_flags(string clientId, bool clean, ushort keepAlive, bool hasWill, byte willQos, bool willRetain, string? user, string? password)
    {
        WillMessage? will = hasWill ? new WillMessage { Topic = "status/" + clientId, Payload = Utf8("gone"), Qos = willQos, Retain = willRetain } : null;
        var packet = new ConnectPacket
        {
            ClientId = clientId,
            CleanSession = clean,
            KeepAliveSeconds = keepAlive,
            Will = will,
            UserName = user,
            Password = password is null ? null : Utf8(password),
        };

        // §3.1.2.3: bit 7 user, 6 password, 5 will retain, 4-3 will QoS, 2 will flag, 1 clean session, 0 reserved.
        int flags = (clean ? 0x02 : 0) | (hasWill ? 0x04 | (willQos << 3) | (willRetain ? 0x20 : 0) : 0)
            | (password is not null ? 0x40 : 0) | (user is not null ? 0x80 : 0);
        byte[] expected = Frame(
            0x10,
            Str("MQTT"),
            [0x04, (byte)flags],
            U16(keepAlive),
            Str(clientId),
            hasWill ? Concat(Str(will!.Topic), Bin(will.Payload)) : [],
            user is not null ? Str(user) : [],
            password is not null ? Bin(Utf8(password)) : []);

        ConnectPacket decoded = RoundTrip<ConnectPacket>(packet, expected);
        Assert.Equal("MQTT", decoded.ProtocolName);
        Assert.Equal(ProtocolLevel.V311, decoded.ProtocolLevel);
        Assert.Equal(clientId, decoded.ClientId);
        Assert.Equal(clean, decoded.CleanSession);
        Assert.Equal(keepAlive, decoded.KeepAliveSeconds);
        Assert.Equal(user, decoded.UserName);
        Assert.Equal(password is null ? null : Utf8(password), decoded.Password);
        if (hasWill)
        {
            Assert.NotNull(decoded.Will);
            Assert.Equal(will!.Topic, decoded.Will.Topic);
            Assert.Equal(will.Payload, decoded.Will.Payload);
            Assert.Equal(willQos, decoded.Will.Qos);
            Assert.Equal(willRetain, decoded.Will.Retain);
        }
        else
        {
            Assert.Null(decoded.Will);
        }
    }

    [Fact]
    public void Connect_of_mqtt_3_1_round_trips()
    {
        var packet = new ConnectPacket { ProtocolName = "MQIsdp", ProtocolLevel = ProtocolLevel.V310, ClientId = "old", KeepAliveSeconds = 20 };
        ConnectPacket decoded = RoundTrip<ConnectPacket>(packet, Frame(0x10, Str("MQIsdp"), [0x03, 0x02], U16(20), Str("old")));
        Assert.Equal("MQIsdp", decoded.ProtocolName);
        Assert.Equal(ProtocolLevel.V310, decoded.ProtocolLevel);

        (string name, byte level) = MqttPacketDecoder.ReadConnectProtocol(MqttPacketWriter.ToArray(packet).AsSpan(2));
        Assert.Equal("MQIsdp", name);
        Assert.Equal(3, level);
    }

    [Theory]
    [InlineData(false, ConnectReturnCode.Accepted)]
    [InlineData(true, ConnectReturnCode.Accepted)]
    [InlineData(false, ConnectReturnCode.UnacceptableProtocolVersion)]
    [InlineData(false, ConnectReturnCode.IdentifierRejected)]
    [InlineData(false, ConnectReturnCode.ServerUnavailable)]
    [InlineData(false, ConnectReturnCode.BadUserNameOrPassword)]
    [InlineData(false, ConnectReturnCode.NotAuthorized)]
    public void ConnAck_round_trips(bool sessionPresent, ConnectReturnCode code)
    {
        ConnAckPacket decoded = RoundTrip<ConnAckPacket>(new ConnAckPacket(sessionPresent, code), [0x20, 0x02, sessionPresent ? (byte)1 : (byte)0, (byte)code]);
        Assert.Equal(sessionPresent, decoded.SessionPresent);
        Assert.Equal(code, decoded.ReturnCode);
    }

    [Fact]
    public void ConnAck_with_reserved_acknowledge_flags_is_malformed()
    {
        // §3.2.2.1: bits 7-1 of the Connect Acknowledge Flags are reserved and MUST be 0.
        DecodeFails([0x20, 0x02, 0x02, 0x00]);
        DecodeFails([0x20, 0x03, 0x00, 0x00, 0x00]);
    }

    // ------------------------------------------------------------------ PUBLISH

    [Theory]
    [InlineData((byte)0, false, false)]
    [InlineData((byte)0, false, true)]
    [InlineData((byte)1, false, false)]
    [InlineData((byte)1, true, false)]
    [InlineData((byte)1, true, true)]
    [InlineData((byte)2, false, true)]
    [InlineData((byte)2, true, false)]
    [InlineData((byte)2, true, true)]
    public void Publish_round_trips_qos_dup_retain(byte qos, bool dup, bool retain)
    {
        ushort packetId = qos == 0 ? (ushort)0 : (ushort)0xBEEF;
        var packet = new PublishPacket { Topic = "sensor/temp/kitchen", Payload = Utf8("21.5"), Qos = qos, Dup = dup, Retain = retain, PacketId = packetId };
        byte[] expected = Publish("sensor/temp/kitchen", Utf8("21.5"), qos, packetId, dup, retain);
        PublishPacket decoded = RoundTrip<PublishPacket>(packet, expected);
        AssertSamePublish(packet, decoded);
    }

    [Theory]
    [InlineData((byte)0)]
    [InlineData((byte)1)]
    [InlineData((byte)2)]
    public void Publish_with_empty_payload_round_trips(byte qos)
    {
        var packet = new PublishPacket { Topic = "a", Payload = ReadOnlyMemory<byte>.Empty, Qos = qos, PacketId = qos == 0 ? (ushort)0 : (ushort)1, Retain = true };
        PublishPacket decoded = RoundTrip<PublishPacket>(packet, Publish("a", [], qos, packet.PacketId, retain: true));
        Assert.Equal(0, decoded.Payload.Length);
        AssertSamePublish(packet, decoded);
    }

    [Fact]
    public void Publish_topic_with_multibyte_utf8_round_trips()
    {
        var packet = new PublishPacket { Topic = "température/°C/ü/😀", Payload = Utf8("x"), Qos = 1, PacketId = 65535 };
        PublishPacket decoded = RoundTrip<PublishPacket>(packet, Publish(packet.Topic, Utf8("x"), 1, 65535));
        AssertSamePublish(packet, decoded);
    }

    /// <summary>
    /// Totals around 4096 bytes switch the writer between its single-span and its header-then-payload path;
    /// 4097+ bytes and multi-byte remaining lengths must still be encoded exactly.
    /// </summary>
    [Theory]
    [InlineData(4095, (byte)1)]
    [InlineData(4096, (byte)1)]
    [InlineData(4097, (byte)1)]
    [InlineData(4097, (byte)0)]
    [InlineData(5000, (byte)2)]
    [InlineData(16_500, (byte)0)]
    [InlineData(300_000, (byte)1)]
    public void Publish_large_payloads_round_trip_on_both_writer_paths(int totalPacketSize, byte qos)
    {
        const string topic = "bulk/data";
        int fixedPart = 2 + Encoding.UTF8.GetByteCount(topic) + (qos > 0 ? 2 : 0);
        int payloadLength = totalPacketSize - 1 - fixedPart;
        while (1 + MqttFrameReader.VariableByteIntegerSize(fixedPart + payloadLength) + fixedPart + payloadLength > totalPacketSize)
        {
            payloadLength--;
        }

        byte[] payload = Pattern(payloadLength);
        var packet = new PublishPacket { Topic = topic, Payload = payload, Qos = qos, PacketId = qos > 0 ? (ushort)4242 : (ushort)0, Retain = true };
        byte[] expected = Publish(topic, payload, qos, packet.PacketId, retain: true);
        Assert.Equal(totalPacketSize, expected.Length);
        PublishPacket decoded = RoundTrip<PublishPacket>(packet, expected);
        AssertSamePublish(packet, decoded);
    }

    /// <summary>The writer must cope with an output that hands out short spans (a pipe with small segments).</summary>
    [Theory]
    [InlineData(100, 7)]
    [InlineData(4000, 4096)]
    [InlineData(5000, 7)]
    [InlineData(70_000, 1000)]
    public void Publish_written_into_small_chunks_reads_back_from_the_multi_segment_sequence(int payloadLength, int chunkSize)
    {
        byte[] payload = Pattern(payloadLength);
        var message = ApplicationMessage.Create("chunked/t", payload, 1, retain: false);
        var writer = new ChunkedBufferWriter(chunkSize);
        MqttPacketWriter.WritePublish(writer, message, qos: 1, retain: false, dup: true, packetId: 77);
        ReadOnlySequence<byte> sequence = writer.ToSequence();

        Assert.Equal(Convert.ToHexString(Publish("chunked/t", payload, 1, 77, dup: true)), Convert.ToHexString(sequence.ToArray()));
        PublishPacket decoded = Assert.IsType<PublishPacket>(DecodeSingle(sequence));
        Assert.Equal("chunked/t", decoded.Topic);
        Assert.True(decoded.Dup);
        Assert.Equal(77, decoded.PacketId);
        Assert.Equal(payload, decoded.Payload.ToArray());
    }

    // ------------------------------------------------------------------ PUBACK .. PUBCOMP, UNSUBACK

    [Theory]
    [InlineData(PacketType.PubAck, (byte)0x40)]
    [InlineData(PacketType.PubRec, (byte)0x50)]
    [InlineData(PacketType.PubRel, (byte)0x62)]
    [InlineData(PacketType.PubComp, (byte)0x70)]
    [InlineData(PacketType.UnsubAck, (byte)0xB0)]
    public void Packet_id_only_packets_round_trip(PacketType type, byte expectedHeader)
    {
        foreach (ushort id in new ushort[] { 1, 0x1234, 0x00FF, 0xFF00, 65535 })
        {
            PacketIdPacket decoded = RoundTrip<PacketIdPacket>(new PacketIdPacket(type, id), [expectedHeader, 0x02, (byte)(id >> 8), (byte)id]);
            Assert.Equal(type, decoded.Type);
            Assert.Equal(id, decoded.PacketId);
        }
    }

    [Theory]
    [InlineData((byte)0x40)]
    [InlineData((byte)0x50)]
    [InlineData((byte)0x62)]
    [InlineData((byte)0x70)]
    [InlineData((byte)0xB0)]
    public void Packet_id_only_packets_with_wrong_length_are_malformed(byte header)
    {
        DecodeFails([header, 0x00]);
        DecodeFails([header, 0x01, 0x01]);
        DecodeFails([header, 0x03, 0x00, 0x01, 0x00]);
    }

    // ------------------------------------------------------------------ SUBSCRIBE / SUBACK / UNSUBSCRIBE

    [Fact]
    public void Subscribe_round_trips()
    {
        var packet = new SubscribePacket
        {
            PacketId = 10,
            Subscriptions = [new("sensor/+/temp", 0), new("sensor/#", 1), new("$SYS/broker/#", 2), new("ü/+", 1)],
        };
        byte[] expected = Subscribe(10, ("sensor/+/temp", 0), ("sensor/#", 1), ("$SYS/broker/#", 2), ("ü/+", 1));
        Assert.Equal(0x82, expected[0]);
        SubscribePacket decoded = RoundTrip<SubscribePacket>(packet, expected);
        Assert.Equal(10, decoded.PacketId);
        Assert.Equal(packet.Subscriptions, decoded.Subscriptions);
    }

    [Fact]
    public void SubAck_round_trips()
    {
        byte[] codes = [0x00, 0x01, 0x02, 0x80];
        SubAckPacket decoded = RoundTrip<SubAckPacket>(new SubAckPacket(513, codes), [0x90, 0x06, 0x02, 0x01, .. codes]);
        Assert.Equal(513, decoded.PacketId);
        Assert.Equal(codes, decoded.ReturnCodes);
    }

    [Fact]
    public void Unsubscribe_round_trips()
    {
        var packet = new UnsubscribePacket { PacketId = 65535, Filters = ["a/b", "+/#", "ñ"] };
        byte[] expected = Unsubscribe(65535, "a/b", "+/#", "ñ");
        Assert.Equal(0xA2, expected[0]);
        UnsubscribePacket decoded = RoundTrip<UnsubscribePacket>(packet, expected);
        Assert.Equal(65535, decoded.PacketId);
        Assert.Equal(packet.Filters, decoded.Filters);
    }

    // ------------------------------------------------------------------ PINGREQ / PINGRESP / DISCONNECT

    [Theory]
    [InlineData(PacketType.PingReq, (byte)0xC0)]
    [InlineData(PacketType.PingResp, (byte)0xD0)]
    [InlineData(PacketType.Disconnect, (byte)0xE0)]
    public void Empty_packets_round_trip(PacketType type, byte header)
    {
        EmptyPacket packet = type switch
        {
            PacketType.PingReq => EmptyPacket.PingReq,
            PacketType.PingResp => EmptyPacket.PingResp,
            _ => EmptyPacket.Disconnect,
        };
        EmptyPacket decoded = RoundTrip<EmptyPacket>(packet, [header, 0x00]);
        Assert.Equal(type, decoded.Type);

        // These packets have no variable header or payload: a body is malformed.
        DecodeFails([header, 0x01, 0x00]);
    }

    [Fact]
    public void All_fourteen_packet_types_are_covered_by_encode_and_decode()
    {
        MqttPacket[] packets =
        [
            new ConnectPacket { ClientId = "c" },
            new ConnAckPacket(false, ConnectReturnCode.Accepted),
            new PublishPacket { Topic = "t", Payload = Utf8("p") },
            new PacketIdPacket(PacketType.PubAck, 1),
            new PacketIdPacket(PacketType.PubRec, 1),
            new PacketIdPacket(PacketType.PubRel, 1),
            new PacketIdPacket(PacketType.PubComp, 1),
            new SubscribePacket { PacketId = 1, Subscriptions = [new("t", 0)] },
            new SubAckPacket(1, [0]),
            new UnsubscribePacket { PacketId = 1, Filters = ["t"] },
            new PacketIdPacket(PacketType.UnsubAck, 1),
            EmptyPacket.PingReq,
            EmptyPacket.PingResp,
            EmptyPacket.Disconnect,
        ];

        Assert.Equal(Enumerable.Range(1, 14), packets.Select(p => (int)p.Type));
        foreach (MqttPacket packet in packets)
        {
            byte[] wire = MqttPacketWriter.ToArray(packet);
            Assert.Equal((int)packet.Type, wire[0] >> 4);
            Assert.Equal(packet.Type, DecodeSingle(wire).Type);
        }
    }

    // ------------------------------------------------------------------ Remaining Length (§2.2.3)

    [Theory]
    [InlineData(0, "00")]
    [InlineData(127, "7F")]
    [InlineData(128, "8001")]
    [InlineData(16_383, "FF7F")]
    [InlineData(16_384, "808001")]
    [InlineData(2_097_151, "FFFF7F")]
    [InlineData(2_097_152, "80808001")]
    [InlineData(268_435_455, "FFFFFF7F")]
    public void Remaining_length_boundaries_encode_and_read_back(int value, string expectedHex)
    {
        Span<byte> encoded = stackalloc byte[8];
        int written = MqttFrameReader.WriteVariableByteInteger(encoded, value);
        Assert.Equal(expectedHex, Convert.ToHexString(encoded[..written]));
        Assert.Equal(expectedHex.Length / 2, MqttFrameReader.VariableByteIntegerSize(value));
        Assert.Equal(expectedHex, Convert.ToHexString(RemainingLength(value)));

        // The body is made of segments sharing one block, so 256 MB need not be allocated; one extra byte follows the frame.
        byte[] block = new byte[1 << 20];
        var parts = new List<ReadOnlyMemory<byte>> { new byte[] { 0x30 }, encoded[..written].ToArray() };
        for (int left = value; left > 0; left -= Math.Min(left, block.Length))
        {
            parts.Add(block.AsMemory(0, Math.Min(left, block.Length)));
        }

        parts.Add(new byte[] { 0xE0 });
        ReadOnlySequence<byte> buffer = SequenceBuilders.FromSegments(parts);

        Assert.True(MqttFrameReader.TryReadFrame(ref buffer, int.MaxValue, out byte header, out ReadOnlySequence<byte> body));
        Assert.Equal(0x30, header);
        Assert.Equal(value, body.Length);
        Assert.Equal(1, buffer.Length);
        Assert.Equal(0xE0, buffer.FirstSpan[0]);

        // One byte short of the body is a partial frame.
        ReadOnlySequence<byte> shortBuffer = SequenceBuilders.FromSegments(parts).Slice(0, 1 + written + value - 1);
        if (value > 0)
        {
            Assert.False(MqttFrameReader.TryReadFrame(ref shortBuffer, int.MaxValue, out _, out _));
        }
    }

    [Theory]
    [InlineData("30FFFFFFFF7F")]
    [InlineData("3080808080")]
    [InlineData("308080808001")]
    [InlineData("C0FFFFFFFF01")]
    public void Remaining_length_with_a_fifth_byte_is_malformed(string hex)
    {
        // §2.2.3: at most four bytes; the fourth byte's continuation bit makes the packet malformed.
        var buffer = new ReadOnlySequence<byte>(Convert.FromHexString(hex));
        var ex = Assert.Throws<MqttProtocolException>(() => MqttFrameReader.TryReadFrame(ref buffer, int.MaxValue, out _, out _));
        Assert.Equal(DisconnectReason.MalformedPacket, ex.Reason);

        // Same verdict when the length bytes arrive in separate segments.
        ReadOnlySequence<byte> split = SequenceBuilders.BytewiseWithEmptySegments(Convert.FromHexString(hex));
        Assert.Throws<MqttProtocolException>(() => MqttFrameReader.TryReadFrame(ref split, int.MaxValue, out _, out _));
    }

    [Fact]
    public void Partial_frames_return_false_and_consume_nothing()
    {
        byte[][] frames =
        [
            MqttPacketWriter.ToArray(new ConnectPacket { ClientId = "partial", Will = new WillMessage { Topic = "w", Payload = Utf8("x"), Qos = 1 }, UserName = "u", Password = [1, 2] }),
            Publish("p/q", Pattern(300), 1, 9),
            Publish("big", Pattern(20_000), 0),
            [0xC0, 0x00],
        ];

        foreach (byte[] frame in frames)
        {
            for (int length = 0; length < frame.Length; length++)
            {
                var buffer = new ReadOnlySequence<byte>(frame, 0, length);
                Assert.False(MqttFrameReader.TryReadFrame(ref buffer, int.MaxValue, out _, out _), $"prefix {length} of {frame.Length}");
                Assert.Equal(length, buffer.Length);
            }

            var whole = new ReadOnlySequence<byte>(frame);
            Assert.True(MqttFrameReader.TryReadFrame(ref whole, int.MaxValue, out _, out ReadOnlySequence<byte> body));
            Assert.True(whole.IsEmpty);
            Assert.Equal(frame.Length - 1 - MqttFrameReader.VariableByteIntegerSize((int)body.Length), body.Length);
        }
    }

    [Fact]
    public void Packet_too_large_is_refused_from_the_header_alone()
    {
        // 100 000 bytes announced, only the fixed header present.
        byte[] headerOnly = [0x30, .. RemainingLength(100_000)];
        var buffer = new ReadOnlySequence<byte>(headerOnly);
        var ex = Assert.Throws<MqttProtocolException>(() => MqttFrameReader.TryReadFrame(ref buffer, 1000, out _, out _));
        Assert.Equal(DisconnectReason.PacketTooLarge, ex.Reason);

        // Two bytes are enough when the length fits in one byte.
        var tiny = new ReadOnlySequence<byte>(new byte[] { 0x30, 0x7F });
        ex = Assert.Throws<MqttProtocolException>(() => MqttFrameReader.TryReadFrame(ref tiny, 100, out _, out _));
        Assert.Equal(DisconnectReason.PacketTooLarge, ex.Reason);
    }

    [Fact]
    public void Packet_size_limit_counts_the_fixed_header_and_is_inclusive()
    {
        byte[] frame = Publish("limit", Pattern(500), 1, 1);
        var exact = new ReadOnlySequence<byte>(frame);
        Assert.True(MqttFrameReader.TryReadFrame(ref exact, frame.Length, out _, out _));

        var over = new ReadOnlySequence<byte>(frame);
        var ex = Assert.Throws<MqttProtocolException>(() => MqttFrameReader.TryReadFrame(ref over, frame.Length - 1, out _, out _));
        Assert.Equal(DisconnectReason.PacketTooLarge, ex.Reason);
    }

    // ------------------------------------------------------------------ multi-segment input

    [Fact]
    public void Frames_split_across_segments_at_every_point_decode_identically()
    {
        byte[][] frames =
        [
            MqttPacketWriter.ToArray(new ConnectPacket { ClientId = "seg", KeepAliveSeconds = 9, Will = new WillMessage { Topic = "w/t", Payload = Utf8("bye"), Qos = 2, Retain = true }, UserName = "n", Password = [9] }),
            Publish("seg/ment", Pattern(200), 2, 0x0102, dup: true, retain: true),
            Subscribe(3, ("a/+", 1), ("b/#", 2)),
        ];

        foreach (byte[] frame in frames)
        {
            string reference = Describe(DecodeSingle(frame));
            for (int cut = 0; cut <= frame.Length; cut++)
            {
                Assert.Equal(reference, Describe(DecodeSingle(SequenceBuilders.Split(frame, cut))));
            }

            for (int cut = 1; cut < frame.Length - 1; cut += 3)
            {
                Assert.Equal(reference, Describe(DecodeSingle(SequenceBuilders.Split(frame, cut, cut + 1, frame.Length - 1))));
            }

            Assert.Equal(reference, Describe(DecodeSingle(SequenceBuilders.BytewiseWithEmptySegments(frame))));
        }
    }

    [Fact]
    public void Several_frames_in_a_segmented_stream_are_read_one_after_another()
    {
        byte[] stream = Concat(
            Publish("one", Utf8("1"), 1, 1),
            [0xC0, 0x00],
            Publish("two", Pattern(150), 2, 2),
            Ack(0x62, 2),
            [0xE0, 0x00]);

        for (int cut = 0; cut <= stream.Length; cut += 5)
        {
            ReadOnlySequence<byte> buffer = SequenceBuilders.Split(stream, cut / 2, cut);
            var types = new List<PacketType>();
            while (MqttFrameReader.TryReadFrame(ref buffer, 10_000, out byte header, out ReadOnlySequence<byte> body))
            {
                types.Add(MqttPacketDecoder.Decode(header, body.ToArray()).Type);
            }

            Assert.True(buffer.IsEmpty);
            Assert.Equal(new[] { PacketType.Publish, PacketType.PingReq, PacketType.Publish, PacketType.PubRel, PacketType.Disconnect }, types);
        }
    }

    private static string Describe(MqttPacket packet) => packet switch
    {
        ConnectPacket c => $"CONNECT {c.ProtocolName} {c.ProtocolLevel} {c.ClientId} {c.CleanSession} {c.KeepAliveSeconds} {c.Will?.Topic} {Convert.ToHexString(c.Will?.Payload ?? [])} {c.Will?.Qos} {c.Will?.Retain} {c.UserName} {Convert.ToHexString(c.Password ?? [])}",
        PublishPacket p => $"PUBLISH {p.Topic} {p.Qos} {p.Dup} {p.Retain} {p.PacketId} {Convert.ToHexString(p.Payload.Span)}",
        SubscribePacket s => $"SUBSCRIBE {s.PacketId} {string.Join(",", s.Subscriptions)}",
        _ => packet.Type.ToString(),
    };

    // ------------------------------------------------------------------ fixed header flags (§2.2.2)

    [Fact]
    public void Reserved_fixed_header_flags_are_rejected_for_every_packet_type()
    {
        for (int type = 0; type <= 15; type++)
        {
            for (int flags = 0; flags <= 15; flags++)
            {
                byte header = (byte)((type << 4) | flags);
                bool valid = type switch
                {
                    0 => false,
                    3 => true, // PUBLISH: DUP, QoS, RETAIN
                    6 or 8 or 10 => flags == 0x02, // PUBREL, SUBSCRIBE, UNSUBSCRIBE [MQTT-3.6.1-1] [MQTT-3.8.1-1] [MQTT-3.10.1-1]
                    _ => flags == 0,
                };

                if (valid)
                {
                    MqttPacketDecoder.CheckFixedHeader(header);
                }
                else
                {
                    var ex = Assert.Throws<MqttProtocolException>(() => MqttPacketDecoder.CheckFixedHeader(header));
                    Assert.Equal(DisconnectReason.MalformedPacket, ex.Reason);
                }
            }
        }
    }

    [Theory]
    [InlineData("8000000100016101")] // SUBSCRIBE with flags 0000
    [InlineData("8A00000100016101")] // SUBSCRIBE with flags 1010
    [InlineData("60020001")] // PUBREL with flags 0000
    [InlineData("63020001")] // PUBREL with flags 0011
    [InlineData("A0000001000161")] // UNSUBSCRIBE with flags 0000
    [InlineData("C100")] // PINGREQ with flags 0001
    [InlineData("C800")] // PINGREQ with flags 1000
    [InlineData("E200")] // DISCONNECT with flags 0010
    [InlineData("42020001")] // PUBACK with flags 0010
    [InlineData("0000")] // reserved type 0
    [InlineData("F000")] // AUTH does not exist in 3.1.1
    public void Packets_with_reserved_flags_or_types_fail_to_decode(string hex)
    {
        byte[] frame = Convert.FromHexString(hex);
        frame[1] = (byte)(frame.Length - 2);
        var ex = DecodeFails(frame);
        Assert.Equal(DisconnectReason.MalformedPacket, ex.Reason);
    }

    // ------------------------------------------------------------------ PUBLISH rules

    [Theory]
    [InlineData((byte)0x36)]
    [InlineData((byte)0x37)]
    [InlineData((byte)0x3E)]
    public void Publish_with_qos_3_is_malformed(byte header)
    {
        // [MQTT-3.3.1-4]
        var ex = DecodeFails(Frame(header, Str("t"), U16(1), Utf8("x")));
        Assert.Equal(DisconnectReason.MalformedPacket, ex.Reason);
    }

    [Fact]
    public void Publish_qos_0_with_dup_is_rejected()
    {
        // [MQTT-3.3.1-2]: DUP MUST be 0 for QoS 0.
        DecodeFails(Publish("t", Utf8("x"), 0, dup: true));
    }

    [Theory]
    [InlineData("")]
    [InlineData("+")]
    [InlineData("#")]
    [InlineData("a/+")]
    [InlineData("a/#")]
    [InlineData("+/a")]
    [InlineData("a+b")]
    [InlineData("sport/tennis#")]
    public void Publish_topic_with_wildcard_or_empty_is_rejected(string topic)
    {
        // [MQTT-3.3.2-2] no wildcards in a topic name; [MQTT-4.7.3-1] at least one character.
        DecodeFails(Publish(topic, Utf8("x")));
        DecodeFails(Publish(topic, Utf8("x"), 1, 5));
    }

    [Theory]
    [InlineData((byte)1)]
    [InlineData((byte)2)]
    public void Publish_with_qos_above_0_needs_a_packet_id(byte qos)
    {
        // [MQTT-2.3.1-1]
        DecodeFails(Publish("t", Utf8("x"), qos, packetId: 0));

        // Without room for the packet identifier at all.
        DecodeFails(Frame(RawFrames.PublishHeader(qos), Str("t"), [0x01]));
    }

    [Fact]
    public void Publish_truncated_topic_is_malformed()
    {
        DecodeFails(Frame(0x30, U16(10), Utf8("abc")));
        DecodeFails(Frame(0x30, [0x00]));
        DecodeFails([0x30, 0x00]);
    }

    // ------------------------------------------------------------------ UTF-8 (§1.5.3)

    public static TheoryData<string, string> InvalidUtf8 => new()
    {
        { "C0AF", "overlong '/'" },
        { "E080AF", "overlong 3-byte '/'" },
        { "F08080AF", "overlong 4-byte '/'" },
        { "C1BF", "overlong C1 lead byte" },
        { "EDA080", "surrogate U+D800 encoded" },
        { "EDBFBF", "surrogate U+DFFF encoded" },
        { "EDA0BDEDB880", "surrogate pair encoded as CESU-8" },
        { "612FE282", "truncated 3-byte sequence at the end" },
        { "E2822F", "truncated sequence before '/'" },
        { "80", "lone continuation byte" },
        { "FF", "byte FF" },
        { "F4908080", "above U+10FFFF" },
        { "6100", "U+0000 at the end [MQTT-1.5.3-2]" },
        { "00", "U+0000 alone" },
        { "610062", "U+0000 in the middle" },
    };

    [Theory]
    [MemberData(nameof(InvalidUtf8))]
    public void Invalid_utf8_is_rejected_everywhere_a_string_is_read(string hex, string what)
    {
        byte[] bad = Convert.FromHexString(hex);
        Assert.False(MqttUtf8.IsValid(bad), what);

        // [MQTT-1.5.3-1] topic name
        var ex = DecodeFails(PublishRaw(bad, Utf8("x")));
        Assert.Equal(DisconnectReason.MalformedPacket, ex.Reason);

        // client identifier, will topic, user name
        DecodeFails(ConnectRaw(0x02, bad));
        DecodeFails(ConnectRaw(0x06, Utf8("c"), 60, "MQTT", 4, Bin(bad), Bin(Utf8("x"))));
        DecodeFails(ConnectRaw(0x82, Utf8("c"), 60, "MQTT", 4, Bin(bad)));

        // topic filters
        DecodeFails(Frame(0x82, U16(1), Bin(bad), [0x00]));
        DecodeFails(Frame(0xA2, U16(1), Bin(bad)));
    }

    [Theory]
    [InlineData("EFBBBF", "\uFEFF")]
    [InlineData("EFBBBF612F62", "\uFEFFa/b")]
    [InlineData("612FEFBBBF", "a/\uFEFF")]
    [InlineData("F09F9880", "😀")]
    [InlineData("F48FBFBF", "\U0010FFFF")]
    [InlineData("7F", "\u007F")]
    public void Valid_utf8_including_the_bom_is_accepted_and_kept(string hex, string expected)
    {
        // [MQTT-1.5.3-3]: U+FEFF is a zero-width no-break space and MUST NOT be skipped or stripped.
        byte[] good = Convert.FromHexString(hex);
        Assert.True(MqttUtf8.IsValid(good));
        PublishPacket publish = Assert.IsType<PublishPacket>(DecodeSingle(PublishRaw(good, Utf8("x"))));
        Assert.Equal(expected, publish.Topic);

        ConnectPacket connect = Assert.IsType<ConnectPacket>(DecodeSingle(ConnectRaw(0x02, good)));
        Assert.Equal(expected, connect.ClientId);
    }

    // ------------------------------------------------------------------ CONNECT rules (§3.1.2)

    [Fact]
    public void Connect_reserved_flag_is_malformed()
    {
        // [MQTT-3.1.2-3]
        var ex = DecodeFails(ConnectRaw(0x03, Utf8("c")));
        Assert.Equal(DisconnectReason.MalformedPacket, ex.Reason);
        DecodeFails(ConnectRaw(0x01, Utf8("c")));
    }

    [Theory]
    [InlineData((byte)0x0A, "will QoS 1 without will flag [MQTT-3.1.2-13]")]
    [InlineData((byte)0x12, "will QoS 2 without will flag [MQTT-3.1.2-13]")]
    [InlineData((byte)0x1A, "will QoS 3 without will flag [MQTT-3.1.2-13]")]
    [InlineData((byte)0x22, "will retain without will flag [MQTT-3.1.2-15]")]
    [InlineData((byte)0x2A, "will retain and QoS without will flag [MQTT-3.1.2-11]")]
    public void Connect_will_fields_without_will_flag_are_malformed(byte flags, string what)
    {
        Assert.Throws<MqttProtocolException>(() => DecodeSingle(ConnectRaw(flags, Utf8("c"))));
        Assert.Throws<MqttProtocolException>(() => DecodeSingle(ConnectRaw(flags, Utf8("c"), 60, "MQTT", 4, Str("w"), Bin(Utf8("x")))));
        _ = what;
    }

    [Fact]
    public void Connect_without_will_flag_must_not_carry_will_topic_and_message()
    {
        // [MQTT-3.1.2-11]: the Will Topic and Will Message fields MUST NOT be present.
        DecodeFails(ConnectRaw(0x02, Utf8("c"), 60, "MQTT", 4, Str("w"), Bin(Utf8("x"))));
    }

    [Fact]
    public void Connect_will_qos_3_is_malformed()
    {
        // [MQTT-3.1.2-14]
        DecodeFails(ConnectRaw(0x1E, Utf8("c"), 60, "MQTT", 4, Str("w"), Bin(Utf8("x"))));
        DecodeFails(ConnectRaw(0x3E, Utf8("c"), 60, "MQTT", 4, Str("w"), Bin(Utf8("x"))));
    }

    [Theory]
    [InlineData((byte)0x06, (byte)0, false)]
    [InlineData((byte)0x0E, (byte)1, false)]
    [InlineData((byte)0x16, (byte)2, false)]
    [InlineData((byte)0x26, (byte)0, true)]
    [InlineData((byte)0x36, (byte)2, true)]
    public void Connect_will_qos_0_to_2_with_will_flag_is_accepted(byte flags, byte qos, bool retain)
    {
        ConnectPacket connect = Assert.IsType<ConnectPacket>(DecodeSingle(ConnectRaw(flags, Utf8("c"), 60, "MQTT", 4, Str("w/t"), Bin([]))));
        Assert.NotNull(connect.Will);
        Assert.Equal("w/t", connect.Will.Topic);
        Assert.Empty(connect.Will.Payload);
        Assert.Equal(qos, connect.Will.Qos);
        Assert.Equal(retain, connect.Will.Retain);
    }

    [Fact]
    public void Connect_with_will_flag_needs_will_topic_and_message()
    {
        // [MQTT-3.1.2-9]
        DecodeFails(ConnectRaw(0x06, Utf8("c")));
        DecodeFails(ConnectRaw(0x06, Utf8("c"), 60, "MQTT", 4, Str("w")));

        // A will topic is a topic name: no wildcards, not empty.
        DecodeFails(ConnectRaw(0x06, Utf8("c"), 60, "MQTT", 4, Str("w/#"), Bin(Utf8("x"))));
        DecodeFails(ConnectRaw(0x06, Utf8("c"), 60, "MQTT", 4, Str(""), Bin(Utf8("x"))));
    }

    [Fact]
    public void Connect_password_without_user_name_is_malformed()
    {
        // [MQTT-3.1.2-22]
        DecodeFails(ConnectRaw(0x42, Utf8("c"), 60, "MQTT", 4, Bin(Utf8("pw"))));

        // The encoder must not produce it either way round: user name alone is fine.
        ConnectPacket ok = Assert.IsType<ConnectPacket>(DecodeSingle(ConnectRaw(0x82, Utf8("c"), 60, "MQTT", 4, Str("u"))));
        Assert.Equal("u", ok.UserName);
        Assert.Null(ok.Password);
    }

    [Fact]
    public void Connect_with_missing_fields_is_malformed()
    {
        DecodeFails(ConnectRaw(0x82, Utf8("c"))); // user name flag without user name [MQTT-3.1.2-19]
        DecodeFails(ConnectRaw(0xC2, Utf8("c"), 60, "MQTT", 4, Str("u"))); // password flag without password [MQTT-3.1.2-21]
        DecodeFails(Frame(0x10, Str("MQTT"), [0x04, 0x02], U16(60))); // no client identifier
        DecodeFails(Frame(0x10, Str("MQTT"), [0x04])); // no flags
        DecodeFails([0x10, 0x00]);
    }

    // ------------------------------------------------------------------ SUBSCRIBE / UNSUBSCRIBE rules

    [Fact]
    public void Subscribe_without_filters_is_rejected()
    {
        // [MQTT-3.8.3-3]
        DecodeFails(Frame(0x82, U16(1)));
    }

    [Theory]
    [InlineData((byte)0x03)]
    [InlineData((byte)0x04)]
    [InlineData((byte)0x05)]
    [InlineData((byte)0x80)]
    [InlineData((byte)0x81)]
    [InlineData((byte)0xFC)]
    [InlineData((byte)0xFF)]
    public void Subscribe_with_invalid_requested_qos_byte_is_malformed(byte requested)
    {
        // [MQTT-3-8.3-4]: reserved bits non-zero or QoS 3.
        var ex = DecodeFails(Frame(0x82, U16(1), Str("ok"), [0x01], Str("a/b"), [requested]));
        Assert.Equal(DisconnectReason.MalformedPacket, ex.Reason);
    }

    [Fact]
    public void Subscribe_filter_without_requested_qos_is_malformed()
    {
        DecodeFails(Frame(0x82, U16(1), Str("a/b")));
        DecodeFails(Frame(0x82, U16(1), Str("a/b"), [0x00], Str("c")));
    }

    [Theory]
    [InlineData("a/#/b", DisconnectReason.MalformedPacket)] // [MQTT-4.7.1-2]
    [InlineData("a#", DisconnectReason.MalformedPacket)]
    [InlineData("a+", DisconnectReason.MalformedPacket)] // [MQTT-4.7.1-3]
    [InlineData("+a/b", DisconnectReason.MalformedPacket)]
    [InlineData("", DisconnectReason.MalformedPacket)] // [MQTT-4.7.3-1]
    [InlineData("$share/g+/t", DisconnectReason.MalformedPacket)]
    public void Subscribe_and_unsubscribe_with_a_filter_that_is_not_well_formed_fail_to_decode(string filter, DisconnectReason reason)
    {
        Assert.Equal(reason, DecodeFails(Subscribe(4, ("ok/+", 2), (filter, 0))).Reason);
        Assert.Equal(reason, DecodeFails(Frame(0xA2, U16(4), Str("ok/+"), Str(filter))).Reason);
    }

    [Fact]
    public void Subscribe_keeps_well_formed_filters_with_wildcards_and_shares()
    {
        // "$share/g" is a legal 3.1.1 filter (shared subscriptions are 5.0's, §4.8.2): the broker refuses it in the SUBACK.
        SubscribePacket subscribe = Assert.IsType<SubscribePacket>(DecodeSingle(Subscribe(4, ("#", 1), ("+/+", 2), ("a/+/#", 0), ("/", 0), ("$share/g/a/+", 1), ("$share/g", 0))));
        Assert.Equal(new[] { "#", "+/+", "a/+/#", "/", "$share/g/a/+", "$share/g" }, subscribe.Subscriptions.Select(s => s.Filter));
        Assert.Equal(new byte[] { 1, 2, 0, 0, 1, 0 }, subscribe.Subscriptions.Select(s => s.Qos));
    }

    [Fact]
    public void Unsubscribe_without_filters_is_rejected()
    {
        // [MQTT-3.10.3-2]
        DecodeFails(Frame(0xA2, U16(1)));
        DecodeFails(Frame(0xA2, U16(1), [0x00]));
    }

    [Fact]
    public void Packet_id_0_is_rejected_where_an_id_is_required()
    {
        // [MQTT-2.3.1-1]: SUBSCRIBE, UNSUBSCRIBE and PUBLISH with QoS > 0 carry a non-zero identifier.
        DecodeFails(Subscribe(0, ("a", 0)));
        DecodeFails(Unsubscribe(0, "a"));
        DecodeFails(Publish("a", Utf8("x"), 1, 0));
        DecodeFails(Publish("a", Utf8("x"), 2, 0));

        // ...and QoS 0 has no identifier: bytes that look like one are payload.
        PublishPacket qos0 = Assert.IsType<PublishPacket>(DecodeSingle(Frame(0x30, Str("a"), [0x00, 0x00])));
        Assert.Equal(0, qos0.PacketId);
        Assert.Equal(new byte[] { 0, 0 }, qos0.Payload.ToArray());
    }
}
