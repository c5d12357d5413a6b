using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using SensorNode.Broker.Protocol.Packets;

namespace SensorNode.Broker.Protocol;

/// <summary>
/// Encodes packets straight into an <see cref="IBufferWriter{T}"/> such as a PipeWriter: MQTT 3.1 / 3.1.1 here,
/// MQTT 5.0 in MqttPacketWriter.V5.cs.
/// </summary>
public static partial class MqttPacketWriter
{
    /// <summary>
    /// Writes a PUBLISH for one subscriber from the message's shared buffer: only the fixed header and
    /// the packet identifier are produced here; topic and payload are copied as they are.
    /// </summary>
    public static void WritePublish(IBufferWriter<byte> output, ApplicationMessage message, byte qos, bool retain, bool dup, ushort packetId)
    {
        ReadOnlySpan<byte> topic = message.EncodedTopic;
        ReadOnlySpan<byte> payload = message.PayloadSpan;
        int remaining = topic.Length + (qos > 0 ? 2 : 0) + payload.Length;
        byte header = (byte)(((int)PacketType.Publish << 4) | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0));
        int total = 1 + MqttFrameReader.VariableByteIntegerSize(remaining) + remaining;

        if (total <= 4096)
        {
            Span<byte> span = output.GetSpan(total);
            int i = WriteHeader(span, header, remaining);
            topic.CopyTo(span[i..]);
            i += topic.Length;
            if (qos > 0)
            {
                BinaryPrimitives.WriteUInt16BigEndian(span[i..], packetId);
                i += 2;
            }

            payload.CopyTo(span[i..]);
            output.Advance(total);
            return;
        }

        Span<byte> head = output.GetSpan(5 + topic.Length + 2);
        int h = WriteHeader(head, header, remaining);
        topic.CopyTo(head[h..]);
        h += topic.Length;
        if (qos > 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(head[h..], packetId);
            h += 2;
        }

        output.Advance(h);
        output.Write(payload);
    }

    /// <summary>PUBACK, PUBREC, PUBREL (flags 0010), PUBCOMP or UNSUBACK.</summary>
    public static void WriteAck(IBufferWriter<byte> output, PacketType type, ushort packetId)
    {
        Span<byte> span = output.GetSpan(4);
        span[0] = (byte)(((int)type << 4) | (type == PacketType.PubRel ? 0x02 : 0));
        span[1] = 2;
        BinaryPrimitives.WriteUInt16BigEndian(span[2..], packetId);
        output.Advance(4);
    }

    public static void WriteConnAck(IBufferWriter<byte> output, bool sessionPresent, ConnectReturnCode code)
    {
        Span<byte> span = output.GetSpan(4);
        span[0] = (byte)PacketType.ConnAck << 4;
        span[1] = 2;
        span[2] = sessionPresent ? (byte)1 : (byte)0;
        span[3] = (byte)code;
        output.Advance(4);
    }

    public static void WriteEmpty(IBufferWriter<byte> output, PacketType type)
    {
        Span<byte> span = output.GetSpan(2);
        span[0] = (byte)((int)type << 4);
        span[1] = 0;
        output.Advance(2);
    }

    public static void WriteSubAck(IBufferWriter<byte> output, ushort packetId, ReadOnlySpan<byte> returnCodes)
    {
        int remaining = 2 + returnCodes.Length;
        Span<byte> span = output.GetSpan(5 + remaining);
        int i = WriteHeader(span, (byte)PacketType.SubAck << 4, remaining);
        BinaryPrimitives.WriteUInt16BigEndian(span[i..], packetId);
        returnCodes.CopyTo(span[(i + 2)..]);
        output.Advance(i + remaining);
    }

    /// <summary>Encodes any packet from its object form (clients, tools, tests and cold paths).</summary>
    public static void Write(IBufferWriter<byte> output, MqttPacket packet)
    {
        switch (packet)
        {
            case ConnectPacket connect:
                WriteConnect(output, connect);
                break;
            case ConnAckPacket connAck:
                WriteConnAck(output, connAck.SessionPresent, connAck.ReturnCode);
                break;
            case PublishPacket publish:
                WritePublish(output, ApplicationMessage.Create(publish.Topic, publish.Payload.Span, publish.Qos, publish.Retain), publish.Qos, publish.Retain, publish.Dup, publish.PacketId);
                break;
            case PacketIdPacket ack:
                WriteAck(output, ack.Type, ack.PacketId);
                break;
            case SubscribePacket subscribe:
                WriteSubscribe(output, subscribe);
                break;
            case SubAckPacket subAck:
                WriteSubAck(output, subAck.PacketId, subAck.ReturnCodes);
                break;
            case UnsubscribePacket unsubscribe:
                WriteUnsubscribe(output, unsubscribe);
                break;
            case EmptyPacket empty:
                WriteEmpty(output, empty.Type);
                break;
            case DisconnectPacket:
                // 3.1.1 DISCONNECT has no reason code.
                WriteEmpty(output, PacketType.Disconnect);
                break;
            case UnsubAckPacket unsubAck:
                WriteAck(output, PacketType.UnsubAck, unsubAck.PacketId);
                break;
            default:
                throw new ArgumentException($"cannot encode {packet.Type} in MQTT 3.1.1", nameof(packet));
        }
    }

    public static byte[] ToArray(MqttPacket packet)
    {
        var buffer = new ArrayBufferWriter<byte>();
        Write(buffer, packet);
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteConnect(IBufferWriter<byte> output, ConnectPacket connect)
    {
        var body = new ArrayBufferWriter<byte>();
        WriteString(body, connect.ProtocolName);
        int flags = (connect.CleanSession ? 0x02 : 0)
            | (connect.Will is { } w ? 0x04 | (w.Qos << 3) | (w.Retain ? 0x20 : 0) : 0)
            | (connect.Password is not null ? 0x40 : 0)
            | (connect.UserName is not null ? 0x80 : 0);
        WriteBytes(body, [(byte)connect.ProtocolLevel, (byte)flags, (byte)(connect.KeepAliveSeconds >> 8), (byte)connect.KeepAliveSeconds]);
        WriteString(body, connect.ClientId);
        if (connect.Will is { } will)
        {
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

    private static void WriteSubscribe(IBufferWriter<byte> output, SubscribePacket subscribe)
    {
        var body = new ArrayBufferWriter<byte>();
        WriteBytes(body, [(byte)(subscribe.PacketId >> 8), (byte)subscribe.PacketId]);
        foreach (TopicSubscription subscription in subscribe.Subscriptions)
        {
            WriteString(body, subscription.Filter);
            WriteBytes(body, [subscription.Qos]);
        }

        WriteFrame(output, ((byte)PacketType.Subscribe << 4) | 0x02, body.WrittenSpan);
    }

    private static void WriteUnsubscribe(IBufferWriter<byte> output, UnsubscribePacket unsubscribe)
    {
        var body = new ArrayBufferWriter<byte>();
        WriteBytes(body, [(byte)(unsubscribe.PacketId >> 8), (byte)unsubscribe.PacketId]);
        foreach (string filter in unsubscribe.Filters)
        {
            WriteString(body, filter);
        }

        WriteFrame(output, ((byte)PacketType.Unsubscribe << 4) | 0x02, body.WrittenSpan);
    }

    private static void WriteFrame(IBufferWriter<byte> output, int header, ReadOnlySpan<byte> body)
    {
        Span<byte> head = output.GetSpan(5);
        int n = WriteHeader(head, (byte)header, body.Length);
        output.Advance(n);
        output.Write(body);
    }

    private static int WriteHeader(Span<byte> span, byte header, int remainingLength)
    {
        span[0] = header;
        return 1 + MqttFrameReader.WriteVariableByteInteger(span[1..], remainingLength);
    }

    private static void WriteString(IBufferWriter<byte> output, string value) => WriteBinary(output, Encoding.UTF8.GetBytes(value));

    private static void WriteBinary(IBufferWriter<byte> output, ReadOnlySpan<byte> value)
    {
        WriteBytes(output, [(byte)(value.Length >> 8), (byte)value.Length]);
        output.Write(value);
    }

    private static void WriteBytes(IBufferWriter<byte> output, ReadOnlySpan<byte> bytes) => output.Write(bytes);
}
