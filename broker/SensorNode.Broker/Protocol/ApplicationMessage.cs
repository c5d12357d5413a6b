using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using SensorNode.Broker.Protocol.V5;

namespace SensorNode.Broker.Protocol;

/// <summary>
/// A published message as the broker keeps it: one immutable buffer holding the topic (with its 2-byte
/// length prefix) followed by the payload, i.e. the PUBLISH body minus the packet identifier. Every
/// subscriber's PUBLISH is written from this one buffer; nothing is encoded per subscriber. MQTT 5
/// properties are kept with it and encoded once (the Message Expiry Interval, which counts down, apart).
/// </summary>
public sealed class ApplicationMessage
{
    private readonly byte[] _data;
    private readonly int _topicEnd;
    private string? _topic;
    private byte[]? _encodedProperties;

    private ApplicationMessage(string? topic, byte[] data, int topicEnd, byte qos, bool retain, MqttProperties? properties, long expiresAtUnixMs)
    {
        _topic = topic;
        _data = data;
        _topicEnd = topicEnd;
        Qos = qos;
        Retain = retain;
        Properties = properties is { IsEmpty: false } ? properties : null;
        ExpiresAtUnixMs = expiresAtUnixMs;
    }

    /// <summary>
    /// The MQTT 5 properties forwarded with the message (payload format, content type, response topic,
    /// correlation data, user properties, message expiry); never a topic alias or subscription identifier.
    /// </summary>
    public MqttProperties? Properties { get; }

    /// <summary>When the message expires (Unix ms), 0 for never (MQTT 5 Message Expiry Interval, §3.3.2.3.3).</summary>
    public long ExpiresAtUnixMs { get; }

    public bool IsExpired(long nowUnixMs) => ExpiresAtUnixMs != 0 && nowUnixMs >= ExpiresAtUnixMs;

    /// <summary>The Message Expiry Interval to forward: what is left of it, in whole seconds, at least 1 [MQTT-3.3.2-6].</summary>
    public uint RemainingExpirySeconds(long nowUnixMs) =>
        (uint)Math.Max(1, (ExpiresAtUnixMs - nowUnixMs + 999) / 1000);

    /// <summary>The forwarded properties except the Message Expiry Interval, encoded once (no length prefix).</summary>
    public ReadOnlySpan<byte> EncodedProperties
    {
        get
        {
            if (Properties is null)
            {
                return default;
            }

            return _encodedProperties ??= EncodeWithoutExpiry(Properties);
        }
    }

    private static byte[] EncodeWithoutExpiry(MqttProperties properties)
    {
        var copy = new MqttProperties
        {
            PayloadFormatIndicator = properties.PayloadFormatIndicator,
            ContentType = properties.ContentType,
            ResponseTopic = properties.ResponseTopic,
            CorrelationData = properties.CorrelationData,
            UserProperties = properties.UserProperties,
        };
        var buffer = new ArrayBufferWriter<byte>();
        MqttPropertiesWriter.Write(buffer, copy);
        ReadOnlySpan<byte> written = buffer.WrittenSpan;
        int prefix = MqttFrameReader.VariableByteIntegerSize(MqttPropertiesWriter.MeasureContent(copy));
        return written[prefix..].ToArray();
    }

    /// <summary>
    /// Builds a message from what a client published: keeps the forwardable MQTT 5 properties and turns a
    /// Message Expiry Interval into an absolute expiry time.
    /// </summary>
    public static ApplicationMessage FromPublish(string topic, ReadOnlySpan<byte> topicUtf8, ReadOnlySpan<byte> payload, byte qos, bool retain, MqttProperties? published, long nowUnixMs)
    {
        MqttProperties? kept = null;
        long expiresAt = 0;
        if (published is not null)
        {
            kept = new MqttProperties
            {
                PayloadFormatIndicator = published.PayloadFormatIndicator,
                MessageExpiryInterval = published.MessageExpiryInterval,
                ContentType = published.ContentType,
                ResponseTopic = published.ResponseTopic,
                CorrelationData = published.CorrelationData,
                UserProperties = published.UserProperties,
            };
            // 0 is taken as no expiry, as Mosquitto does: read as "expired at once", the message went to nobody while
            // its publisher was told it was accepted.
            if (published.MessageExpiryInterval is { } seconds and > 0)
            {
                expiresAt = nowUnixMs + (seconds * 1000L);
            }
        }

        return Create(topic, topicUtf8, payload, qos, retain, kept, expiresAt);
    }

    /// <summary>The topic; a message rebuilt from a stored buffer decodes it on first use (a replay to a client without an ACL never does).</summary>
    public string Topic => _topic ??= Encoding.UTF8.GetString(_data.AsSpan(2, _topicEnd - 2));

    /// <summary>QoS the message was published with.</summary>
    public byte Qos { get; }

    /// <summary>RETAIN flag as published.</summary>
    public bool Retain { get; }

    /// <summary>Length-prefixed topic as it appears on the wire.</summary>
    public ReadOnlySpan<byte> EncodedTopic => _data.AsSpan(0, _topicEnd);

    public ReadOnlyMemory<byte> Payload => _data.AsMemory(_topicEnd);

    public ReadOnlySpan<byte> PayloadSpan => _data.AsSpan(_topicEnd);

    /// <summary>The buffer behind <see cref="EncodedTopic"/> and <see cref="Payload"/>, shared by whoever keeps the message.</summary>
    internal byte[] Buffer => _data;

    /// <summary>Approximate memory charged to queues that hold this message.</summary>
    public int Size => _data.Length + 64;

    public static ApplicationMessage Create(string topic, ReadOnlySpan<byte> topicUtf8, ReadOnlySpan<byte> payload, byte qos, bool retain, MqttProperties? properties = null, long expiresAtUnixMs = 0)
    {
        byte[] data = new byte[2 + topicUtf8.Length + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(data, (ushort)topicUtf8.Length);
        topicUtf8.CopyTo(data.AsSpan(2));
        payload.CopyTo(data.AsSpan(2 + topicUtf8.Length));
        return new ApplicationMessage(topic, data, 2 + topicUtf8.Length, qos, retain, properties, expiresAtUnixMs);
    }

    public static ApplicationMessage Create(string topic, ReadOnlySpan<byte> payload, byte qos, bool retain, MqttProperties? properties = null, long expiresAtUnixMs = 0) =>
        Create(topic, Encoding.UTF8.GetBytes(topic), payload, qos, retain, properties, expiresAtUnixMs);

    /// <summary>A message over a buffer laid out as <see cref="Buffer"/> (kept by the retained store), without copying it.</summary>
    internal static ApplicationMessage FromBuffer(byte[] buffer, byte qos, bool retain, MqttProperties? properties, long expiresAtUnixMs) =>
        new(topic: null, buffer, 2 + BinaryPrimitives.ReadUInt16BigEndian(buffer), qos, retain, properties, expiresAtUnixMs);
}
