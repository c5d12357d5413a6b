using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace SensorNode.LoadGenerator;

/// <summary>Receives the frames of one connection (called on that connection's receive loop only).</summary>
internal interface IFrameHandler
{
    void OnFrame(MqttLink link, byte header, ReadOnlySpan<byte> body);

    /// <summary>Called once per received chunk, after all its frames: the place to send batched acks.</summary>
    void AfterChunk(MqttLink link);
}

/// <summary>
/// One MQTT 3.1.1 client connection over a raw socket: synchronous, locked sends of whole buffers (so several
/// writers never interleave bytes) and one receive loop that parses frames in place from a reusable buffer.
/// </summary>
internal sealed class MqttLink : IDisposable
{
    private readonly object _sendLock = new();
    private byte[] _rx;
    private int _rxStart;
    private int _rxEnd;

    private MqttLink(Socket socket, int receiveBufferSize)
    {
        Socket = socket;
        _rx = new byte[receiveBufferSize];
    }

    public Socket Socket { get; }

    /// <summary>Acks waiting to be sent after the current chunk (receive loop only).</summary>
    public byte[] AckBuffer { get; } = new byte[64 * 1024];

    public int AckLength { get; set; }

    public static async Task<MqttLink> ConnectAsync(IPEndPoint endPoint, string clientId, bool cleanSession, ushort keepAlive, int receiveBufferSize, CancellationToken ct)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, ct);
            var link = new MqttLink(socket, receiveBufferSize);
            link.Send(Packets.Connect(clientId, cleanSession, keepAlive));
            (byte header, byte[] body) = await link.ReadFrameAsync(ct);
            if (header >> 4 != 2 || body.Length < 2 || body[1] != 0)
            {
                throw new IOException($"CONNECT of {clientId} refused (header {header:x2}, code {(body.Length > 1 ? body[1] : -1)})");
            }

            return link;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Send(ReadOnlySpan<byte> data)
    {
        lock (_sendLock)
        {
            while (!data.IsEmpty)
            {
                int n = Socket.Send(data, SocketFlags.None);
                data = data[n..];
            }
        }
    }

    public void FlushAcks()
    {
        if (AckLength > 0)
        {
            Send(AckBuffer.AsSpan(0, AckLength));
            AckLength = 0;
        }
    }

    public void QueueAck(byte type, ushort packetId)
    {
        if (AckLength + 4 > AckBuffer.Length)
        {
            FlushAcks();
        }

        Span<byte> s = AckBuffer.AsSpan(AckLength, 4);
        s[0] = (byte)((type << 4) | (type == 6 ? 0x02 : 0));
        s[1] = 2;
        BinaryPrimitives.WriteUInt16BigEndian(s[2..], packetId);
        AckLength += 4;
    }

    /// <summary>Slow path for the handshake: the next whole frame, body copied. Extra bytes stay buffered.</summary>
    public async Task<(byte Header, byte[] Body)> ReadFrameAsync(CancellationToken ct)
    {
        while (true)
        {
            if (TryParse(_rx.AsSpan(_rxStart, _rxEnd - _rxStart), out byte header, out int bodyStart, out int bodyLength, out int total))
            {
                byte[] body = _rx.AsSpan(_rxStart + bodyStart, bodyLength).ToArray();
                _rxStart += total;
                return (header, body);
            }

            await ReceiveMoreAsync(ct);
        }
    }

    /// <summary>Reads until the peer closes or <paramref name="ct"/> fires, handing every frame to <paramref name="handler"/>.</summary>
    public async Task RunAsync(IFrameHandler handler, CancellationToken ct)
    {
        try
        {
            while (true)
            {
                int consumed = ParseAll(handler);
                _rxStart += consumed;
                handler.AfterChunk(this);
                await ReceiveMoreAsync(ct);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
        {
        }
    }

    private int ParseAll(IFrameHandler handler)
    {
        ReadOnlySpan<byte> data = _rx.AsSpan(_rxStart, _rxEnd - _rxStart);
        int consumed = 0;
        while (TryParse(data[consumed..], out byte header, out int bodyStart, out int bodyLength, out int total))
        {
            handler.OnFrame(this, header, data.Slice(consumed + bodyStart, bodyLength));
            consumed += total;
        }

        return consumed;
    }

    private async Task ReceiveMoreAsync(CancellationToken ct)
    {
        if (_rxStart == _rxEnd)
        {
            _rxStart = _rxEnd = 0;
        }
        else if (_rxStart > 0)
        {
            Buffer.BlockCopy(_rx, _rxStart, _rx, 0, _rxEnd - _rxStart);
            _rxEnd -= _rxStart;
            _rxStart = 0;
        }

        if (_rxEnd == _rx.Length)
        {
            Array.Resize(ref _rx, _rx.Length * 2);
        }

        int n = await Socket.ReceiveAsync(_rx.AsMemory(_rxEnd), SocketFlags.None, ct);
        if (n == 0)
        {
            throw new IOException("connection closed by the broker");
        }

        _rxEnd += n;
    }

    private static bool TryParse(ReadOnlySpan<byte> data, out byte header, out int bodyStart, out int bodyLength, out int total)
    {
        header = 0;
        bodyStart = bodyLength = total = 0;
        if (data.Length < 2)
        {
            return false;
        }

        int remaining = 0;
        int multiplier = 1;
        int i = 1;
        while (true)
        {
            if (i >= data.Length || i > 4)
            {
                return false;
            }

            byte b = data[i++];
            remaining += (b & 0x7F) * multiplier;
            if ((b & 0x80) == 0)
            {
                break;
            }

            multiplier *= 128;
        }

        if (data.Length < i + remaining)
        {
            return false;
        }

        header = data[0];
        bodyStart = i;
        bodyLength = remaining;
        total = i + remaining;
        return true;
    }

    /// <summary>Closes with RST (linger 0): no TIME_WAIT left behind by thousands of benchmark sockets.</summary>
    public void Abort()
    {
        try
        {
            Socket.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
        }

        Socket.Dispose();
    }

    /// <summary>Sends DISCONNECT then closes.</summary>
    public void Disconnect()
    {
        try
        {
            Send([0xE0, 0x00]);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }

        Abort();
    }

    public void Dispose() => Abort();
}

/// <summary>Packet builders (cold path: handshake and templates).</summary>
internal static class Packets
{
    public static byte[] Connect(string clientId, bool cleanSession, ushort keepAlive)
    {
        byte[] id = Encoding.UTF8.GetBytes(clientId);
        var body = new List<byte> { 0, 4, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 4, (byte)(cleanSession ? 0x02 : 0), (byte)(keepAlive >> 8), (byte)keepAlive };
        body.Add((byte)(id.Length >> 8));
        body.Add((byte)id.Length);
        body.AddRange(id);
        return Frame(0x10, [.. body]);
    }

    public static byte[] Subscribe(ushort packetId, string filter, byte qos)
    {
        byte[] f = Encoding.UTF8.GetBytes(filter);
        var body = new List<byte> { (byte)(packetId >> 8), (byte)packetId, (byte)(f.Length >> 8), (byte)f.Length };
        body.AddRange(f);
        body.Add(qos);
        return Frame(0x82, [.. body]);
    }

    /// <summary>A whole PUBLISH; for QoS &gt; 0 the packet identifier sits at <paramref name="packetIdOffset"/>, the payload at <paramref name="payloadOffset"/>.</summary>
    public static byte[] Publish(string topic, byte qos, bool retain, int payloadLength, out int packetIdOffset, out int payloadOffset)
    {
        byte[] t = Encoding.UTF8.GetBytes(topic);
        int remaining = 2 + t.Length + (qos > 0 ? 2 : 0) + payloadLength;
        byte[] head = new byte[5];
        head[0] = (byte)(0x30 | (qos << 1) | (retain ? 1 : 0));
        int h = 1 + WriteLength(head.AsSpan(1), remaining);
        byte[] packet = new byte[h + remaining];
        head.AsSpan(0, h).CopyTo(packet);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(h), (ushort)t.Length);
        t.CopyTo(packet, h + 2);
        packetIdOffset = h + 2 + t.Length;
        payloadOffset = packetIdOffset + (qos > 0 ? 2 : 0);
        return packet;
    }

    private static byte[] Frame(byte header, byte[] body)
    {
        byte[] head = new byte[5];
        head[0] = header;
        int h = 1 + WriteLength(head.AsSpan(1), body.Length);
        byte[] frame = new byte[h + body.Length];
        head.AsSpan(0, h).CopyTo(frame);
        body.CopyTo(frame, h);
        return frame;
    }

    private static int WriteLength(Span<byte> s, int value)
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

            s[i++] = b;
        }
        while (value > 0);
        return i;
    }

    /// <summary>Splits a received PUBLISH body into packet id and payload.</summary>
    public static ReadOnlySpan<byte> PublishPayload(byte header, ReadOnlySpan<byte> body, out ushort packetId)
    {
        int qos = (header >> 1) & 3;
        int topicLength = BinaryPrimitives.ReadUInt16BigEndian(body);
        int i = 2 + topicLength;
        packetId = 0;
        if (qos > 0)
        {
            packetId = BinaryPrimitives.ReadUInt16BigEndian(body[i..]);
            i += 2;
        }

        return body[i..];
    }
}
