using System.Net.Sockets;

namespace SensorNode.Broker.Transport.Epoll;

/// <summary>
/// Accepts on a listening socket registered (level-triggered) with an epoll engine, and hands each client to the
/// listener on the engine's thread. Out of descriptors, the waiting client is accepted with the listener's reserve
/// descriptor and reset; when even that fails, accepting pauses for 50 ms instead of spinning.
/// </summary>
internal sealed unsafe class EpollAcceptor : IEpollTarget
{
    private const int MaxAcceptsPerEvent = 64;
    private const int AddressSize = 128;

    private readonly int _descriptor;
    private readonly TcpMqttListener _listener;
    private readonly EpollEngine _engine;
    private readonly Lock _gate = new();
    private bool _closed;

    private EpollAcceptor(int descriptor, TcpMqttListener listener, EpollEngine engine)
    {
        _descriptor = descriptor;
        _listener = listener;
        _engine = engine;
    }

    public ulong Token { get; set; }

    /// <summary>Starts accepting on a bound, listening socket (which stays owned by the caller, closed after <see cref="Close"/>).</summary>
    public static EpollAcceptor Start(Socket listening, TcpMqttListener listener)
    {
        listening.Blocking = false;
        var acceptor = new EpollAcceptor((int)listening.Handle, listener, EpollEngine.Next());
        if (acceptor._engine.Add(acceptor._descriptor, acceptor, LinuxSockets.EPOLLIN) == 0)
        {
            throw new IOException($"epoll_ctl: {LinuxSockets.Describe(LinuxSockets.Errno)}");
        }

        return acceptor;
    }

    /// <summary>Stops accepting; returns once no accept is in progress, so the socket may be closed.</summary>
    public void Close()
    {
        lock (_gate)
        {
            if (!_closed)
            {
                _closed = true;
                _engine.Remove(_descriptor, Token);
            }
        }
    }

    void IEpollTarget.OnEvents(uint events)
    {
        byte* address = stackalloc byte[AddressSize];
        for (int i = 0; i < MaxAcceptsPerEvent; i++)
        {
            int client;
            int addressLength = AddressSize;
            int errno = 0;
            lock (_gate)
            {
                if (_closed)
                {
                    return;
                }

                client = LinuxSockets.Accept(_descriptor, address, ref addressLength);
                if (client < 0)
                {
                    errno = LinuxSockets.Errno;
                    if (errno is LinuxSockets.EMFILE or LinuxSockets.ENFILE or LinuxSockets.ENOBUFS or LinuxSockets.ENOMEM)
                    {
                        RefuseOne(errno, address);
                        return;
                    }
                }
            }

            if (client >= 0)
            {
                _listener.Accepted(client, EpollConnection.PeerAddress.Parse(new ReadOnlySpan<byte>(address, Math.Min(addressLength, AddressSize))));
                continue;
            }

            // A client that left while waiting, or a network error of its own: the next one may be fine.
            if (errno is LinuxSockets.EINTR or LinuxSockets.ECONNABORTED or LinuxSockets.EPROTO or LinuxSockets.EPERM
                or LinuxSockets.ENETDOWN or LinuxSockets.ENETUNREACH or LinuxSockets.EHOSTDOWN or LinuxSockets.EHOSTUNREACH
                or LinuxSockets.ENONET or LinuxSockets.ENOPROTOOPT or LinuxSockets.EOPNOTSUPP)
            {
                continue;
            }

            if (errno != LinuxSockets.EAGAIN)
            {
                _listener.AcceptFailed(LinuxSockets.Describe(errno));
            }

            return;
        }
    }

    /// <summary>Out of descriptors: the reserve one is given back to accept the waiting client and reset it at once.</summary>
    private void RefuseOne(int errno, byte* address)
    {
        _listener.ReleaseReserve();
        int addressLength = AddressSize;
        int refused = LinuxSockets.Accept(_descriptor, address, ref addressLength);
        int refusedErrno = refused < 0 ? LinuxSockets.Errno : 0;
        if (refused >= 0)
        {
            LinuxSockets.SetResetOnClose(refused);
            LinuxSockets.Close(refused);
        }

        _listener.TakeReserve();

        // accept4 takes the descriptor before it looks at the queue: EMFILE may come with nobody waiting at all.
        if (refusedErrno == LinuxSockets.EAGAIN)
        {
            return;
        }

        _listener.NoteOutOfDescriptors(LinuxSockets.Describe(errno));
        if (refused < 0)
        {
            // Not even the reserve helped (the whole system is out): pause rather than spin on a level-triggered socket.
            _engine.Modify(_descriptor, Token, 0);
            Task.Delay(50).ContinueWith(static (_, state) => ((EpollAcceptor)state!).Resume(), this, TaskScheduler.Default);
        }
    }

    private void Resume()
    {
        lock (_gate)
        {
            if (!_closed)
            {
                _engine.Modify(_descriptor, Token, LinuxSockets.EPOLLIN);
            }
        }
    }
}
