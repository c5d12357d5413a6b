using System.Buffers;
using System.Net.Sockets;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;

namespace SensorNode.Broker.Tests.Hardening;

/// <summary>
/// A raw socket for hardening tests: sends arbitrary bytes, reads whole packets with the broker's codec,
/// can half-close (FIN) or stop reading entirely. Every wait is bounded by a timeout.
/// </summary>
public sealed class Wire : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private byte[] _buffer = new byte[64 * 1024];
    private int _filled;

    private Wire(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    public ProtocolLevel Level { get; set; } = ProtocolLevel.V311;

    public Socket Socket => _tcp.Client;

    public static async Task<Wire> ConnectAsync(int port, int receiveBuffer = 0)
    {
        var tcp = new TcpClient { NoDelay = true };
        if (receiveBuffer > 0)
        {
            tcp.ReceiveBufferSize = receiveBuffer;
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await tcp.ConnectAsync("127.0.0.1", port, cts.Token);
        return new Wire(tcp);
    }

    public async Task SendAsync(byte[] bytes, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        await _stream.WriteAsync(bytes, cts.Token);
    }

    public Task SendAsync(MqttPacket packet) => SendAsync(MqttPacketWriter.ToArray(packet, Level));

    /// <summary>Next whole packet, null when the broker closed; throws TimeoutException when nothing came in time.</summary>
    public async Task<MqttPacket?> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            var sequence = new ReadOnlySequence<byte>(_buffer, 0, _filled);
            if (MqttFrameReader.TryReadFrame(ref sequence, int.MaxValue, out byte header, out ReadOnlySequence<byte> body))
            {
                MqttPacket packet = MqttPacketDecoder.Decode(header, body.ToArray(), Level, fromServer: true);
                int consumed = _filled - (int)sequence.Length;
                Buffer.BlockCopy(_buffer, consumed, _buffer, 0, _filled - consumed);
                _filled -= consumed;
                return packet;
            }

            if (_filled == _buffer.Length)
            {
                Array.Resize(ref _buffer, _buffer.Length * 2);
            }

            int read;
            try
            {
                read = await _stream.ReadAsync(_buffer.AsMemory(_filled), cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException("no packet and no close within the timeout");
            }
            catch (IOException)
            {
                return null;
            }

            if (read == 0)
            {
                return null;
            }

            _filled += read;
        }
    }

    public async Task<T> ExpectAsync<T>(TimeSpan? timeout = null)
        where T : MqttPacket
    {
        MqttPacket? packet = await ReceiveAsync(timeout);
        return Assert.IsType<T>(packet);
    }

    public void ShutdownSend() => _tcp.Client.Shutdown(SocketShutdown.Send);

    public void Abort()
    {
        try
        {
            _tcp.Client.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
        }

        _tcp.Close();
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }
}
