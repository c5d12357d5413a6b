using System.Buffers.Binary;
using System.Text;

namespace SensorNode.Broker.Protocol;

/// <summary>
/// A published message as the broker keeps it: one immutable buffer holding the topic (with its 2-byte
/// length prefix) followed by the payload, i.e. the PUBLISH body minus the packet identifier. Every
/// subscriber's PUBLISH is written from this one buffer; nothing is encoded per subscriber.
/// </summary>
public sealed class ApplicationMessage
{
    private readonly byte[] _data;
    private readonly int _topicEnd;

    private ApplicationMessage(string topic, byte[] data, int topicEnd, byte qos, bool retain)
    {
        Topic = topic;
        _data = data;
        _topicEnd = topicEnd;
        Qos = qos;
        Retain = retain;
    }

    public string Topic { get; }

    /// <summary>QoS the message was published with.</summary>
    public byte Qos { get; }

    /// <summary>RETAIN flag as published.</summary>
    public bool Retain { get; }

    /// <summary>Length-prefixed topic as it appears on the wire.</summary>
    public ReadOnlySpan<byte> EncodedTopic => _data.AsSpan(0, _topicEnd);

    public ReadOnlyMemory<byte> Payload => _data.AsMemory(_topicEnd);

    public ReadOnlySpan<byte> PayloadSpan => _data.AsSpan(_topicEnd);

    /// <summary>Approximate memory charged to queues that hold this message.</summary>
    public int Size => _data.Length + 64;

    public static ApplicationMessage Create(string topic, ReadOnlySpan<byte> topicUtf8, ReadOnlySpan<byte> payload, byte qos, bool retain)
    {
        byte[] data = new byte[2 + topicUtf8.Length + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(data, (ushort)topicUtf8.Length);
        topicUtf8.CopyTo(data.AsSpan(2));
        payload.CopyTo(data.AsSpan(2 + topicUtf8.Length));
        return new ApplicationMessage(topic, data, 2 + topicUtf8.Length, qos, retain);
    }

    public static ApplicationMessage Create(string topic, ReadOnlySpan<byte> payload, byte qos, bool retain) =>
        Create(topic, Encoding.UTF8.GetBytes(topic), payload, qos, retain);
}
