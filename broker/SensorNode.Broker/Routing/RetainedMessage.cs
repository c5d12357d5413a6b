using System.Buffers.Binary;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.V5;

namespace SensorNode.Broker.Routing;

/// <summary>
/// One retained message as <see cref="RetainedMessageStore"/> keeps it: the buffer it was published with
/// (length-prefixed UTF-8 topic, then the payload; shared with the <see cref="ApplicationMessage"/>, not copied)
/// and what its PUBLISH needs besides. No UTF-16 topic and no object of its own: with 100,000 retained
/// messages every byte per entry counts (issue #9).
/// </summary>
public readonly struct RetainedMessage
{
    private readonly byte[] _buffer;
    private readonly RetainedAttributes _attributes;

    private RetainedMessage(byte[] buffer, RetainedAttributes attributes)
    {
        _buffer = buffer;
        _attributes = attributes;
    }

    public static RetainedMessage From(ApplicationMessage message) =>
        new(message.Buffer, RetainedAttributes.Of(message.Qos, message.Properties, message.ExpiresAtUnixMs));

    /// <summary>QoS the message was published with.</summary>
    public byte Qos => _attributes.Qos;

    /// <summary>The forwarded MQTT 5 properties, as kept by <see cref="ApplicationMessage.FromPublish"/>.</summary>
    public MqttProperties? Properties => _attributes.Properties;

    /// <summary>When the message expires (Unix ms), 0 for never (MQTT 5 §3.3.2.3.3).</summary>
    public long ExpiresAtUnixMs => _attributes.ExpiresAtUnixMs;

    public ReadOnlySpan<byte> TopicUtf8 => _buffer.AsSpan(2, BinaryPrimitives.ReadUInt16BigEndian(_buffer));

    /// <summary>As <see cref="ApplicationMessage.Size"/> of the message it becomes.</summary>
    public int Size => _buffer.Length + 64;

    public bool IsExpired(long nowUnixMs) => ExpiresAtUnixMs != 0 && nowUnixMs >= ExpiresAtUnixMs;

    /// <summary>The message to queue for a subscriber: over the same buffer, its topic decoded only if asked for.</summary>
    public ApplicationMessage ToMessage() => ApplicationMessage.FromBuffer(_buffer, Qos, retain: true, Properties, ExpiresAtUnixMs);
}

/// <summary>
/// What a retained message has besides its buffer. Messages with neither MQTT 5 properties nor an expiry (nearly
/// all) share one instance per QoS, so an entry is two references.
/// </summary>
internal sealed class RetainedAttributes
{
    private static readonly RetainedAttributes[] Plain = [new(0, null, 0), new(1, null, 0), new(2, null, 0)];

    private RetainedAttributes(byte qos, MqttProperties? properties, long expiresAtUnixMs)
    {
        Qos = qos;
        Properties = properties;
        ExpiresAtUnixMs = expiresAtUnixMs;
    }

    public byte Qos { get; }

    public MqttProperties? Properties { get; }

    public long ExpiresAtUnixMs { get; }

    public static RetainedAttributes Of(byte qos, MqttProperties? properties, long expiresAtUnixMs) =>
        properties is null && expiresAtUnixMs == 0 ? Plain[qos] : new(qos, properties, expiresAtUnixMs);
}

/// <summary>Retained messages are equal when their topics are: one per topic, looked up by the UTF-8 topic.</summary>
internal sealed class RetainedTopicComparer : IEqualityComparer<RetainedMessage>, IAlternateEqualityComparer<ReadOnlySpan<byte>, RetainedMessage>
{
    public static readonly RetainedTopicComparer Instance = new();

    public bool Equals(RetainedMessage x, RetainedMessage y) => x.TopicUtf8.SequenceEqual(y.TopicUtf8);

    public int GetHashCode(RetainedMessage obj) => GetHashCode(obj.TopicUtf8);

    public bool Equals(ReadOnlySpan<byte> alternate, RetainedMessage other) => alternate.SequenceEqual(other.TopicUtf8);

    public int GetHashCode(ReadOnlySpan<byte> alternate)
    {
        var hash = default(HashCode);
        hash.AddBytes(alternate);
        return hash.ToHashCode();
    }

    /// <summary>Entries are only ever added whole; a topic alone is no message.</summary>
    public RetainedMessage Create(ReadOnlySpan<byte> alternate) => throw new NotSupportedException();
}
