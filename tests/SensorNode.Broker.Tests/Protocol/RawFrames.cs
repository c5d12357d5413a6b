using System.Buffers;
using System.Text;

namespace SensorNode.Broker.Tests.Protocol;

/// <summary>
/// MQTT 3.1.1 bytes built by hand, independently of <c>MqttPacketWriter</c>, so tests can check the
/// writer's output and send packets no encoder would produce (bad flags, bad UTF-8, reserved bits).
/// </summary>
internal static class RawFrames
{
    /// <summary>Fixed header byte, Remaining Length (§2.2.3), then the parts as the body.</summary>
    public static byte[] Frame(byte header, params byte[][] parts)
    {
        byte[] body = Concat(parts);
        return Concat([header], RemainingLength(body.Length), body);
    }

    /// <summary>Variable Byte Integer encoding of §2.2.3, written from the spec's pseudo code.</summary>
    public static byte[] RemainingLength(int value)
    {
        var bytes = new List<byte>(4);
        do
        {
            int encoded = value % 128;
            value /= 128;
            if (value > 0)
            {
                encoded |= 128;
            }

            bytes.Add((byte)encoded);
        }
        while (value > 0);
        return [.. bytes];
    }

    public static byte[] U16(int value) => [(byte)(value >> 8), (byte)value];

    /// <summary>A length-prefixed string from raw bytes (which may be invalid UTF-8 on purpose).</summary>
    public static byte[] Bin(byte[] value) => Concat(U16(value.Length), value);

    public static byte[] Str(string value) => Bin(Encoding.UTF8.GetBytes(value));

    public static byte[] Utf8(string value) => Encoding.UTF8.GetBytes(value);

    public static byte[] Concat(params byte[][] parts)
    {
        var buffer = new ArrayBufferWriter<byte>();
        foreach (byte[] part in parts)
        {
            buffer.Write(part);
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>CONNECT with an explicit flags byte and a client identifier given as raw bytes.</summary>
    public static byte[] ConnectRaw(byte flags, byte[] clientId, ushort keepAlive = 60, string protocolName = "MQTT", byte level = 4, params byte[][] payloadAfterClientId) =>
        Frame(0x10, Concat(Str(protocolName), [level, flags], U16(keepAlive), Bin(clientId)), Concat(payloadAfterClientId));

    /// <summary>A plain CONNECT (no will, user or password).</summary>
    public static byte[] Connect(string clientId, bool cleanSession = true, ushort keepAlive = 60, string protocolName = "MQTT", byte level = 4) =>
        ConnectRaw(cleanSession ? (byte)0x02 : (byte)0x00, Utf8(clientId), keepAlive, protocolName, level);

    public static byte PublishHeader(byte qos, bool dup = false, bool retain = false) =>
        (byte)(0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0));

    /// <summary>PUBLISH with the topic given as raw bytes.</summary>
    public static byte[] PublishRaw(byte[] topic, byte[] payload, byte qos = 0, ushort packetId = 0, bool dup = false, bool retain = false) =>
        Frame(PublishHeader(qos, dup, retain), Bin(topic), qos > 0 ? U16(packetId) : [], payload);

    public static byte[] Publish(string topic, byte[] payload, byte qos = 0, ushort packetId = 0, bool dup = false, bool retain = false) =>
        PublishRaw(Utf8(topic), payload, qos, packetId, dup, retain);

    public static byte[] Subscribe(ushort packetId, params (string Filter, byte Qos)[] filters) =>
        SubscribeWithHeader(0x82, packetId, filters);

    public static byte[] SubscribeWithHeader(byte header, ushort packetId, params (string Filter, byte Qos)[] filters)
    {
        var parts = new List<byte[]> { U16(packetId) };
        foreach ((string filter, byte qos) in filters)
        {
            parts.Add(Str(filter));
            parts.Add([qos]);
        }

        return Frame(header, [.. parts]);
    }

    public static byte[] Unsubscribe(ushort packetId, params string[] filters) =>
        Frame(0xA2, [U16(packetId), .. filters.Select(Str)]);

    public static byte[] Ack(byte header, ushort packetId) => Frame(header, U16(packetId));
}
