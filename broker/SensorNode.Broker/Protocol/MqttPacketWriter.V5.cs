using System.Buffers;
using System.Buffers.Binary;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;

namespace SensorNode.Broker.Protocol;

/// <summary>
/// MQTT 5.0 encoding. Reason Codes are checked against the packet's table and properties against the
/// property/packet matrix (§2.2.2.2) before anything is written; a breach is an <see cref="ArgumentException"/>.
/// Short forms are used where the spec allows them: PUBACK/PUBREC/PUBREL/PUBCOMP with Success and no properties
/// have remaining length 2, with a Reason Code and no properties 3 (§3.4.2.1); DISCONNECT with Normal
/// disconnection and no properties 0, with a Reason Code and no properties 1 (§3.14.2.1); AUTH with Success and no
/// properties 0 (§3.15.2.1).
/// </summary>
public static partial class MqttPacketWriter
{
    /// <summary>Encodes any packet for a connection at <paramref name="level"/>; 3.1/3.1.1 levels are <see cref="Write(IBufferWriter{byte}, MqttPacket)"/>.</summary>
    public static void Write(IBufferWriter<byte> output, MqttPacket packet, ProtocolLevel level)
    {
        if (level != ProtocolLevel.V500)
        {
            Write(output, packet);
            return;
        }

        switch (packet)
        {
            case ConnectPacket connect:
                WriteConnectV5(output, connect);
                break;
            case ConnAckPacket connAck:
                WriteConnAck(output, connAck.SessionPresent, connAck.ReasonCode, connAck.Properties);
                break;
            case PublishPacket publish:
                WritePublish(output, System.Text.Encoding.UTF8.GetBytes(publish.Topic), publish.Payload.Span, publish.Qos, publish.Retain, publish.Dup, publish.PacketId, publish.Properties);
                break;
            case PacketIdPacket ack when ack.Type == PacketType.UnsubAck:
                throw new ArgumentException("a 5.0 UNSUBACK carries reason codes: use UnsubAckPacket", nameof(packet));
            case PacketIdPacket ack:
                WriteAck(output, ack.Type, ack.PacketId, ack.ReasonCode, ack.Properties);
                break;
            case SubscribePacket subscribe:
                WriteSubscribeV5(output, subscribe);
                break;
            case SubAckPacket subAck:
                WriteSubAck(output, subAck.PacketId, subAck.ReturnCodes, subAck.Properties);
                break;
            case UnsubscribePacket unsubscribe:
                WriteUnsubscribeV5(output, unsubscribe);
                break;
            case UnsubAckPacket unsubAck:
                WriteUnsubAck(output, unsubAck.PacketId, unsubAck.ReasonCodes, unsubAck.Properties);
                break;
            case DisconnectPacket disconnect:
                WriteDisconnect(output, disconnect.ReasonCode, disconnect.Properties);
                break;
            case AuthPacket auth:
                WriteAuth(output, auth.ReasonCode, auth.Properties);
                break;
            case EmptyPacket empty:
                WriteEmpty(output, empty.Type);
                break;
            default:
                throw new ArgumentException($"cannot encode {packet.Type}", nameof(packet));
        }
    }

    public static byte[] ToArray(MqttPacket packet, ProtocolLevel level)
    {
        var buffer = new ArrayBufferWriter<byte>();
        Write(buffer, packet, level);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A 5.0 PUBLISH for one subscriber from the message's shared buffer, with per-subscriber properties.</summary>
    public static void WritePublish(IBufferWriter<byte> output, ApplicationMessage message, byte qos, bool retain, bool dup, ushort packetId, MqttProperties? properties) =>
        WritePublish(output, message.EncodedTopic[2..], message.PayloadSpan, qos, retain, dup, packetId, properties);

    /// <summary>
    /// A 5.0 PUBLISH (§3.3): topic, packet identifier when QoS &gt; 0, properties, payload. The topic may be empty
    /// only when the properties carry a Topic Alias (§3.3.2.1).
    /// </summary>
    public static void WritePublish(IBufferWriter<byte> output, ReadOnlySpan<byte> topicUtf8, ReadOnlySpan<byte> payload, byte qos, bool retain, bool dup, ushort packetId, MqttProperties? properties)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(qos, (byte)2);
        if (topicUtf8.Length > ushort.MaxValue)
        {
            throw new ArgumentException("topic longer than 65,535 bytes", nameof(topicUtf8));
        }

        if (topicUtf8.Length == 0 && properties?.TopicAlias is null)
        {
            throw new ArgumentException("an empty topic name needs a Topic Alias (§3.3.2.1)", nameof(topicUtf8));
        }

        if (qos > 0 && packetId == 0)
        {
            throw new ArgumentException("QoS > 0 needs a non-zero packet identifier", nameof(packetId));
        }

        MqttPropertiesWriter.Validate(properties, PropertyContext.Publish);
        int propertiesSize = MqttPropertiesWriter.Measure(properties);
        int remaining = checked(2 + topicUtf8.Length + (qos > 0 ? 2 : 0) + propertiesSize + payload.Length);
        CheckRemaining(remaining);
        byte header = (byte)(((int)PacketType.Publish << 4) | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0));

        Span<byte> head = output.GetSpan(5 + 2 + topicUtf8.Length + 2);
        int h = WriteHeader(head, header, remaining);
        BinaryPrimitives.WriteUInt16BigEndian(head[h..], (ushort)topicUtf8.Length);
        h += 2;
        topicUtf8.CopyTo(head[h..]);
        h += topicUtf8.Length;
        if (qos > 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(head[h..], packetId);
            h += 2;
        }

        output.Advance(h);
        MqttPropertiesWriter.Write(output, properties);
        output.Write(payload);
    }

    /// <summary>
    /// A 5.0 PUBACK, PUBREC, PUBREL (flags 0010) or PUBCOMP (§3.4–§3.7) in its shortest form: remaining length 2
    /// for Success without properties, 3 for a Reason Code without properties, otherwise Reason Code and properties.
    /// </summary>
    public static void WriteAck(IBufferWriter<byte> output, PacketType type, ushort packetId, ReasonCode reasonCode, MqttProperties? properties)
    {
        if (type is not (PacketType.PubAck or PacketType.PubRec or PacketType.PubRel or PacketType.PubComp))
        {
            throw new ArgumentException($"{type} is not PUBACK, PUBREC, PUBREL or PUBCOMP", nameof(type));
        }

        CheckReasonCode(type, reasonCode);
        MqttPropertiesWriter.Validate(properties, PropertyContext.PubAck);
        int header = ((int)type << 4) | (type == PacketType.PubRel ? 0x02 : 0);
        int content = MqttPropertiesWriter.MeasureContent(properties);
        if (content == 0)
        {
            bool withReason = reasonCode != ReasonCode.Success;
            Span<byte> span = output.GetSpan(5);
            span[0] = (byte)header;
            span[1] = withReason ? (byte)3 : (byte)2;
            BinaryPrimitives.WriteUInt16BigEndian(span[2..], packetId);
            if (withReason)
            {
                span[4] = (byte)reasonCode;
            }

            output.Advance(withReason ? 5 : 4);
            return;
        }

        int remaining = 3 + MqttFrameReader.VariableByteIntegerSize(content) + content;
        CheckRemaining(remaining);
        Span<byte> head = output.GetSpan(8);
        int h = WriteHeader(head, (byte)header, remaining);
        BinaryPrimitives.WriteUInt16BigEndian(head[h..], packetId);
        head[h + 2] = (byte)reasonCode;
        output.Advance(h + 3);
        MqttPropertiesWriter.Write(output, properties);
    }

    /// <summary>A 5.0 CONNACK (§3.2): flags, Reason Code (Table 3-1), properties (always with their length).</summary>
    public static void WriteConnAck(IBufferWriter<byte> output, bool sessionPresent, ReasonCode reasonCode, MqttProperties? properties)
    {
        CheckReasonCode(PacketType.ConnAck, reasonCode);
        if (sessionPresent && reasonCode != ReasonCode.Success)
        {
            throw new ArgumentException("Session Present must be 0 with a non-zero Reason Code [MQTT-3.2.2-6]", nameof(sessionPresent));
        }

        MqttPropertiesWriter.Validate(properties, PropertyContext.ConnAck);
        int remaining = 2 + MqttPropertiesWriter.Measure(properties);
        CheckRemaining(remaining);
        Span<byte> head = output.GetSpan(7);
        int h = WriteHeader(head, (byte)PacketType.ConnAck << 4, remaining);
        head[h] = sessionPresent ? (byte)1 : (byte)0;
        head[h + 1] = (byte)reasonCode;
        output.Advance(h + 2);
        MqttPropertiesWriter.Write(output, properties);
    }

    /// <summary>A 5.0 SUBACK (§3.9): packet identifier, properties, one SUBACK Reason Code per filter (Table 3-8).</summary>
    public static void WriteSubAck(IBufferWriter<byte> output, ushort packetId, ReadOnlySpan<byte> reasonCodes, MqttProperties? properties)
    {
        if (reasonCodes.IsEmpty)
        {
            throw new ArgumentException("SUBACK needs a reason code per filter", nameof(reasonCodes));
        }

        foreach (byte code in reasonCodes)
        {
            CheckReasonCode(PacketType.SubAck, (ReasonCode)code);
        }

        MqttPropertiesWriter.Validate(properties, PropertyContext.SubAck);
        WriteIdPropertiesCodes(output, (byte)PacketType.SubAck << 4, packetId, properties, reasonCodes);
    }

    /// <summary>A 5.0 UNSUBACK (§3.11): packet identifier, properties, one UNSUBACK Reason Code per filter (Table 3-9).</summary>
    public static void WriteUnsubAck(IBufferWriter<byte> output, ushort packetId, ReadOnlySpan<ReasonCode> reasonCodes, MqttProperties? properties)
    {
        if (reasonCodes.IsEmpty)
        {
            throw new ArgumentException("UNSUBACK needs a reason code per filter", nameof(reasonCodes));
        }

        foreach (ReasonCode code in reasonCodes)
        {
            CheckReasonCode(PacketType.UnsubAck, code);
        }

        MqttPropertiesWriter.Validate(properties, PropertyContext.UnsubAck);
        WriteIdPropertiesCodes(output, (byte)PacketType.UnsubAck << 4, packetId, properties, System.Runtime.InteropServices.MemoryMarshal.AsBytes(reasonCodes));
    }

    /// <summary>A 5.0 DISCONNECT (§3.14): remaining length 0 for Normal disconnection without properties, 1 for a Reason Code alone.</summary>
    public static void WriteDisconnect(IBufferWriter<byte> output, ReasonCode reasonCode, MqttProperties? properties) =>
        WriteReasonAndProperties(output, PacketType.Disconnect, PropertyContext.Disconnect, reasonCode, properties, reasonOnlyForm: true);

    /// <summary>A 5.0 AUTH (§3.15): remaining length 0 for Success without properties, otherwise Reason Code and properties.</summary>
    public static void WriteAuth(IBufferWriter<byte> output, ReasonCode reasonCode, MqttProperties? properties) =>
        WriteReasonAndProperties(output, PacketType.Auth, PropertyContext.Auth, reasonCode, properties, reasonOnlyForm: false);

    private static void WriteReasonAndProperties(IBufferWriter<byte> output, PacketType type, PropertyContext context, ReasonCode reasonCode, MqttProperties? properties, bool reasonOnlyForm)
    {
        CheckReasonCode(type, reasonCode);
        MqttPropertiesWriter.Validate(properties, context);
        int content = MqttPropertiesWriter.MeasureContent(properties);
        if (content == 0 && reasonCode == ReasonCode.Success)
        {
            WriteEmpty(output, type);
            return;
        }

        if (content == 0 && reasonOnlyForm)
        {
            Span<byte> span = output.GetSpan(3);
            span[0] = (byte)((int)type << 4);
            span[1] = 1;
            span[2] = (byte)reasonCode;
            output.Advance(3);
            return;
        }

        int remaining = 1 + MqttFrameReader.VariableByteIntegerSize(content) + content;
        CheckRemaining(remaining);
        Span<byte> head = output.GetSpan(6);
        int h = WriteHeader(head, (byte)((int)type << 4), remaining);
        head[h] = (byte)reasonCode;
        output.Advance(h + 1);
        MqttPropertiesWriter.Write(output, properties);
    }

    private static void WriteIdPropertiesCodes(IBufferWriter<byte> output, int header, ushort packetId, MqttProperties? properties, ReadOnlySpan<byte> codes)
    {
        int remaining = 2 + MqttPropertiesWriter.Measure(properties) + codes.Length;
        CheckRemaining(remaining);
        Span<byte> head = output.GetSpan(7);
        int h = WriteHeader(head, (byte)header, remaining);
        BinaryPrimitives.WriteUInt16BigEndian(head[h..], packetId);
        output.Advance(h + 2);
        MqttPropertiesWriter.Write(output, properties);
        output.Write(codes);
    }

    private static void WriteConnectV5(IBufferWriter<byte> output, ConnectPacket connect)
    {
        MqttPropertiesWriter.Validate(connect.Properties, PropertyContext.Connect);
        var body = new ArrayBufferWriter<byte>();
        WriteString(body, connect.ProtocolName);
        int flags = (connect.CleanSession ? 0x02 : 0)
            | (connect.Will is { } w ? 0x04 | (w.Qos << 3) | (w.Retain ? 0x20 : 0) : 0)
            | (connect.Password is not null ? 0x40 : 0)
            | (connect.UserName is not null ? 0x80 : 0);
        WriteBytes(body, [(byte)ProtocolLevel.V500, (byte)flags, (byte)(connect.KeepAliveSeconds >> 8), (byte)connect.KeepAliveSeconds]);
        MqttPropertiesWriter.Write(body, connect.Properties);
        WriteString(body, connect.ClientId);
        if (connect.Will is { } will)
        {
            MqttPropertiesWriter.Validate(will.Properties, PropertyContext.Will);
            MqttPropertiesWriter.Write(body, will.Properties);
            WriteString(body, will.Topic);
            WriteBinary(body, will.Payload);
        }

        if (connect.UserName is not null)
        {
            WriteString(body, connect.UserName);
        }

        if (connect.Password is not null)
        {
            WriteBinary(body, connect.Password);
        }

        WriteFrame(output, (byte)PacketType.Connect << 4, body.WrittenSpan);
    }

    private static void WriteSubscribeV5(IBufferWriter<byte> output, SubscribePacket subscribe)
    {
        MqttPropertiesWriter.Validate(subscribe.Properties, PropertyContext.Subscribe);
        var body = new ArrayBufferWriter<byte>();
        WriteBytes(body, [(byte)(subscribe.PacketId >> 8), (byte)subscribe.PacketId]);
        MqttPropertiesWriter.Write(body, subscribe.Properties);
        foreach (TopicSubscription subscription in subscribe.Subscriptions)
        {
            if (subscription.Qos > 2 || subscription.RetainHandling > 2)
            {
                throw new ArgumentException($"subscription '{subscription.Filter}' has QoS {subscription.Qos} / Retain Handling {subscription.RetainHandling}", nameof(subscribe));
            }

            WriteString(body, subscription.Filter);
            WriteBytes(body, [subscription.Options]);
        }

        WriteFrame(output, ((byte)PacketType.Subscribe << 4) | 0x02, body.WrittenSpan);
    }

    private static void WriteUnsubscribeV5(IBufferWriter<byte> output, UnsubscribePacket unsubscribe)
    {
        MqttPropertiesWriter.Validate(unsubscribe.Properties, PropertyContext.Unsubscribe);
        var body = new ArrayBufferWriter<byte>();
        WriteBytes(body, [(byte)(unsubscribe.PacketId >> 8), (byte)unsubscribe.PacketId]);
        MqttPropertiesWriter.Write(body, unsubscribe.Properties);
        foreach (string filter in unsubscribe.Filters)
        {
            WriteString(body, filter);
        }

        WriteFrame(output, ((byte)PacketType.Unsubscribe << 4) | 0x02, body.WrittenSpan);
    }

    private static void CheckReasonCode(PacketType type, ReasonCode code)
    {
        if (!ReasonCodes.IsValidFor(type, code))
        {
            throw new ArgumentException($"0x{(byte)code:X2} is not a {type} Reason Code", nameof(code));
        }
    }

    private static void CheckRemaining(int remaining)
    {
        if (remaining > MqttFrameReader.MaxRemainingLength)
        {
            throw new ArgumentException($"packet of {remaining} bytes exceeds the 268,435,455 byte remaining length limit (§1.5.5)");
        }
    }
}
