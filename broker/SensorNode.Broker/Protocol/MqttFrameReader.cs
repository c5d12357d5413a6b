using System.Buffers;

namespace SensorNode.Broker.Protocol;

/// <summary>
/// Splits a byte stream into MQTT frames (fixed header + body) without copying: the body is a slice of
/// the input sequence. Enforces the 4-byte Remaining Length limit (§2.2.3) and the packet size limit
/// before the body has arrived, so an oversized packet is refused without being buffered.
/// </summary>
public static class MqttFrameReader
{
    public const int MaxRemainingLength = 268_435_455;

    /// <summary>Returns false when more data is needed; throws <see cref="MqttProtocolException"/> on a bad header.</summary>
    public static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, int maxPacketSize, out byte header, out ReadOnlySequence<byte> body)
    {
        body = default;
        header = 0;
        if (buffer.Length < 2)
        {
            return false;
        }

        Span<byte> head = stackalloc byte[5];
        int headLength = (int)Math.Min(5, buffer.Length);
        if (buffer.FirstSpan.Length >= headLength)
        {
            buffer.FirstSpan[..headLength].CopyTo(head);
        }
        else
        {
            buffer.Slice(0, headLength).CopyTo(head);
        }

        int remaining = 0;
        int multiplier = 1;
        int index = 1;
        while (true)
        {
            if (index >= headLength)
            {
                if (index == 5)
                {
                    throw MqttProtocolException.Malformed("remaining length longer than 4 bytes");
                }

                return false;
            }

            byte b = head[index++];
            remaining += (b & 0x7F) * multiplier;
            if ((b & 0x80) == 0)
            {
                break;
            }

            if (index == 5)
            {
                throw MqttProtocolException.Malformed("remaining length longer than 4 bytes");
            }

            multiplier *= 128;
        }

        long total = (long)index + remaining;
        if (total > maxPacketSize)
        {
            throw new MqttProtocolException(DisconnectReason.PacketTooLarge, $"packet of {total} bytes exceeds the maximum packet size {maxPacketSize}");
        }

        if (buffer.Length < total)
        {
            return false;
        }

        header = head[0];
        body = buffer.Slice(index, remaining);
        buffer = buffer.Slice(total);
        return true;
    }

    /// <summary>Number of bytes the Remaining Length field takes for a given length.</summary>
    public static int VariableByteIntegerSize(int value) => value < 128 ? 1 : value < 16_384 ? 2 : value < 2_097_152 ? 3 : 4;

    /// <summary>Writes a Variable Byte Integer; returns the bytes written.</summary>
    public static int WriteVariableByteInteger(Span<byte> destination, int value)
    {
        int i = 0;
        do
        {
            byte b = (byte)(value % 128);
            value /= 128;
            if (value > 0)
            {
                b |= 0x80;
            }

            destination[i++] = b;
        }
        while (value > 0);
        return i;
    }
}
