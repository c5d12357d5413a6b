using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;

namespace SensorNode.Broker.Protocol;

/// <summary>
/// Decodes packet bodies (MQTT 3.1 / 3.1.1 here, 5.0 in MqttPacketDecoder.V5.cs). Every rule breach throws
/// <see cref="MqttProtocolException"/>, which closes the connection.
/// </summary>
public static partial class MqttPacketDecoder
{
    public static PacketType TypeOf(byte header) => (PacketType)(header >> 4);

    /// <summary>
    /// Fixed header flag rules [MQTT-2.2.2-1] [MQTT-2.2.2-2]: PUBREL, SUBSCRIBE and UNSUBSCRIBE carry 0010,
    /// PUBLISH carries DUP/QoS/RETAIN, every other packet 0000. Type 0 is reserved. MQTT 3.1 (<paramref name="level"/>
    /// <see cref="ProtocolLevel.V310"/>) gave those three packets a DUP flag as well, set when they are sent again.
    /// </summary>
    public static void CheckFixedHeader(byte header, ProtocolLevel level = ProtocolLevel.V311)
    {
        PacketType type = TypeOf(header);
        int flags = header & 0x0F;
        switch (type)
        {
            case 0:
                throw MqttProtocolException.Malformed("reserved packet type 0");
            case PacketType.Publish:
                return;
            case PacketType.PubRel:
            case PacketType.Subscribe:
            case PacketType.Unsubscribe:
                if (flags != 0x02 && !(level == ProtocolLevel.V310 && flags == 0x0A))
                {
                    throw MqttProtocolException.Malformed($"{type} must have fixed header flags 0010");
                }

                return;
            default:
                if (flags != 0)
                {
                    throw MqttProtocolException.Malformed($"{type} must have fixed header flags 0000");
                }

                return;
        }
    }

    /// <summary>Decodes any packet into its object form.</summary>
    public static MqttPacket Decode(byte header, ReadOnlySpan<byte> body)
    {
        CheckFixedHeader(header);
        PacketType type = TypeOf(header);
        switch (type)
        {
            case PacketType.Connect:
                return ReadConnect(body);
            case PacketType.ConnAck:
                return ReadConnAck(body);
            case PacketType.Publish:
                {
                    PublishView view = ReadPublish(header, body);
                    return new PublishPacket
                    {
                        Topic = MqttUtf8.Decode(view.Topic),
                        Payload = view.Payload.ToArray(),
                        Qos = view.Qos,
                        Retain = view.Retain,
                        Dup = view.Dup,
                        PacketId = view.PacketId,
                    };
                }

            case PacketType.PubAck:
            case PacketType.PubRec:
            case PacketType.PubRel:
            case PacketType.PubComp:
            case PacketType.UnsubAck:
                return new PacketIdPacket(type, ReadPacketId(type, body));
            case PacketType.Subscribe:
                return ReadSubscribe(body);
            case PacketType.SubAck:
                return ReadSubAck(body);
            case PacketType.Unsubscribe:
                return ReadUnsubscribe(body);
            case PacketType.PingReq:
                ExpectEmpty(type, body);
                return EmptyPacket.PingReq;
            case PacketType.PingResp:
                ExpectEmpty(type, body);
                return EmptyPacket.PingResp;
            case PacketType.Disconnect:
                ExpectEmpty(type, body);
                return EmptyPacket.Disconnect;
            default:
                throw MqttProtocolException.Malformed($"packet type {(int)type} is not defined in MQTT 3.1.1");
        }
    }

    public static void ExpectEmpty(PacketType type, ReadOnlySpan<byte> body)
    {
        if (body.Length != 0)
        {
            throw MqttProtocolException.Malformed($"{type} must have remaining length 0");
        }
    }

    /// <summary>PUBACK/PUBREC/PUBREL/PUBCOMP/UNSUBACK: remaining length exactly 2 (§3.4.1 ff.).</summary>
    public static ushort ReadPacketId(PacketType type, ReadOnlySpan<byte> body)
    {
        if (body.Length != 2)
        {
            throw MqttProtocolException.Malformed($"{type} must have remaining length 2");
        }

        return (ushort)((body[0] << 8) | body[1]);
    }

    /// <summary>
    /// Parses a PUBLISH in place (§3.3). QoS 3 is malformed [MQTT-3.3.1-4]; a wildcard in the topic
    /// [MQTT-3.3.2-2] or an empty topic [MQTT-4.7.3-1] is a protocol error; QoS 1/2 need a non-zero
    /// packet identifier [MQTT-2.3.1-1]; DUP must be 0 for QoS 0 [MQTT-3.3.1-2].
    /// </summary>
    public static PublishView ReadPublish(byte header, ReadOnlySpan<byte> body) => ReadPublish(header, body, v5: false, fromServer: false, out _);

    /// <summary>
    /// Both versions: in 5.0 (§3.3.2) the properties follow the packet identifier, and an empty topic name is
    /// allowed only with a Topic Alias (§3.3.2.1; the caller resolves the alias). A PUBLISH from a client must
    /// not carry a Subscription Identifier [MQTT-3.3.4-6].
    /// </summary>
    private static PublishView ReadPublish(byte header, ReadOnlySpan<byte> body, bool v5, bool fromServer, out MqttProperties? properties)
    {
        properties = null;
        byte qos = (byte)((header >> 1) & 0x03);
        bool dup = (header & 0x08) != 0;
        bool retain = (header & 0x01) != 0;
        if (qos == 3)
        {
            throw MqttProtocolException.Malformed("PUBLISH with QoS 3 [MQTT-3.3.1-4]");
        }

        if (dup && qos == 0)
        {
            throw MqttProtocolException.ProtocolError("PUBLISH with QoS 0 must not set DUP [MQTT-3.3.1-2]");
        }

        var reader = new MqttSpanReader(body);
        ReadOnlySpan<byte> topic = reader.ReadUtf8("topic name");
        if (topic.IndexOfAny(TopicRules.SingleLevelWildcard, TopicRules.MultiLevelWildcard) >= 0 || (topic.IsEmpty && !v5))
        {
            throw new MqttProtocolException(DisconnectReason.TopicNameInvalid, "PUBLISH topic is empty or contains a wildcard [MQTT-3.3.2-2] [MQTT-4.7.3-1]");
        }

        ushort packetId = 0;
        if (qos > 0)
        {
            packetId = reader.ReadUInt16();
            if (packetId == 0)
            {
                throw MqttProtocolException.ProtocolError("PUBLISH with QoS > 0 needs a non-zero packet identifier [MQTT-2.3.1-1]");
            }
        }

        if (v5)
        {
            properties = MqttPropertiesReader.Read(ref reader, PropertyContext.Publish);
            if (topic.IsEmpty && properties?.TopicAlias is null)
            {
                throw MqttProtocolException.ProtocolError("PUBLISH with an empty topic name and no Topic Alias (§3.3.2.1)");
            }

            if (!fromServer && properties?.SubscriptionIdentifiers is not null)
            {
                throw MqttProtocolException.ProtocolError("a PUBLISH sent from a Client to a Server must not contain a Subscription Identifier [MQTT-3.3.4-6]");
            }
        }

        return new PublishView(qos, retain, dup, topic, packetId, reader.Rest);
    }

    /// <summary>Reads the protocol name and level, which decide how the rest of CONNECT is read and answered.</summary>
    public static (string Name, byte Level) ReadConnectProtocol(ReadOnlySpan<byte> body)
    {
        var reader = new MqttSpanReader(body);
        string name = ReadProtocolName(ref reader);
        byte level = reader.ReadByte();
        return (name, level);
    }

    /// <summary>The two names of MQTT come back as the same string every time, not a new one per CONNECT.</summary>
    private static string ReadProtocolName(ref MqttSpanReader reader)
    {
        ReadOnlySpan<byte> name = reader.ReadUtf8("protocol name");
        return name.SequenceEqual("MQTT"u8) ? "MQTT" : name.SequenceEqual("MQIsdp"u8) ? "MQIsdp" : MqttUtf8.Decode(name);
    }

    /// <summary>
    /// CONNECT of MQTT 3.1, 3.1.1 (§3.1) or, when the protocol level byte is 5, MQTT 5.0 (5.0 §3.1). A 3.1 or 3.1.1
    /// level with the top bit set (0x83, 0x84) is a Mosquitto-style bridge (<see cref="ConnectPacket.IsBridge"/>).
    /// </summary>
    public static ConnectPacket ReadConnect(ReadOnlySpan<byte> body)
    {
        var reader = new MqttSpanReader(body);
        string name = ReadProtocolName(ref reader);
        byte level = reader.ReadByte();
        bool bridge = level is 0x83 or 0x84;
        level &= 0x7F;
        bool v5 = level == (byte)ProtocolLevel.V500;
        byte flags = reader.ReadByte();
        if ((flags & 0x01) != 0)
        {
            throw MqttProtocolException.Malformed("CONNECT reserved flag must be 0 [MQTT-3.1.2-3]");
        }

        bool cleanSession = (flags & 0x02) != 0;
        bool willFlag = (flags & 0x04) != 0;
        byte willQos = (byte)((flags >> 3) & 0x03);
        bool willRetain = (flags & 0x20) != 0;
        bool passwordFlag = (flags & 0x40) != 0;
        bool userNameFlag = (flags & 0x80) != 0;

        if (!willFlag && (willQos != 0 || willRetain))
        {
            throw MqttProtocolException.Malformed("Will QoS and Will Retain must be 0 without the Will Flag [MQTT-3.1.2-11] [MQTT-3.1.2-13] [MQTT-3.1.2-15]");
        }

        if (willQos == 3)
        {
            throw MqttProtocolException.Malformed("Will QoS 3 [MQTT-3.1.2-14]");
        }

        // 3.1.1 forbids a password without a user name [MQTT-3.1.2-22]; 5.0 allows it (§3.1.2.9).
        if (!v5 && !userNameFlag && passwordFlag)
        {
            throw MqttProtocolException.Malformed("password flag set without user name flag [MQTT-3.1.2-22]");
        }

        ushort keepAlive = reader.ReadUInt16();
        MqttProperties? properties = v5 ? MqttPropertiesReader.Read(ref reader, PropertyContext.Connect) : null;
        string clientId = reader.ReadString("client identifier");

        WillMessage? will = null;
        if (willFlag)
        {
            MqttProperties? willProperties = v5 ? MqttPropertiesReader.Read(ref reader, PropertyContext.Will) : null;
            ReadOnlySpan<byte> willTopic = reader.ReadUtf8("will topic");
            if (!TopicRules.IsValidTopicName(willTopic))
            {
                throw new MqttProtocolException(DisconnectReason.TopicNameInvalid, "will topic is empty or contains a wildcard");
            }

            byte[] willPayload = reader.ReadBinary().ToArray();
            will = new WillMessage { Topic = MqttUtf8.Decode(willTopic), Payload = willPayload, Qos = willQos, Retain = willRetain, Properties = willProperties };
        }

        string? userName = userNameFlag ? reader.ReadString("user name") : null;
        byte[]? password = passwordFlag ? reader.ReadBinary().ToArray() : null;
        if (reader.Remaining != 0)
        {
            throw MqttProtocolException.Malformed("CONNECT has bytes after its payload");
        }

        return new ConnectPacket
        {
            ProtocolName = name,
            ProtocolLevel = (ProtocolLevel)level,
            IsBridge = bridge,
            CleanSession = cleanSession,
            KeepAliveSeconds = keepAlive,
            ClientId = clientId,
            Will = will,
            UserName = userName,
            Password = password,
            Properties = properties,
        };
    }

    public static ConnAckPacket ReadConnAck(ReadOnlySpan<byte> body)
    {
        if (body.Length != 2)
        {
            throw MqttProtocolException.Malformed("CONNACK must have remaining length 2");
        }

        if ((body[0] & 0xFE) != 0)
        {
            throw MqttProtocolException.Malformed("CONNACK reserved flags must be 0");
        }

        return new ConnAckPacket((body[0] & 0x01) != 0, (ConnectReturnCode)body[1]);
    }

    /// <summary>
    /// SUBSCRIBE (§3.8): at least one filter [MQTT-3.8.3-3], each well formed (<see cref="ReadTopicFilter"/>); the
    /// reserved bits of each requested QoS byte are 0 and QoS 3 is malformed [MQTT-3-8.3-4].
    /// </summary>
    public static SubscribePacket ReadSubscribe(ReadOnlySpan<byte> body)
    {
        var reader = new MqttSpanReader(body);
        ushort packetId = ReadNonZeroPacketId(ref reader, "SUBSCRIBE");
        var subscriptions = new List<TopicSubscription>();
        while (reader.Remaining > 0)
        {
            string filter = ReadTopicFilter(ref reader, "SUBSCRIBE");
            byte options = reader.ReadByte();
            if ((options & 0xFC) != 0 || (options & 0x03) == 3)
            {
                throw MqttProtocolException.Malformed("SUBSCRIBE requested QoS byte is invalid [MQTT-3-8.3-4]");
            }

            subscriptions.Add(new TopicSubscription(filter, options));
        }

        if (subscriptions.Count == 0)
        {
            throw MqttProtocolException.ProtocolError("SUBSCRIBE without a topic filter [MQTT-3.8.3-3]");
        }

        return new SubscribePacket { PacketId = packetId, Subscriptions = subscriptions };
    }

    public static SubAckPacket ReadSubAck(ReadOnlySpan<byte> body)
    {
        var reader = new MqttSpanReader(body);
        ushort packetId = reader.ReadUInt16();
        if (reader.Remaining == 0)
        {
            throw MqttProtocolException.Malformed("SUBACK without return codes");
        }

        return new SubAckPacket(packetId, reader.Rest.ToArray());
    }

    /// <summary>UNSUBSCRIBE (§3.10): at least one filter [MQTT-3.10.3-2], each well formed (<see cref="ReadTopicFilter"/>).</summary>
    public static UnsubscribePacket ReadUnsubscribe(ReadOnlySpan<byte> body)
    {
        var reader = new MqttSpanReader(body);
        ushort packetId = ReadNonZeroPacketId(ref reader, "UNSUBSCRIBE");
        var filters = new List<string>();
        while (reader.Remaining > 0)
        {
            filters.Add(ReadTopicFilter(ref reader, "UNSUBSCRIBE"));
        }

        if (filters.Count == 0)
        {
            throw MqttProtocolException.ProtocolError("UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]");
        }

        return new UnsubscribePacket { PacketId = packetId, Filters = filters };
    }

    /// <summary>
    /// A SUBSCRIBE or UNSUBSCRIBE topic filter. An empty one [MQTT-4.7.3-1] or a wildcard out of place [MQTT-4.7.1-2]
    /// [MQTT-4.7.1-3] makes the packet malformed (the spec names no code for either; Mosquitto's is 0x81). For 5.0 (<paramref name="shared"/>), so is a Shared
    /// Subscription without a ShareName or filter, or with a wildcard in its ShareName, a Protocol Error [MQTT-4.8.2-1]
    /// [MQTT-4.8.2-2]; for 3.1.1 such a filter is legal, and the broker refuses it in the SUBACK instead. Each closes the
    /// connection (3.1.1 §4.8, 5.0 §4.13), as Mosquitto does: the SUBACK's 0x8F (Topic Filter invalid) is for a filter
    /// that is correctly formed but not allowed, such as one over the broker's length or level limits.
    /// </summary>
    private static string ReadTopicFilter(ref MqttSpanReader reader, string packet, bool shared = false)
    {
        ReadOnlySpan<byte> filter = reader.ReadUtf8("topic filter");
        if (filter.Length == 0)
        {
            throw MqttProtocolException.Malformed($"{packet} with an empty topic filter [MQTT-4.7.3-1]");
        }

        // The ShareName is judged first: "$share/g+/t" is a bad ShareName, not a misplaced wildcard.
        if (shared && filter.StartsWith(TopicRules.SharedPrefix) && !TopicRules.TrySplitShared(filter, out _))
        {
            throw MqttProtocolException.ProtocolError($"{packet} shared subscription '{Shorten(filter)}' needs a ShareName without wildcards and a topic filter [MQTT-4.8.2-1] [MQTT-4.8.2-2]");
        }

        if (!TopicRules.IsValidTopicFilter(filter))
        {
            throw MqttProtocolException.Malformed($"{packet} topic filter '{Shorten(filter)}' has a wildcard out of place [MQTT-4.7.1-2] [MQTT-4.7.1-3]");
        }

        return MqttUtf8.Decode(filter);
    }

    /// <summary>A filter as a log line shows it: at most 128 characters of what may be 64 KB.</summary>
    private static string Shorten(ReadOnlySpan<byte> filter) =>
        filter.Length <= 128 ? MqttUtf8.Decode(filter) : System.Text.Encoding.UTF8.GetString(filter[..128]) + "…";

    /// <summary>A SUBSCRIBE's or UNSUBSCRIBE's packet identifier; 0 makes the packet malformed, as Mosquitto judges it.</summary>
    private static ushort ReadNonZeroPacketId(ref MqttSpanReader reader, string packet)
    {
        ushort packetId = reader.ReadUInt16();
        if (packetId == 0)
        {
            throw MqttProtocolException.Malformed($"{packet} needs a non-zero packet identifier [MQTT-2.3.1-1]");
        }

        return packetId;
    }
}
