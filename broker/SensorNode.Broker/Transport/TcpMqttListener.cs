using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace SensorNode.Broker.Transport;

/// <summary>
/// The plain-TCP MQTT listener, handing each client to an <see cref="MqttConnection"/>. On Linux the clients are
/// served by the epoll transport (<see cref="Epoll.EpollConnection"/>: no .NET socket objects, no buffer while
/// idle); elsewhere, or with <see cref="BrokerOptions.UseEpollTransport"/> off, by an accept loop per bound socket
/// and a <see cref="SocketConnection"/>. MQTT over TLS and WebSocket stay on Kestrel (their handshakes are what it
/// is for); plain TCP, where thousands of mostly idle sensors sit, does without Kestrel's two pipes and two socket
/// loops per connection, which cost several KB each (issue #9).
/// </summary>
internal sealed class TcpMqttListener : IAsyncDisposable
{
    private const int Backlog = 1024;

    /// <summary>What a closing connection may take beyond the flush deadline: its last flushes and the linger.</summary>
    public static readonly TimeSpan CloseAllowance = TimeSpan.FromSeconds(3);

    private readonly MqttBroker _broker;
    private readonly ILogger _logger;
    private readonly List<Socket> _sockets = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly List<Epoll.EpollAcceptor> _acceptors = [];
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _reserveGate = new();
    private Microsoft.Win32.SafeHandles.SafeFileHandle? _reserve;
    private int _refusedForDescriptors;
    private long _lastDescriptorWarning = long.MinValue / 2;
    private int _active = 1;
    private int _stopped;

    public TcpMqttListener(MqttBroker broker)
    {
        _broker = broker;
        _logger = broker.LoggerFactory.CreateLogger("SensorNode.Broker.Listener");
    }

    /// <summary>The endpoints bound, with the real port where 0 was asked for.</summary>
    public IReadOnlyList<IPEndPoint> EndPoints => [.. _sockets.Select(s => (IPEndPoint)s.LocalEndPoint!)];

    /// <summary>Binds every endpoint (all or none: a failure closes what was bound) and starts accepting.</summary>
    public void Start(IEnumerable<IPEndPoint> endPoints)
    {
        IPEndPoint? binding = null;
        try
        {
            foreach (IPEndPoint endPoint in endPoints)
            {
                binding = endPoint;
                var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                _sockets.Add(socket);
                if (endPoint.AddressFamily == AddressFamily.InterNetworkV6 && endPoint.Address.Equals(IPAddress.IPv6Any))
                {
                    socket.DualMode = true;
                }

                // No ReuseAddress: on Linux .NET maps it to SO_REUSEPORT as well, and a second broker could then bind
                // the same port and take a share of its connections. The runtime sets SO_REUSEADDR on TCP sockets
                // itself, so a restarted broker still binds at once while old connections sit in TIME_WAIT.
                socket.Bind(endPoint);
                socket.Listen(Backlog);
            }
        }
        catch (SocketException ex)
        {
            CloseListeningSockets();
            throw new IOException($"{binding}: {ex.Message}", ex);
        }

        TakeReserve();
        foreach (Socket socket in _sockets)
        {
            if (_broker.Options.UseEpollTransport && OperatingSystem.IsLinux())
            {
                _acceptors.Add(Epoll.EpollAcceptor.Start(socket, this));
            }
            else
            {
                _acceptLoops.Add(AcceptLoopAsync(socket));
            }
        }
    }

    /// <summary>A client accepted by the epoll transport: its MQTT connection starts here, on the engine's thread.</summary>
    internal void Accepted(int descriptor, in Epoll.EpollConnection.PeerAddress peer)
    {
        if (Volatile.Read(ref _stopped) != 0)
        {
            // Accepted just before the listener closed: the broker is going away.
            Epoll.LinuxSockets.Close(descriptor);
            return;
        }

        if (Epoll.EpollConnection.Register(descriptor, peer, this, out int errno) is not { } connection)
        {
            _logger.LogWarning("An accepted MQTT connection could not be registered with epoll: {Error}", Epoll.LinuxSockets.Describe(errno));
            return;
        }

        Interlocked.Increment(ref _active);
        _ = new MqttConnection(connection, _broker, ownsTransport: true).RunAsync();
    }

    internal void AcceptFailed(string error) => _logger.LogWarning("Accepting an MQTT connection failed: {Error}", error);

    private async Task AcceptLoopAsync(Socket listening)
    {
        while (Volatile.Read(ref _stopped) == 0)
        {
            Socket client;
            try
            {
                client = await listening.AcceptAsync();
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex) when (Volatile.Read(ref _stopped) != 0 || ex.SocketErrorCode == SocketError.OperationAborted)
            {
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable)
            {
                // Out of descriptors: the connection waiting in the backlog is closed at once (with the reserve
                // descriptor) rather than left hanging, the clients already here keep being served, and no loop spins.
                await RefuseOneAsync(listening, ex);
                continue;
            }
            catch (SocketException ex)
            {
                _logger.LogWarning("Accepting an MQTT connection failed: {Error} ({Message})", ex.SocketErrorCode, ex.Message);
                await Task.Delay(50);
                continue;
            }

            try
            {
                client.NoDelay = true;
                var connection = new SocketConnection(client, this);
                Interlocked.Increment(ref _active);
                ThreadPool.UnsafeQueueUserWorkItem(connection, preferLocal: false);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // The peer reset before we got to it.
                _logger.LogDebug("Accepted MQTT connection lost at once: {Message}", ex.Message);
                client.Dispose();
            }
        }
    }

    public MqttBroker Broker => _broker;

    /// <summary>
    /// Out of file descriptors: gives the reserve one back, accepts the next waiting connection only to close it (its
    /// client sees the connection end and retries later, instead of hanging unanswered), and takes the reserve again.
    /// Logged once per 10 seconds with the count.
    /// </summary>
    private async Task RefuseOneAsync(Socket listening, SocketException error)
    {
        NoteOutOfDescriptors(error.Message);
        ReleaseReserve();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
            using Socket refusedSocket = await listening.AcceptAsync(timeout.Token);
            refusedSocket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // Nothing was waiting, or still no descriptor: wait a little rather than spin.
            await Task.Delay(50);
        }
        finally
        {
            TakeReserve();
        }
    }

    /// <summary>Counts a connection refused for lack of descriptors; logged once per 10 seconds with the count.</summary>
    internal void NoteOutOfDescriptors(string error)
    {
        int refused = Interlocked.Increment(ref _refusedForDescriptors);
        long now = Environment.TickCount64;
        if (now - Interlocked.Read(ref _lastDescriptorWarning) >= 10_000)
        {
            Interlocked.Exchange(ref _lastDescriptorWarning, now);
            _logger.LogWarning(
                "Out of file descriptors ({Message}): refusing new MQTT connections ({Count} so far); raise the limit (LimitNOFILE, ulimit -n) or lower the load",
                error, refused);
        }
    }

    internal void ReleaseReserve()
    {
        lock (_reserveGate)
        {
            _reserve?.Dispose();
            _reserve = null;
        }
    }

    /// <summary>Holds one descriptor (/dev/null) in reserve for refusing connections once the process runs out.</summary>
    internal void TakeReserve()
    {
        lock (_reserveGate)
        {
            if (Volatile.Read(ref _stopped) != 0)
            {
                return;
            }

            try
            {
                _reserve ??= OperatingSystem.IsWindows() ? null : File.OpenHandle("/dev/null");
            }
            catch (IOException)
            {
                // Taken back on the next refusal.
            }
        }
    }

    /// <summary>A connection has closed its socket.</summary>
    internal void ConnectionEnded()
    {
        if (Interlocked.Decrement(ref _active) == 0)
        {
            _drained.TrySetResult();
        }
    }

    /// <summary>
    /// Stops accepting and waits (up to <paramref name="timeout"/>) for the connections to end; the broker has
    /// asked them to flush and close (<see cref="MqttBroker.BeginShutdown"/>).
    /// </summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        CloseListeningSockets();
        foreach (Task loop in _acceptLoops)
        {
            try
            {
                await loop;
            }
            catch (Exception ex)
            {
                _logger.LogError(ex, "An MQTT accept loop failed");
            }
        }

        ConnectionEnded();

        // The connections were asked to flush and close (MqttBroker.BeginShutdown); their close takes its own flushes
        // and a linger on top of the flush deadline. Those still open after that are cut.
        if (await Task.WhenAny(_drained.Task, Task.Delay(timeout + CloseAllowance)) != _drained.Task)
        {
            _logger.LogWarning("{Count} MQTT connections did not close within {Timeout}: cutting them", Volatile.Read(ref _active), timeout + CloseAllowance);
            _broker.CloseAll(Protocol.DisconnectReason.ServerShuttingDown);
            await Task.WhenAny(_drained.Task, Task.Delay(CloseAllowance));
        }
    }

    private void CloseListeningSockets()
    {
        ReleaseReserve();
        foreach (Epoll.EpollAcceptor acceptor in _acceptors)
        {
            acceptor.Close();
        }

        foreach (Socket socket in _sockets)
        {
            socket.Dispose();
        }
    }

    public TimeSpan ShutdownTimeout => _broker.Options.ShutdownTimeout;

    public async ValueTask DisposeAsync() => await StopAsync(ShutdownTimeout);
}
