namespace SensorNode.Broker.Protocol;

/// <summary>
/// Remembers the last few topic names a connection published to, so a sensor that publishes to the same
/// handful of topics does not allocate a new string per message.
/// </summary>
public sealed class TopicNameCache
{
    private const int Size = 8;
    private readonly byte[]?[] _utf8 = new byte[Size][];
    private readonly string[] _names = new string[Size];
    private int _next;

    public string GetOrAdd(ReadOnlySpan<byte> topicUtf8)
    {
        for (int i = 0; i < Size; i++)
        {
            if (_utf8[i] is { } cached && topicUtf8.SequenceEqual(cached))
            {
                return _names[i];
            }
        }

        string name = MqttUtf8.Decode(topicUtf8);
        if (topicUtf8.Length <= 256)
        {
            _utf8[_next] = topicUtf8.ToArray();
            _names[_next] = name;
            _next = (_next + 1) % Size;
        }

        return name;
    }
}
