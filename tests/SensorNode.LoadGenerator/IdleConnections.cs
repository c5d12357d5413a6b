using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;

namespace SensorNode.LoadGenerator;

/// <summary>
/// Opens N idle MQTT connections (clean session, keep alive 0) from one thread with plain non-blocking syscalls and
/// keeps them open until disposed. Up to <c>window</c> connections are in flight: each costs socket, connect and one
/// send of a pre-serialised CONNECT, then a recv of its CONNACK; the thread sleeps in poll only when none is ready.
/// </summary>
internal sealed unsafe class IdleConnections : IDisposable
{
    private const int ConnAckLength = 4;
    private const int PollSliceMs = 100;

    private readonly int[] _fds;
    private readonly byte[] _connect;
    private readonly int _digits;
    private readonly byte[] _sockAddr = new byte[Libc.SockAddrInLength];
    private Slot[] _slots = [];
    private int _inFlight;

    /// <param name="clientIdPrefix">Client ids are this prefix and the connection's index, zero-padded.</param>
    /// <param name="keepAlive">The CONNECT's keep alive in seconds (0: none); the connections send nothing after it.</param>
    public IdleConnections(IPAddress address, int port, int count, string clientIdPrefix, ushort keepAlive = 0)
    {
        _fds = new int[count];
        Array.Fill(_fds, -1);
        _digits = Math.Max(1, (count - 1).ToString(CultureInfo.InvariantCulture).Length);
        _connect = Packets.Connect(clientIdPrefix + new string('0', _digits), cleanSession: true, keepAlive);
        Libc.SockAddrIn(_sockAddr, address, port);
    }

    /// <summary>Connections whose CONNACK accepted them (open now).</summary>
    public int Open { get; private set; }

    private enum Stage : byte
    {
        Connecting,
        AwaitingConnAck,
    }

    /// <summary>Connects every connection once; those not accepted by <paramref name="limit"/> count as not open.</summary>
    public void ConnectAll(int window, TimeSpan limit)
    {
        _slots = new Slot[window];
        var polls = new Libc.PollFd[window];
        long deadline = Stopwatch.GetTimestamp() + (long)(limit.TotalSeconds * Stopwatch.Frequency);
        int next = 0;
        while ((next < _fds.Length || _inFlight > 0) && Stopwatch.GetTimestamp() < deadline)
        {
            while (_inFlight < window && next < _fds.Length)
            {
                Start(next++);
            }

            // Oldest first, up to the first one not ready: the broker answers roughly in order, so this usually
            // finishes several without a poll. Only when the oldest is not ready does the thread poll them all.
            int finished = 0;
            while (finished < _inFlight && Advance(ref _slots[finished]))
            {
                finished++;
            }

            RemoveFinished();
            if (finished == 0 && _inFlight > 0)
            {
                PollAndAdvance(polls);
            }
        }

        for (int i = 0; i < _inFlight; i++)
        {
            Libc.Abort(_slots[i].Fd);
        }

        _inFlight = 0;
    }

    public void Dispose()
    {
        for (int i = 0; i < _fds.Length; i++)
        {
            if (_fds[i] >= 0)
            {
                Libc.Abort(_fds[i]);
                _fds[i] = -1;
            }
        }

        Open = 0;
    }

    private void Start(int index)
    {
        int fd = Libc.Socket(Libc.AfInet, Libc.SockStream | Libc.SockNonBlock | Libc.SockCloexec, 0);
        if (fd < 0)
        {
            return;
        }

        int rc;
        fixed (byte* sa = _sockAddr)
        {
            rc = Libc.Connect(fd, sa, Libc.SockAddrInLength);
        }

        if (rc != 0 && Marshal.GetLastPInvokeError() != Libc.EInProgress)
        {
            _ = Libc.Close(fd);
            return;
        }

        // On loopback the handshake has completed by the time a non-blocking connect returns EINPROGRESS, so the
        // CONNECT goes out at once; only a dropped SYN (full accept queue) leaves the slot waiting for POLLOUT.
        _slots[_inFlight++] = new Slot { Fd = fd, Index = index, Stage = Stage.Connecting };
        Advance(ref _slots[_inFlight - 1]);
    }

    /// <summary>One non-blocking step; true when the slot is finished (open or failed).</summary>
    private bool Advance(ref Slot slot)
    {
        if (slot.Stage == Stage.Connecting)
        {
            if (!SendConnect(ref slot, out bool sent))
            {
                return Fail(ref slot);
            }

            if (!sent)
            {
                return false;
            }

            slot.Stage = Stage.AwaitingConnAck;
            return false;
        }

        byte* ack = stackalloc byte[ConnAckLength];
        nint n = Libc.Recv(slot.Fd, ack, ConnAckLength - slot.Received, 0);
        if (n < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            return errno is not (Libc.EAgain or Libc.EIntr) && Fail(ref slot);
        }

        if (n == 0)
        {
            return Fail(ref slot);
        }

        for (int k = 0; k < n; k++)
        {
            slot.Ack |= (uint)ack[k] << (8 * (slot.Received + k));
        }

        slot.Received += (int)n;
        if (slot.Received < ConnAckLength)
        {
            return false;
        }

        // 0x20 0x02 (CONNACK, remaining length 2), session present, return code 0.
        if ((slot.Ack & 0xFF00FFFF) != 0x00000220)
        {
            return Fail(ref slot);
        }

        _fds[slot.Index] = slot.Fd;
        slot.Fd = -1;
        Open++;
        return true;
    }

    /// <summary>False on a socket error; <paramref name="sent"/> false while the connection is not yet established.</summary>
    private bool SendConnect(ref Slot slot, out bool sent)
    {
        WriteIndex(slot.Index);
        nint n;
        fixed (byte* packet = _connect)
        {
            n = Libc.Send(slot.Fd, packet, _connect.Length, Libc.MsgNoSignal);
        }

        if (n < 0)
        {
            sent = false;
            return Marshal.GetLastPInvokeError() is Libc.EAgain or Libc.EIntr;
        }

        // A 30-byte packet into an empty socket buffer is never cut; if it were, the connection is counted failed.
        sent = n == _connect.Length;
        return sent;
    }

    private bool Fail(ref Slot slot)
    {
        Libc.Abort(slot.Fd);
        slot.Fd = -1;
        return true;
    }

    private void PollAndAdvance(Libc.PollFd[] polls)
    {
        for (int i = 0; i < _inFlight; i++)
        {
            polls[i] = new Libc.PollFd { Fd = _slots[i].Fd, Events = _slots[i].Stage == Stage.Connecting ? Libc.PollOut : Libc.PollIn };
        }

        int ready;
        fixed (Libc.PollFd* p = polls)
        {
            ready = Libc.Poll(p, (nuint)_inFlight, PollSliceMs);
        }

        if (ready <= 0)
        {
            return;
        }

        for (int i = 0; i < _inFlight; i++)
        {
            if (polls[i].Revents != 0)
            {
                Advance(ref _slots[i]);
            }
        }

        RemoveFinished();
    }

    /// <summary>Drops finished slots (their descriptor handed over or closed), keeping the rest in age order.</summary>
    private void RemoveFinished()
    {
        int kept = 0;
        for (int i = 0; i < _inFlight; i++)
        {
            if (_slots[i].Fd >= 0)
            {
                _slots[kept++] = _slots[i];
            }
        }

        _inFlight = kept;
    }

    private void WriteIndex(int index)
    {
        for (int i = _connect.Length - 1, left = _digits; left > 0; i--, left--)
        {
            _connect[i] = (byte)('0' + (index % 10));
            index /= 10;
        }
    }

    private struct Slot
    {
        public int Fd;
        public int Index;
        public Stage Stage;
        public int Received;
        public uint Ack;
    }
}
