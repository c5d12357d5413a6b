using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;

namespace SensorNode.Broker.Protocol;

/// <summary>
/// MQTT 5.0 decoding. Malformed Packet for what cannot be parsed (overruns, reserved bits, bad Variable Byte
/// Integers, bad UTF-8); Protocol Error for parsed data the spec forbids (properties out of place or repeated,
/// values out of range, Reason Codes not listed for the packet).
/// </summary>
public static partial class MqttPacketDecoder
{
    /// <summary>
    /// Decodes any packet of a connection at <paramref name="level"/> as received by a server (from a client).
    /// 3.1/3.1.1 levels give the same result as <see cref="Decode(byte, ReadOnlySpan{byte})"/>.
    /// </summary>
    public static MqttPacket Decode(byte header, ReadOnlySpan<byte> body, ProtocolLevel level) => Decode(header, body, level, fromServer: false);

    /// <summary>
    /// Decodes any packet; <paramref name="fromServer"/> tells which side sent it, which matters for PUBLISH
    /// (only a server may send Subscription Identifiers [MQTT-3.3.4-6]) and DISCONNECT (only a client may send
    /// Session Expiry Interval [MQTT-3.14.2-2]).
    /// </summary>
    public static MqttPacket Decode(byte header, ReadOnlySpan<byte> body, ProtocolLevel level, bool fromServer)
    {
        if (level != ProtocolLevel.V500)
        {
            return Decode(header, body);
        }

        CheckFixedHeader(header);
        PacketType type = TypeOf(header);
        switch (type)
        {
            case PacketType.Connect:
                return ReadConnect(body);
            case PacketType.ConnAck:
                return ReadConnAck(body, level);
            case PacketType.Publish:
                {
                    PublishView view = ReadPublish(header, body, level, fromServer, out MqttProperties? properties);
                    return new PublishPacket
                    {
                        Topic = MqttUtf8.Decode(view.Topic),
                        Payload = view.Payload.ToArray(),
                        Qos = view.Qos,
                        Retain = view.Retain,
                        Dup = view.Dup,
                        PacketId = view.PacketId,
                        Properties = properties,
                    };
                }

            case PacketType.PubAck:
            case PacketType.PubRec:
            case PacketType.PubRel:
            case PacketType.PubComp:
                {
                    ushort packetId = ReadPacketId(type, body, level, out ReasonCode reason, out MqttProperties? properties);
                    return new PacketIdPacket(type, packetId) { ReasonCode = reason, Properties = properties };
                }

            case PacketType.Subscribe:
                return ReadSubscribe(body, level);
            case PacketType.SubAck:
                return ReadSubAck(body, level);
            case PacketType.Unsubscribe:
                return ReadUnsubscribe(body, level);
            case PacketType.UnsubAck:
                return ReadUnsubAck(body);
            case PacketType.PingReq:
                ExpectEmpty(type, body);
                return EmptyPacket.PingReq;
            case PacketType.PingResp:
                ExpectEmpty(type, body);
                return EmptyPacket.PingResp;
            case PacketType.Disconnect:
                return ReadDisconnect(body, fromServer);
            case PacketType.Auth:
                return ReadAuth(body);
            default:
                throw MqttProtocolException.Malformed($"packet type {(int)type} is not defined in MQTT 5.0");
        }
    }

    /// <summary>CONNACK; 5.0 (§3.2): flags, Reason Code (Table 3-1 [MQTT-3.2.2-8]), properties.</summary>
    public static ConnAckPacket ReadConnAck(ReadOnlySpan<byte> body, ProtocolLevel level)
    {
        if (level != ProtocolLevel.V500)
        {
            return ReadConnAck(body);
        }

        var reader = new MqttSpanReader(body);
        byte flags = reader.ReadByte();
        if ((flags & 0xFE) != 0)
        {
            throw MqttProtocolException.Malformed("CONNACK reserved flags must be 0 [MQTT-3.2.2-1]");
        }

        ReasonCode reason = ReadReasonCode(ref reader, PacketType.ConnAck, "[MQTT-3.2.2-8]");
        bool sessionPresent = (flags & 0x01) != 0;
        if (sessionPresent && reason != ReasonCode.Success)
        {
            throw MqttProtocolException.ProtocolError("CONNACK with a non-zero Reason Code must have Session Present 0 [MQTT-3.2.2-6]");
        }

        MqttProperties? properties = MqttPropertiesReader.Read(ref reader, PropertyContext.ConnAck);
        ExpectEnd(ref reader, "CONNACK");
        return new ConnAckPacket(sessionPresent, reason, properties);
    }

    /// <summary>PUBLISH received by a server (from a client): see <see cref="ReadPublish(byte, ReadOnlySpan{byte}, ProtocolLevel, bool, out MqttProperties?)"/>.</summary>
    public static PublishView ReadPublish(byte header, ReadOnlySpan<byte> body, ProtocolLevel level, out MqttProperties? properties) =>
        ReadPublish(header, body, level, fromServer: false, out properties);

    /// <summary>
    /// Parses a PUBLISH in place; for 5.0 (§3.3.2) the properties follow the packet identifier. An empty topic
    /// name is allowed only with a Topic Alias (§3.3.2.1; the caller resolves the alias); otherwise it is a
    /// Protocol Error. A PUBLISH from a client must not carry a Subscription Identifier [MQTT-3.3.4-6].
    /// For 3.1/3.1.1 this is <see cref="ReadPublish(byte, ReadOnlySpan{byte})"/> and the properties are null.
    /// </summary>
    public static PublishView ReadPublish(byte header, ReadOnlySpan<byte> body, ProtocolLevel level, bool fromServer, out MqttProperties? properties) =>
        ReadPublish(header, body, level == ProtocolLevel.V500, fromServer, out properties);

    /// <summary>
    /// PUBACK, PUBREC, PUBREL, PUBCOMP without allocating. 5.0 (§3.4.2): remaining length 2 = Success and no
    /// properties; 3 = Reason Code only; more = Reason Code and properties. The Reason Code must be one of the
    /// packet's [MQTT-3.4.2-1] [MQTT-3.5.2-1] [MQTT-3.6.2-1] [MQTT-3.7.2-1]. For 3.1/3.1.1 the remaining length is 2.
    /// </summary>
    public static ushort ReadPacketId(PacketType type, ReadOnlySpan<byte> body, ProtocolLevel level, out ReasonCode reasonCode, out MqttProperties? properties)
    {
        reasonCode = ReasonCode.Success;
        properties = null;
        if (level != ProtocolLevel.V500 || type == PacketType.UnsubAck)
        {
            return ReadPacketId(type, body);
        }

        if (body.Length < 2)
        {
            throw MqttProtocolException.Malformed($"{type} must have remaining length 2 or more");
        }

        var reader = new MqttSpanReader(body);
        ushort packetId = reader.ReadUInt16();
        if (reader.Remaining == 0)
        {
            return packetId;
        }

        string statement = type switch
        {
            PacketType.PubAck => "[MQTT-3.4.2-1]",
            PacketType.PubRec => "[MQTT-3.5.2-1]",
            PacketType.PubRel => "[MQTT-3.6.2-1]",
            _ => "[MQTT-3.7.2-1]",
        };
        reasonCode = ReadReasonCode(ref reader, type, statement);
        if (reader.Remaining == 0)
        {
            return packetId;
        }

        properties = MqttPropertiesReader.Read(ref reader, PropertyContext.PubAck);
        ExpectEnd(ref reader, type.ToString());
        return packetId;
    }

    /// <summary>
    /// SUBSCRIBE; 5.0 (§3.8): properties, then filter/options pairs. Reserved option bits 6–7 are Malformed
    /// [MQTT-3.8.3-5]; QoS 3 and Retain Handling 3 are Protocol Errors (§3.8.3.1); No Local on a Shared
    /// Subscription is a Protocol Error [MQTT-3.8.3-4]; at least one pair [MQTT-3.8.3-2].
    /// </summary>
    public static SubscribePacket ReadSubscribe(ReadOnlySpan<byte> body, ProtocolLevel level)
    {
        if (level != ProtocolLevel.V500)
        {
            return ReadSubscribe(body);
        }

        var reader = new MqttSpanReader(body);
        ushort packetId = ReadNonZeroPacketId(ref reader, "SUBSCRIBE");
        MqttProperties? properties = MqttPropertiesReader.Read(ref reader, PropertyContext.Subscribe);
        var subscriptions = new List<TopicSubscription>();
        while (reader.Remaining > 0)
        {
            string filter = ReadTopicFilter(ref reader, "SUBSCRIBE", shared: true);
            byte options = reader.ReadByte();
            if ((options & 0xC0) != 0)
            {
                throw MqttProtocolException.Malformed("SUBSCRIBE Subscription Options reserved bits 6-7 must be 0 [MQTT-3.8.3-5]");
            }

            var subscription = TopicSubscription.FromOptions(filter, options);
            if (subscription.Qos == 3)
            {
                throw MqttProtocolException.ProtocolError("SUBSCRIBE Maximum QoS 3 (§3.8.3.1)");
            }

            if (subscription.RetainHandling == 3)
            {
                throw MqttProtocolException.ProtocolError("SUBSCRIBE Retain Handling 3 (§3.8.3.1)");
            }

            if (subscription.NoLocal && subscription.IsShared)
            {
                throw MqttProtocolException.ProtocolError("No Local set on a Shared Subscription [MQTT-3.8.3-4]");
            }

            subscriptions.Add(subscription);
        }

        if (subscriptions.Count == 0)
        {
            throw MqttProtocolException.ProtocolError("SUBSCRIBE without a topic filter [MQTT-3.8.3-2]");
        }

        return new SubscribePacket { PacketId = packetId, Subscriptions = subscriptions, Properties = properties };
    }

    /// <summary>SUBACK; 5.0 (§3.9): properties, then one SUBACK Reason Code per filter [MQTT-3.9.3-2].</summary>
    public static SubAckPacket ReadSubAck(ReadOnlySpan<byte> body, ProtocolLevel level)
    {
        if (level != ProtocolLevel.V500)
        {
            return ReadSubAck(body);
        }

        var reader = new MqttSpanReader(body);
        ushort packetId = reader.ReadUInt16();
        MqttProperties? properties = MqttPropertiesReader.Read(ref reader, PropertyContext.SubAck);
        if (reader.Remaining == 0)
        {
            throw MqttProtocolException.Malformed("SUBACK without reason codes");
        }

        byte[] codes = reader.Rest.ToArray();
        foreach (byte code in codes)
        {
            CheckReasonCode(PacketType.SubAck, code, "[MQTT-3.9.3-2]");
        }

        return new SubAckPacket(packetId, codes) { Properties = properties };
    }

    /// <summary>UNSUBSCRIBE; 5.0 (§3.10): properties, then at least one filter [MQTT-3.10.3-2].</summary>
    public static UnsubscribePacket ReadUnsubscribe(ReadOnlySpan<byte> body, ProtocolLevel level)
    {
        if (level != ProtocolLevel.V500)
        {
            return ReadUnsubscribe(body);
        }

        var reader = new MqttSpanReader(body);
        ushort packetId = ReadNonZeroPacketId(ref reader, "UNSUBSCRIBE");
        MqttProperties? properties = MqttPropertiesReader.Read(ref reader, PropertyContext.Unsubscribe);
        var filters = new List<string>();
        while (reader.Remaining > 0)
        {
            filters.Add(ReadTopicFilter(ref reader, "UNSUBSCRIBE", shared: true));
        }

        if (filters.Count == 0)
        {
            throw MqttProtocolException.ProtocolError("UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]");
        }

        return new UnsubscribePacket { PacketId = packetId, Filters = filters, Properties = properties };
    }

    /// <summary>UNSUBACK 5.0 (§3.11): properties, then one UNSUBACK Reason Code per filter [MQTT-3.11.3-2].</summary>
    public static UnsubAckPacket ReadUnsubAck(ReadOnlySpan<byte> body)
    {
        var reader = new MqttSpanReader(body);
        ushort packetId = reader.ReadUInt16();
        MqttProperties? properties = MqttPropertiesReader.Read(ref reader, PropertyContext.UnsubAck);
        if (reader.Remaining == 0)
        {
            throw MqttProtocolException.Malformed("UNSUBACK without reason codes");
        }

        var codes = new ReasonCode[reader.Remaining];
        for (int i = 0; i < codes.Length; i++)
        {
            codes[i] = ReadReasonCode(ref reader, PacketType.UnsubAck, "[MQTT-3.11.3-2]");
        }

        return new UnsubAckPacket(packetId, codes) { Properties = properties };
    }

    /// <summary>
    /// DISCONNECT 5.0 (§3.14.2): remaining length 0 = Normal disconnection; 1 = Reason Code only; more = Reason
    /// Code and properties. The Reason Code must be a DISCONNECT one [MQTT-3.14.2-1]; a server must not send
    /// Session Expiry Interval [MQTT-3.14.2-2].
    /// </summary>
    public static DisconnectPacket ReadDisconnect(ReadOnlySpan<byte> body, bool fromServer = false)
    {
        if (body.Length == 0)
        {
            return new DisconnectPacket(ReasonCode.NormalDisconnection);
        }

        var reader = new MqttSpanReader(body);
        ReasonCode reason = ReadReasonCode(ref reader, PacketType.Disconnect, "[MQTT-3.14.2-1]");
        MqttProperties? properties = null;
        if (reader.Remaining > 0)
        {
            properties = MqttPropertiesReader.Read(ref reader, PropertyContext.Disconnect);
            ExpectEnd(ref reader, "DISCONNECT");
        }

        if (fromServer && properties?.SessionExpiryInterval is not null)
        {
            throw MqttProtocolException.ProtocolError("the Session Expiry Interval must not be sent on a DISCONNECT by the Server [MQTT-3.14.2-2]");
        }

        return new DisconnectPacket(reason, properties);
    }

    /// <summary>
    /// AUTH (§3.15.2): remaining length 0 = Success and no properties; otherwise an Authenticate Reason Code
    /// [MQTT-3.15.2-1] and, when more bytes follow, properties. (A lone Reason Code is read leniently, as DISCONNECT.)
    /// </summary>
    public static AuthPacket ReadAuth(ReadOnlySpan<byte> body)
    {
        if (body.Length == 0)
        {
            return new AuthPacket(ReasonCode.Success);
        }

        var reader = new MqttSpanReader(body);
        ReasonCode reason = ReadReasonCode(ref reader, PacketType.Auth, "[MQTT-3.15.2-1]");
        MqttProperties? properties = null;
        if (reader.Remaining > 0)
        {
            properties = MqttPropertiesReader.Read(ref reader, PropertyContext.Auth);
            ExpectEnd(ref reader, "AUTH");
        }

        return new AuthPacket(reason, properties);
    }

    private static ReasonCode ReadReasonCode(ref MqttSpanReader reader, PacketType type, string statement)
    {
        byte code = reader.ReadByte();
        CheckReasonCode(type, code, statement);
        return (ReasonCode)code;
    }

    private static void CheckReasonCode(PacketType type, byte code, string statement)
    {
        if (!ReasonCodes.IsValidFor(type, code))
        {
            throw MqttProtocolException.ProtocolError($"0x{code:X2} is not a {type} Reason Code {statement}");
        }
    }

    private static void ExpectEnd(ref MqttSpanReader reader, string packet)
    {
        if (reader.Remaining != 0)
        {
            throw MqttProtocolException.Malformed($"{packet} has {reader.Remaining} bytes after its properties");
        }
    }
}
