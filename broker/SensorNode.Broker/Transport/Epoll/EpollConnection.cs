using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;

namespace SensorNode.Broker.Transport.Epoll;

/// <summary>
/// One accepted plain-TCP client on Linux: its descriptor, registered edge-triggered with an <see cref="EpollEngine"/>,
/// read and written through <see cref="EpollPipeReader"/> and <see cref="EpollPipeWriter"/>. Three small objects and
/// no buffer while idle, where a .NET <c>Socket</c> with stream pipes costs about 2.4 KB (issue #9). The descriptor is
/// closed only by <see cref="DisposeAsync"/>, which the MQTT engine calls once its read loop has ended and its writer
/// has stopped (no wait is armed then, so the engine thread cannot touch the descriptor after it is closed); an abort
/// only shuts it down, which wakes any wait.
/// </summary>
internal sealed class EpollConnection : PlainTcpConnection, IEpollTarget
{
    private const uint Interest = LinuxSockets.EPOLLIN | LinuxSockets.EPOLLOUT | LinuxSockets.EPOLLRDHUP | LinuxSockets.EPOLLET;

    // Only tells the writer not to send what is left; never thrown, so one instance serves every connection.
    private static readonly ConnectionAbortedException AbortedReason = new("the connection was aborted");

    private readonly EpollEngine _engine;
    private readonly TcpMqttListener _listener;
    private readonly EpollPipeReader _input;
    private readonly EpollPipeWriter _output;
    private readonly PeerAddress _peer;
    private int _aborted;
    private int _disposed;

    // The reader is private to this connection and otherwise unlocked: its monitor costs no extra object.
    private object CloseGate => _input;

    private EpollConnection(int descriptor, in PeerAddress peer, EpollEngine engine, TcpMqttListener listener)
    {
        Descriptor = descriptor;
        _peer = peer;
        _engine = engine;
        _listener = listener;
        _input = new EpollPipeReader(this);
        _output = new EpollPipeWriter(this);
    }

    /// <summary>Takes an accepted descriptor: registers it with an engine, or closes it and returns null (with the error) when that fails.</summary>
    public static EpollConnection? Register(int descriptor, in PeerAddress peer, TcpMqttListener listener, out int errno)
    {
        EpollEngine engine = EpollEngine.Next();
        var connection = new EpollConnection(descriptor, peer, engine, listener);
        LinuxSockets.SetNoDelay(descriptor);
        errno = 0;
        if (engine.Add(descriptor, connection, Interest) == 0)
        {
            errno = LinuxSockets.Errno;
            LinuxSockets.Close(descriptor);
            return null;
        }

        return connection;
    }

    public int Descriptor { get; }

    public ulong Token { get; set; }

    public override PipeReader Input => _input;

    public override PipeWriter Output => _output;

    protected override long SocketHandle => Descriptor;

    /// <summary>Made on each call from the address accept returned (kept as 20 bytes, not as two objects).</summary>
    public override EndPoint? RemoteEndPoint
    {
        get => _peer.ToEndPoint();
        set => throw new NotSupportedException();
    }

    public override EndPoint? LocalEndPoint
    {
        get => null;
        set => throw new NotSupportedException();
    }

    void IEpollTarget.OnEvents(uint events)
    {
        if ((events & (LinuxSockets.EPOLLIN | LinuxSockets.EPOLLRDHUP | LinuxSockets.EPOLLHUP | LinuxSockets.EPOLLERR)) != 0)
        {
            _input.OnReadable(hangUp: (events & (LinuxSockets.EPOLLRDHUP | LinuxSockets.EPOLLHUP | LinuxSockets.EPOLLERR)) != 0);
        }

        if ((events & (LinuxSockets.EPOLLOUT | LinuxSockets.EPOLLHUP | LinuxSockets.EPOLLERR)) != 0)
        {
            _output.OnWritable();
        }
    }

    /// <summary>Cuts the connection: both directions shut down (waking a pending read or flush); the descriptor stays open until disposal.</summary>
    public override void Abort(ConnectionAbortedException abortReason)
    {
        // Under the same lock as the close: a descriptor number closed and reused must never be shut down.
        lock (CloseGate)
        {
            if (Interlocked.Exchange(ref _aborted, 1) == 0 && _disposed == 0)
            {
                LinuxSockets.Shutdown(Descriptor, LinuxSockets.SHUT_RDWR);
            }
        }
    }

    public override async ValueTask DisposeAsync()
    {
        lock (CloseGate)
        {
            if (_disposed != 0)
            {
                return;
            }

            _disposed = 1;
        }

        bool aborted = Volatile.Read(ref _aborted) != 0;
        _output.Complete(aborted ? AbortedReason : null);
        if (!aborted)
        {
            await LingerAsync();
        }

        _input.Complete();
        lock (CloseGate)
        {
            _engine.Remove(Descriptor, Token);
            LinuxSockets.Close(Descriptor);
        }

        _listener.ConnectionEnded();
        await base.DisposeAsync();
    }

    /// <summary>
    /// A graceful close: our side is shut (FIN after the last byte), then what the peer still sends is read and dropped
    /// until it closes too, for at most a second and 64 KB. Closing with unread input would send a reset instead, which
    /// makes the peer's stack drop the last packets we sent it.
    /// </summary>
    private async ValueTask LingerAsync()
    {
        LinuxSockets.Shutdown(Descriptor, LinuxSockets.SHUT_WR);

        // A cancel the engine's read loop left behind (a close requested while it was busy) is not the linger's own.
        _input.ForgetCancel();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        using CancellationTokenRegistration cancel = timeout.Token.Register(static o => ((PipeReader)o!).CancelPendingRead(), _input);
        try
        {
            for (long total = 0; total < 64 * 1024;)
            {
                ReadResult result = await _input.ReadAsync();
                total += result.Buffer.Length;
                _input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (IOException)
        {
            // A socket error (a reset is an end of stream): the descriptor is closed now either way.
        }
    }

    /// <summary>The peer's address as accept returned it: IPv4, or IPv6 (IPv4-mapped on a dual-mode listener).</summary>
    internal readonly struct PeerAddress
    {
        private const ushort AfInet = 2;
        private const ushort AfInet6 = 10;

        private readonly ulong _high;
        private readonly ulong _low;
        private readonly uint _scopeId;
        private readonly ushort _port;
        private readonly bool _v6;

        private PeerAddress(ulong high, ulong low, uint scopeId, ushort port, bool v6)
        {
            _high = high;
            _low = low;
            _scopeId = scopeId;
            _port = port;
            _v6 = v6;
        }

        /// <summary>Reads a sockaddr_in or sockaddr_in6.</summary>
        public static PeerAddress Parse(ReadOnlySpan<byte> sockaddr)
        {
            ushort family = BitConverter.ToUInt16(sockaddr);
            ushort port = BinaryPrimitives.ReadUInt16BigEndian(sockaddr[2..]);
            return family switch
            {
                AfInet => new PeerAddress(0, BinaryPrimitives.ReadUInt32BigEndian(sockaddr[4..]), 0, port, v6: false),
                AfInet6 => new PeerAddress(BinaryPrimitives.ReadUInt64BigEndian(sockaddr[8..]), BinaryPrimitives.ReadUInt64BigEndian(sockaddr[16..]), BitConverter.ToUInt32(sockaddr[24..]), port, v6: true),
                _ => default,
            };
        }

        public IPEndPoint? ToEndPoint()
        {
            if (_port == 0 && _high == 0 && _low == 0)
            {
                return null;
            }

            Span<byte> bytes = stackalloc byte[16];
            if (!_v6)
            {
                BinaryPrimitives.WriteUInt32BigEndian(bytes, (uint)_low);
                return new IPEndPoint(new IPAddress(bytes[..4]), _port);
            }

            BinaryPrimitives.WriteUInt64BigEndian(bytes, _high);
            BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], _low);
            return new IPEndPoint(new IPAddress(bytes, _scopeId), _port);
        }
    }
}
