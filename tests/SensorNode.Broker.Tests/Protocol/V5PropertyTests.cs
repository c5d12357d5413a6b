using System.Buffers;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;
using static SensorNode.Broker.Tests.Protocol.RawFrames;
using static SensorNode.Broker.Tests.Protocol.V5Frames;

namespace SensorNode.Broker.Tests.Protocol;

/// <summary>
/// MQTT 5.0 properties (§2.2.2): the property/packet matrix of Table 2-4, duplicates, value ranges, malformed
/// property lists, Variable Byte Integer length boundaries and User Property order.
/// </summary>
public sealed class V5PropertyTests
{
    // ------------------------------------------------------------------ the spec's matrix, transcribed by hand

    /// <summary>§2.2.2.2 Table 2-4: identifier → the packets it may appear in (transcribed from the spec, not from the codec).</summary>
    private static readonly Dictionary<byte, PropertyContext[]> SpecMatrix = new()
    {
        [0x01] = [PropertyContext.Publish, PropertyContext.Will], // Payload Format Indicator
        [0x02] = [PropertyContext.Publish, PropertyContext.Will], // Message Expiry Interval
        [0x03] = [PropertyContext.Publish, PropertyContext.Will], // Content Type
        [0x08] = [PropertyContext.Publish, PropertyContext.Will], // Response Topic
        [0x09] = [PropertyContext.Publish, PropertyContext.Will], // Correlation Data
        [0x0B] = [PropertyContext.Publish, PropertyContext.Subscribe], // Subscription Identifier
        [0x11] = [PropertyContext.Connect, PropertyContext.ConnAck, PropertyContext.Disconnect], // Session Expiry Interval
        [0x12] = [PropertyContext.ConnAck], // Assigned Client Identifier
        [0x13] = [PropertyContext.ConnAck], // Server Keep Alive
        [0x15] = [PropertyContext.Connect, PropertyContext.ConnAck, PropertyContext.Auth], // Authentication Method
        [0x16] = [PropertyContext.Connect, PropertyContext.ConnAck, PropertyContext.Auth], // Authentication Data
        [0x17] = [PropertyContext.Connect], // Request Problem Information
        [0x18] = [PropertyContext.Will], // Will Delay Interval
        [0x19] = [PropertyContext.Connect], // Request Response Information
        [0x1A] = [PropertyContext.ConnAck], // Response Information
        [0x1C] = [PropertyContext.ConnAck, PropertyContext.Disconnect], // Server Reference
        [0x1F] = [PropertyContext.ConnAck, PropertyContext.PubAck, PropertyContext.SubAck, PropertyContext.UnsubAck, PropertyContext.Disconnect, PropertyContext.Auth], // Reason String
        [0x21] = [PropertyContext.Connect, PropertyContext.ConnAck], // Receive Maximum
        [0x22] = [PropertyContext.Connect, PropertyContext.ConnAck], // Topic Alias Maximum
        [0x23] = [PropertyContext.Publish], // Topic Alias
        [0x24] = [PropertyContext.ConnAck], // Maximum QoS
        [0x25] = [PropertyContext.ConnAck], // Retain Available
        [0x26] = Enum.GetValues<PropertyContext>(), // User Property
        [0x27] = [PropertyContext.Connect, PropertyContext.ConnAck], // Maximum Packet Size
        [0x28] = [PropertyContext.ConnAck], // Wildcard Subscription Available
        [0x29] = [PropertyContext.ConnAck], // Subscription Identifier Available
        [0x2A] = [PropertyContext.ConnAck], // Shared Subscription Available
    };

    /// <summary>One valid encoded instance of each property (identifier + value), built by hand.</summary>
    private static byte[] ValidProperty(byte id) => id switch
    {
        0x01 => [0x01, 0x01],
        0x02 => Concat([0x02], U32(3600)),
        0x03 => Concat([0x03], Str("text/plain")),
        0x08 => Concat([0x08], Str("reply/here")),
        0x09 => Concat([0x09], Bin([0xDE, 0xAD, 0xBE, 0xEF])),
        0x0B => [0x0B, 0x81, 0x01], // Subscription Identifier 129 as a 2-byte Variable Byte Integer
        0x11 => Concat([0x11], U32(120)),
        0x12 => Concat([0x12], Str("auto-1")),
        0x13 => Concat([0x13], U16(30)),
        0x15 => Concat([0x15], Str("SCRAM-SHA-1")),
        // Authentication Data needs an Authentication Method in the same list (§3.1.2.11.10).
        0x16 => Concat([0x15], Str("SCRAM-SHA-1"), [0x16], Bin([1, 2, 3])),
        0x17 => [0x17, 0x00],
        0x18 => Concat([0x18], U32(5)),
        0x19 => [0x19, 0x01],
        0x1A => Concat([0x1A], Str("resp/info")),
        0x1C => Concat([0x1C], Str("other.example")),
        0x1F => Concat([0x1F], Str("because")),
        0x21 => Concat([0x21], U16(20)),
        0x22 => Concat([0x22], U16(10)),
        0x23 => Concat([0x23], U16(7)),
        0x24 => [0x24, 0x01],
        0x25 => [0x25, 0x00],
        0x26 => Concat([0x26], Str("name"), Str("value")),
        0x27 => Concat([0x27], U32(1024)),
        0x28 => [0x28, 0x01],
        0x29 => [0x29, 0x00],
        0x2A => [0x2A, 0x01],
        _ => throw new ArgumentOutOfRangeException(nameof(id)),
    };

    public static TheoryData<byte, PropertyContext> EveryPropertyInEveryContext()
    {
        var data = new TheoryData<byte, PropertyContext>();
        foreach (byte id in SpecMatrix.Keys)
        {
            foreach (PropertyContext context in Enum.GetValues<PropertyContext>())
            {
                data.Add(id, context);
            }
        }

        return data;
    }

    public static TheoryData<byte, PropertyContext> EveryAllowedPlacement()
    {
        var data = new TheoryData<byte, PropertyContext>();
        foreach ((byte id, PropertyContext[] contexts) in SpecMatrix)
        {
            foreach (PropertyContext context in contexts)
            {
                data.Add(id, context);
            }
        }

        return data;
    }

    [Fact]
    public void The_codec_matrix_equals_the_spec_table_2_4()
    {
        Assert.Equal(SpecMatrix.Keys.Order(), MqttPropertyRules.All.Select(id => (byte)id));
        foreach ((byte id, PropertyContext[] contexts) in SpecMatrix)
        {
            foreach (PropertyContext context in Enum.GetValues<PropertyContext>())
            {
                Assert.Equal(contexts.Contains(context), MqttPropertyRules.IsAllowed((PropertyId)id, context));
            }
        }
    }

    /// <summary>
    /// §2.2.2.2 Table 2-4: a property is read where the spec allows it; elsewhere "a Control Packet which contains an
    /// Identifier which is not valid for its packet type ... is a Malformed Packet" (§2.2.2.2).
    /// </summary>
    [Theory]
    [MemberData(nameof(EveryPropertyInEveryContext))]
    public void Property_placement_follows_table_2_4(byte id, PropertyContext context)
    {
        byte[] frame = PacketWithProperties(context, Props(ValidProperty(id)));
        bool allowed = SpecMatrix[id].Contains(context);
        if (allowed)
        {
            MqttProperties? properties = PropertiesOf(Decode(frame, fromServer: SentByServer(context)), context);
            Assert.NotNull(properties);
            Assert.True(properties.Has((PropertyId)id), $"{(PropertyId)id} was not read in {context}");
        }
        else
        {
            MqttProtocolException error = DecodeFails(frame, fromServer: SentByServer(context));
            Assert.Equal(DisconnectReason.MalformedPacket, error.Reason);
        }
    }

    /// <summary>
    /// Every property other than User Property (and Subscription Identifier in a PUBLISH from the server) may appear
    /// at most once: "It is a Protocol Error to include X more than once" (§3.1.2.11 ff.).
    /// </summary>
    [Theory]
    [MemberData(nameof(EveryAllowedPlacement))]
    public void A_repeated_property_is_a_protocol_error_unless_repeatable(byte id, PropertyContext context)
    {
        byte[] one = id == 0x16 ? Concat([0x16], Bin([9])) : ValidProperty(id); // the method is present once already
        byte[] frame = PacketWithProperties(context, Props(ValidProperty(id), one));
        bool repeatable = id == 0x26 || (id == 0x0B && context == PropertyContext.Publish);
        if (repeatable)
        {
            MqttProperties properties = PropertiesOf(Decode(frame, fromServer: SentByServer(context)), context)!;
            Assert.Equal(2, id == 0x26 ? properties.UserProperties!.Count : properties.SubscriptionIdentifiers!.Count);
        }
        else
        {
            Assert.Equal(DisconnectReason.ProtocolError, DecodeFails(frame, fromServer: SentByServer(context)).Reason);
        }
    }

    [Fact]
    public void Subscription_identifier_twice_in_SUBSCRIBE_is_a_protocol_error_3_8_2_1_2()
    {
        byte[] frame = PacketWithProperties(PropertyContext.Subscribe, Props([0x0B, 0x01], [0x0B, 0x02]));
        Assert.Equal(DisconnectReason.ProtocolError, DecodeFails(frame).Reason);
    }

    // ------------------------------------------------------------------ values

    [Theory]
    [InlineData(PropertyContext.Publish, new byte[] { 0x01, 0x02 })] // Payload Format Indicator 2 (§3.3.2.3.2)
    [InlineData(PropertyContext.Will, new byte[] { 0x01, 0xFF })] // Will Payload Format Indicator (§3.1.3.2.3)
    [InlineData(PropertyContext.ConnAck, new byte[] { 0x24, 0x02 })] // Maximum QoS 2 (§3.2.2.3.4)
    [InlineData(PropertyContext.Connect, new byte[] { 0x21, 0x00, 0x00 })] // Receive Maximum 0 (§3.1.2.11.3)
    [InlineData(PropertyContext.ConnAck, new byte[] { 0x21, 0x00, 0x00 })] // Receive Maximum 0 (§3.2.2.3.3)
    [InlineData(PropertyContext.Connect, new byte[] { 0x27, 0x00, 0x00, 0x00, 0x00 })] // Maximum Packet Size 0 (§3.1.2.11.4)
    [InlineData(PropertyContext.ConnAck, new byte[] { 0x27, 0x00, 0x00, 0x00, 0x00 })] // Maximum Packet Size 0 (§3.2.2.3.6)
    [InlineData(PropertyContext.Publish, new byte[] { 0x0B, 0x00 })] // Subscription Identifier 0 (§3.3.2.3.8)
    [InlineData(PropertyContext.Subscribe, new byte[] { 0x0B, 0x00 })] // Subscription Identifier 0 (§3.8.2.1.2)
    [InlineData(PropertyContext.Connect, new byte[] { 0x17, 0x02 })] // Request Problem Information 2 (§3.1.2.11.7)
    [InlineData(PropertyContext.Connect, new byte[] { 0x19, 0x02 })] // Request Response Information 2 (§3.1.2.11.6)
    [InlineData(PropertyContext.ConnAck, new byte[] { 0x25, 0x02 })] // Retain Available 2 (§3.2.2.3.5)
    [InlineData(PropertyContext.ConnAck, new byte[] { 0x28, 0x02 })] // Wildcard Subscription Available 2 (§3.2.2.3.11)
    [InlineData(PropertyContext.ConnAck, new byte[] { 0x29, 0x02 })] // Subscription Identifiers Available 2 (§3.2.2.3.12)
    [InlineData(PropertyContext.ConnAck, new byte[] { 0x2A, 0x02 })] // Shared Subscription Available 2 (§3.2.2.3.13)
    [InlineData(PropertyContext.Publish, new byte[] { 0x08, 0x00, 0x03, (byte)'a', (byte)'/', (byte)'#' })] // Response Topic with a wildcard [MQTT-3.3.2-14]
    [InlineData(PropertyContext.Connect, new byte[] { 0x16, 0x00, 0x01, 0x07 })] // Authentication Data without Method (§3.1.2.11.10)
    [InlineData(PropertyContext.Auth, new byte[] { 0x16, 0x00, 0x01, 0x07 })] // Authentication Data without Method (§3.15.2.2.3)
    public void Out_of_range_values_are_protocol_errors(PropertyContext context, byte[] property)
    {
        byte[] frame = PacketWithProperties(context, Props(property));
        Assert.Equal(DisconnectReason.ProtocolError, DecodeFails(frame, fromServer: SentByServer(context)).Reason);
    }

    [Fact]
    public void Topic_alias_zero_is_topic_alias_invalid()
    {
        // [MQTT-3.3.2-8]: a Topic Alias of 0 is refused with DISCONNECT 0x94 Topic Alias invalid (§3.3.4).
        byte[] frame = PacketWithProperties(PropertyContext.Publish, Props([0x23, 0x00, 0x00]));
        Assert.Equal(DisconnectReason.TopicAliasInvalid, DecodeFails(frame, fromServer: false).Reason);
    }

    [Theory]
    [InlineData(1u, new byte[] { 0x01 })]
    [InlineData(127u, new byte[] { 0x7F })]
    [InlineData(128u, new byte[] { 0x80, 0x01 })]
    [InlineData(16_383u, new byte[] { 0xFF, 0x7F })]
    [InlineData(16_384u, new byte[] { 0x80, 0x80, 0x01 })]
    [InlineData(2_097_151u, new byte[] { 0xFF, 0xFF, 0x7F })]
    [InlineData(2_097_152u, new byte[] { 0x80, 0x80, 0x80, 0x01 })]
    [InlineData(268_435_455u, new byte[] { 0xFF, 0xFF, 0xFF, 0x7F })]
    public void Subscription_identifier_range_1_to_268435455_as_variable_byte_integer(uint value, byte[] encoded)
    {
        byte[] frame = PacketWithProperties(PropertyContext.Subscribe, Props(Concat([0x0B], encoded)));
        var subscribe = Assert.IsType<SubscribePacket>(Decode(frame));
        Assert.Equal([value], subscribe.Properties!.SubscriptionIdentifiers!);
        Assert.Equal(Hex(frame), Hex(MqttPacketWriter.ToArray(subscribe, ProtocolLevel.V500)));
    }

    [Fact]
    public void Subscription_identifier_above_268435455_cannot_be_encoded_and_is_malformed()
    {
        // A fifth Variable Byte Integer byte would be needed (§1.5.5).
        byte[] frame = PacketWithProperties(PropertyContext.Subscribe, Props([0x0B, 0x80, 0x80, 0x80, 0x80, 0x01]));
        Assert.Equal(DisconnectReason.MalformedPacket, DecodeFails(frame).Reason);
        var packet = new SubscribePacket { PacketId = 1, Subscriptions = [new("f", 0)], Properties = new MqttProperties().AddSubscriptionIdentifier(268_435_456) };
        Assert.ThrowsAny<ArgumentException>(() => MqttPacketWriter.ToArray(packet, ProtocolLevel.V500));
    }

    [Theory]
    [InlineData(PropertyId.MessageExpiryInterval, uint.MaxValue)]
    [InlineData(PropertyId.SessionExpiryInterval, uint.MaxValue)]
    [InlineData(PropertyId.MaximumPacketSize, uint.MaxValue)]
    public void Four_byte_integers_are_big_endian_up_to_uint_max(PropertyId id, uint value)
    {
        PropertyContext context = id == PropertyId.MessageExpiryInterval ? PropertyContext.Publish : PropertyContext.Connect;
        byte[] frame = PacketWithProperties(context, Props(Concat([(byte)id], U32(value))));
        MqttProperties p = PropertiesOf(Decode(frame, SentByServer(context)), context)!;
        Assert.Equal(value, id switch
        {
            PropertyId.MessageExpiryInterval => p.MessageExpiryInterval,
            PropertyId.SessionExpiryInterval => p.SessionExpiryInterval,
            _ => p.MaximumPacketSize,
        });
    }

    // ------------------------------------------------------------------ malformed property lists

    public static TheoryData<string, byte[]> MalformedPropertyLists() => new()
    {
        { "property length runs past the packet", Frame(0x40, U16(1), [0x00], [0x05], [0x1F, 0x00]) },
        { "string runs past the property length", Frame(0x40, U16(1), [0x00], [0x04], [0x1F, 0x00, 0x05, (byte)'a'], Utf8("bcdef")) },
        { "two-byte integer cut by the property length", Frame(0x20, [0, 0], [0x02], [0x21, 0x00], [0x01]) },
        { "four-byte integer cut by the property length", Frame(0x20, [0, 0], [0x03], [0x11, 0x00, 0x00], [0x00, 0x01]) },
        { "user property value missing", Frame(0x40, U16(1), [0x00], Props([0x26], Str("k"))) },
        { "undefined property identifier 0x00", Frame(0x40, U16(1), [0x00], Props([0x00, 0x00])) },
        { "undefined property identifier 0x04", Frame(0x40, U16(1), [0x00], Props([0x04, 0x00])) },
        { "undefined property identifier 0x2B", Frame(0x40, U16(1), [0x00], Props([0x2B, 0x00])) },
        { "property length longer than 4 bytes", Frame(0x40, U16(1), [0x00], [0x80, 0x80, 0x80, 0x80, 0x01]) },
        { "property length not minimal [MQTT-1.5.5-1]", Frame(0x40, U16(1), [0x00], [0x80, 0x00]) },
        { "property length cut off", Frame(0x40, U16(1), [0x00], [0x80]) },
        { "subscription identifier cut off", Frame(0x82, U16(1), Props([0x0B, 0x80]), Str("f"), [0]) },
        { "invalid UTF-8 in Reason String [MQTT-1.5.4-1]", Frame(0x40, U16(1), [0x00], Props([0x1F], Bin([0xC0, 0x80]))) },
        { "U+0000 in Content Type [MQTT-1.5.4-2]", Frame(0x30, Str("t"), Props([0x03], Bin([(byte)'a', 0x00])), Utf8("x")) },
        { "surrogate in Response Topic [MQTT-1.5.4-1]", Frame(0x30, Str("t"), Props([0x08], Bin([0xED, 0xA0, 0x80])), Utf8("x")) },
        { "invalid UTF-8 in User Property name [MQTT-1.5.7-1]", Frame(0x40, U16(1), [0x00], Props([0x26], Bin([0xFF]), Str("v"))) },
        { "invalid UTF-8 in User Property value [MQTT-1.5.7-1]", Frame(0x40, U16(1), [0x00], Props([0x26], Str("k"), Bin([0xFE]))) },
        { "invalid UTF-8 in Will Content Type", PacketWithProperties(PropertyContext.Will, Props([0x03], Bin([0xC3]))) },
    };

    [Theory]
    [MemberData(nameof(MalformedPropertyLists))]
    public void Malformed_property_lists_are_malformed_packets(string why, byte[] frame)
    {
        MqttProtocolException error = DecodeFails(frame, fromServer: true);
        Assert.True(error.Reason == DisconnectReason.MalformedPacket, $"{why}: got {error.Reason} ({error.Message})");
    }

    // ------------------------------------------------------------------ Variable Byte Integer length boundaries

    /// <summary>A PUBACK whose property list holds exactly <paramref name="contentLength"/> bytes of User Properties.</summary>
    private static MqttProperties PropertiesOfSize(int contentLength)
    {
        var properties = new MqttProperties();
        int remaining = contentLength;
        int n = 0;
        while (remaining > 0)
        {
            // One pair "kN" = "vvv…" takes 1 + (2 + 1) + (2 + v) = 6 + v bytes; keep every piece at least 6 bytes.
            int piece = remaining > 65_541 ? Math.Min(65_000, remaining - 6) : remaining;
            properties.AddUserProperty("k", new string((char)('a' + (n++ % 26)), piece - 6));
            remaining -= piece;
        }

        return properties;
    }

    [Theory]
    [InlineData(6, new byte[] { 0x06 })]
    [InlineData(127, new byte[] { 0x7F })]
    [InlineData(128, new byte[] { 0x80, 0x01 })]
    [InlineData(16_383, new byte[] { 0xFF, 0x7F })]
    [InlineData(16_384, new byte[] { 0x80, 0x80, 0x01 })]
    [InlineData(2_097_151, new byte[] { 0xFF, 0xFF, 0x7F })]
    [InlineData(2_097_152, new byte[] { 0x80, 0x80, 0x80, 0x01 })]
    public void Property_length_variable_byte_integer_boundaries(int contentLength, byte[] lengthBytes)
    {
        MqttProperties properties = PropertiesOfSize(contentLength);
        Assert.Equal(contentLength, MqttPropertiesWriter.MeasureContent(properties));
        Assert.Equal(lengthBytes.Length + contentLength, MqttPropertiesWriter.Measure(properties));

        var packet = new PacketIdPacket(PacketType.PubAck, 0x1234) { ReasonCode = ReasonCode.NoMatchingSubscribers, Properties = properties };
        byte[] wire = MqttPacketWriter.ToArray(packet, ProtocolLevel.V500);

        // Fixed header, Remaining Length, packet id, reason code, then the property length under test.
        int remaining = 3 + lengthBytes.Length + contentLength;
        int offset = 1 + RemainingLength(remaining).Length;
        Assert.Equal(Hex(Concat([0x40], RemainingLength(remaining), [0x12, 0x34, 0x10], lengthBytes)), Hex(wire[..(offset + 3 + lengthBytes.Length)]));
        Assert.Equal(wire.Length, offset + remaining);

        var decoded = Assert.IsType<PacketIdPacket>(Decode(wire));
        Assert.Equal(properties.ToString(), decoded.Properties!.ToString());
    }

    // ------------------------------------------------------------------ User Property order [MQTT-3.3.2-18]

    [Fact]
    public void User_properties_keep_their_order_and_repeated_names()
    {
        (string, string)[] pairs = [("z", "1"), ("a", "2"), ("z", "3"), ("", ""), ("ключ", "значение 😀"), ("a", "2")];
        byte[] list = Props([.. pairs.Select(p => Concat([0x26], Str(p.Item1), Str(p.Item2)))]);
        byte[] frame = Frame(0x30, Str("t"), list, Utf8("x"));
        var publish = Assert.IsType<PublishPacket>(Decode(frame));
        Assert.Equal(pairs.Select(p => new MqttUserProperty(p.Item1, p.Item2)), publish.Properties!.UserProperties!);
        Assert.Equal(Hex(frame), Hex(MqttPacketWriter.ToArray(publish, ProtocolLevel.V500)));
    }

    // ------------------------------------------------------------------ reader/writer directly

    [Fact]
    public void Empty_property_list_is_a_single_zero_byte_MQTT_2_2_2_1()
    {
        var buffer = new ArrayBufferWriter<byte>();
        MqttPropertiesWriter.Write(buffer, null);
        MqttPropertiesWriter.Write(buffer, new MqttProperties());
        Assert.Equal("0000", Hex(buffer.WrittenSpan.ToArray()));

        var reader = new MqttSpanReader([0x00, 0xAB]);
        Assert.Null(MqttPropertiesReader.Read(ref reader, PropertyContext.Publish));
        Assert.Equal(1, reader.Remaining);
    }

    [Fact]
    public void Reader_stops_at_the_property_length_and_leaves_the_rest()
    {
        byte[] data = Concat(Props([0x1F], Str("r")), [0xAA, 0xBB]);
        var reader = new MqttSpanReader(data);
        MqttProperties p = MqttPropertiesReader.Read(ref reader, PropertyContext.PubAck)!;
        Assert.Equal("r", p.ReasonString);
        Assert.Equal("AABB", Hex(reader.Rest.ToArray()));
    }

    [Fact]
    public void Writer_refuses_properties_the_packet_cannot_carry()
    {
        var connAck = new ConnAckPacket(false, ReasonCode.Success, new MqttProperties { TopicAlias = 3 });
        Assert.ThrowsAny<ArgumentException>(() => MqttPacketWriter.ToArray(connAck, ProtocolLevel.V500));
        var ack = new PacketIdPacket(PacketType.PubAck, 1) { Properties = new MqttProperties { SessionExpiryInterval = 1 } };
        Assert.ThrowsAny<ArgumentException>(() => MqttPacketWriter.ToArray(ack, ProtocolLevel.V500));
        Assert.ThrowsAny<ArgumentException>(() => MqttPropertiesWriter.Validate(new MqttProperties { MaximumQos = 2 }, PropertyContext.ConnAck));
        Assert.ThrowsAny<ArgumentException>(() => MqttPropertiesWriter.Validate(new MqttProperties { ReceiveMaximum = 0 }, PropertyContext.Connect));
        Assert.ThrowsAny<ArgumentException>(() => MqttPropertiesWriter.Validate(new MqttProperties { AuthenticationData = [1] }, PropertyContext.Auth));
    }
}
