using System.Buffers.Binary;

namespace SensorNode.Broker.Protocol;

/// <summary>Reads MQTT data types from a packet body held in one span; every overrun is a malformed packet.</summary>
public ref struct MqttSpanReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _position;

    public MqttSpanReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _position = 0;
    }

    public readonly int Remaining => _data.Length - _position;

    public readonly ReadOnlySpan<byte> Rest => _data[_position..];

    public byte ReadByte()
    {
        if (_position >= _data.Length)
        {
            throw MqttProtocolException.Malformed("packet ends early");
        }

        return _data[_position++];
    }

    public ushort ReadUInt16()
    {
        if (Remaining < 2)
        {
            throw MqttProtocolException.Malformed("packet ends early");
        }

        ushort value = BinaryPrimitives.ReadUInt16BigEndian(_data[_position..]);
        _position += 2;
        return value;
    }

    public uint ReadUInt32()
    {
        if (Remaining < 4)
        {
            throw MqttProtocolException.Malformed("packet ends early");
        }

        uint value = BinaryPrimitives.ReadUInt32BigEndian(_data[_position..]);
        _position += 4;
        return value;
    }

    /// <summary>
    /// A Variable Byte Integer (5.0 §1.5.5): at most 4 bytes, 0 to 268,435,455, in the minimum number of bytes
    /// [MQTT-1.5.5-1]. Anything else is a malformed packet.
    /// </summary>
    public int ReadVariableByteInteger(string what)
    {
        int value = 0;
        int multiplier = 1;
        for (int i = 0; i < 4; i++)
        {
            if (_position >= _data.Length)
            {
                throw MqttProtocolException.Malformed($"{what} ends early");
            }

            byte b = _data[_position++];
            value += (b & 0x7F) * multiplier;
            if ((b & 0x80) == 0)
            {
                if (i > 0 && b == 0)
                {
                    throw MqttProtocolException.Malformed($"{what} is not encoded in the minimum number of bytes [MQTT-1.5.5-1]");
                }

                return value;
            }

            multiplier *= 128;
        }

        throw MqttProtocolException.Malformed($"{what} is a Variable Byte Integer longer than 4 bytes");
    }

    /// <summary>The next <paramref name="length"/> bytes; <paramref name="what"/> names the field in the error.</summary>
    public ReadOnlySpan<byte> ReadBytes(int length, string what)
    {
        if (length < 0 || Remaining < length)
        {
            throw MqttProtocolException.Malformed($"{what} runs past the end of the packet");
        }

        ReadOnlySpan<byte> value = _data.Slice(_position, length);
        _position += length;
        return value;
    }

    /// <summary>Two-byte length followed by that many bytes (§1.5.3 / §1.5.6).</summary>
    public ReadOnlySpan<byte> ReadBinary()
    {
        int length = ReadUInt16();
        if (Remaining < length)
        {
            throw MqttProtocolException.Malformed("length prefix runs past the end of the packet");
        }

        ReadOnlySpan<byte> value = _data.Slice(_position, length);
        _position += length;
        return value;
    }

    /// <summary>A length-prefixed UTF-8 string, validated [MQTT-1.5.3-1] [MQTT-1.5.3-2].</summary>
    public ReadOnlySpan<byte> ReadUtf8(string what)
    {
        ReadOnlySpan<byte> value = ReadBinary();
        MqttUtf8.Validate(value, what);
        return value;
    }

    public string ReadString(string what) => MqttUtf8.Decode(ReadUtf8(what));
}
