using System.Buffers;
using System.Net.Sockets;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;

namespace SensorNode.Broker.Tests.Infrastructure;

/// <summary>
/// A bare TCP socket to the broker for tests that need bytes no client library would send: malformed
/// packets, half-open sockets (FIN), a socket that stops reading, exact flag checks. Reads whole packets with the
/// broker's codec, in the protocol version of <see cref="Level"/>. Every wait is bounded by a timeout.
/// </summary>
public sealed class RawMqttClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private byte[] _buffer = new byte[64 * 1024];
    private int _filled;

    private RawMqttClient(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    /// <param name="receiveBuffer">A small socket receive buffer (bytes), for tests where the client stops reading; 0 for the default.</param>
    public static async Task<RawMqttClient> ConnectAsync(int port, int receiveBuffer = 0)
    {
        var tcp = new TcpClient { NoDelay = true };
        if (receiveBuffer > 0)
        {
            tcp.ReceiveBufferSize = receiveBuffer;
        }

        using var cts = new CancellationTokenSource(TestBroker.Timeout);
        await tcp.ConnectAsync("127.0.0.1", port, cts.Token);
        return new RawMqttClient(tcp);
    }

    public Socket Socket => _tcp.Client;

    /// <summary>Opens a socket and completes an MQTT 3.1.1 CONNECT; asserts the CONNACK accepts it.</summary>
    public static async Task<RawMqttClient> ConnectMqttAsync(int port, string clientId, bool cleanSession = true, ushort keepAlive = 60, WillMessage? will = null)
    {
        RawMqttClient client = await ConnectAsync(port);
        await client.SendAsync(new ConnectPacket { ClientId = clientId, CleanSession = cleanSession, KeepAliveSeconds = keepAlive, Will = will });
        var connAck = Assert.IsType<ConnAckPacket>(await client.ReceiveAsync());
        Assert.Equal(ConnectReturnCode.Accepted, connAck.ReturnCode);
        return client;
    }

    /// <summary>
    /// Protocol version the packets of this connection are encoded and decoded with: 3.1.1 rules by default,
    /// MQTT 5.0 (properties, reason codes) once set to <see cref="ProtocolLevel.V500"/>.
    /// </summary>
    public ProtocolLevel Level { get; set; } = ProtocolLevel.V311;

    /// <summary>
    /// Opens a socket and sends an MQTT 5.0 CONNECT (further fields set by <paramref name="configure"/>); returns the
    /// client, now decoding with 5.0 rules, and the CONNACK, whatever its reason code.
    /// </summary>
    public static async Task<(RawMqttClient Client, ConnAckPacket ConnAck)> ConnectV5Async(int port, string clientId, Action<ConnectPacket>? configure = null)
    {
        RawMqttClient client = await ConnectAsync(port);
        client.Level = ProtocolLevel.V500;
        var connect = new ConnectPacket { ProtocolLevel = ProtocolLevel.V500, ClientId = clientId, CleanStart = true, KeepAliveSeconds = 60 };
        configure?.Invoke(connect);
        await client.SendAsync(connect);
        MqttPacket? reply = await client.ReceiveAsync();
        return (client, Assert.IsType<ConnAckPacket>(reply));
    }

    /// <summary>As <see cref="ConnectV5Async"/>, asserting the CONNACK reason code is Success.</summary>
    public static async Task<RawMqttClient> ConnectV5AcceptedAsync(int port, string clientId, Action<ConnectPacket>? configure = null)
    {
        (RawMqttClient client, ConnAckPacket connAck) = await ConnectV5Async(port, clientId, configure);
        Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
        return client;
    }

    public Task SendAsync(MqttPacket packet) => SendAsync(MqttPacketWriter.ToArray(packet, Level));

    public async Task SendAsync(byte[] bytes, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestBroker.Timeout);
        await _stream.WriteAsync(bytes, cts.Token);
        await _stream.FlushAsync(cts.Token);
    }

    /// <summary>The size on the wire of the packet <see cref="ReceiveAsync"/> returned last (fixed header included).</summary>
    public int LastPacketSize { get; private set; }

    /// <summary>Receives the next whole packet, or null when the broker closed the connection; throws TimeoutException when nothing came in time.</summary>
    public async Task<MqttPacket?> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestBroker.Timeout);
        while (true)
        {
            var sequence = new ReadOnlySequence<byte>(_buffer, 0, _filled);
            if (MqttFrameReader.TryReadFrame(ref sequence, int.MaxValue, out byte header, out ReadOnlySequence<byte> body))
            {
                MqttPacket packet = MqttPacketDecoder.Decode(header, body.ToArray(), Level, fromServer: true);
                int consumed = _filled - (int)sequence.Length;
                LastPacketSize = consumed;
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

    /// <summary>Asserts the broker closes the connection (EOF or reset) without sending anything further.</summary>
    public async Task AssertClosedAsync(TimeSpan? timeout = null)
    {
        MqttPacket? packet = await ReceiveAsync(timeout);
        Assert.Null(packet);
    }

    public async Task<T> ExpectAsync<T>(TimeSpan? timeout = null)
        where T : MqttPacket
    {
        MqttPacket? packet = await ReceiveAsync(timeout);
        return Assert.IsType<T>(packet);
    }

    /// <summary>Half-closes: a FIN after what was sent, the socket still reads.</summary>
    public void ShutdownSend() => _tcp.Client.Shutdown(SocketShutdown.Send);

    /// <summary>Closes with a reset instead of a FIN.</summary>
    public void Abort()
    {
        try
        {
            _tcp.Client.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
            // Already reset by the broker.
        }

        _tcp.Close();
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }
}
