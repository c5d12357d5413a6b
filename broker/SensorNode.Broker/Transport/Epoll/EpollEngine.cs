using System.Runtime.InteropServices;

namespace SensorNode.Broker.Transport.Epoll;

/// <summary>Something registered with an <see cref="EpollEngine"/>: a listening socket or a connection.</summary>
internal interface IEpollTarget
{
    /// <summary>The target's registration (slot and generation), set by the engine before the descriptor is added.</summary>
    ulong Token { get; set; }

    /// <summary>Readiness reported by epoll, on the engine's thread; must not throw and must not block.</summary>
    void OnEvents(uint events);
}

/// <summary>
/// One epoll instance and the thread that waits on it. Targets are found through a slot table whose tokens carry a
/// generation, checked against the target's own token: an event still in flight for a target that has just closed
/// (its descriptor perhaps reused) finds nothing instead of the wrong target. Engines live for the process, as the
/// runtime's own socket engines do.
/// </summary>
internal sealed unsafe class EpollEngine
{
    private const int MaxEvents = 256;

    private static readonly Lazy<EpollEngine[]> AllEngines = new(CreateEngines);
    private static int s_nextEngine;

    [ThreadStatic]
    private static EpollEngine? t_current;

    private readonly int _epoll;
    private readonly Lock _slotsGate = new();
    private IEpollTarget?[] _slots = new IEpollTarget?[64];
    private uint[] _generations = new uint[64];
    private int[] _free = new int[64];
    private int _freeCount;
    private int _used;

    // Readers that yielded during one round (engine thread only), resumed after the next round's events.
    private List<EpollPipeReader> _yielded = [];
    private List<EpollPipeReader> _resuming = [];

    private EpollEngine(int index)
    {
        _epoll = LinuxSockets.EpollCreate();
        if (_epoll < 0)
        {
            throw new IOException($"epoll_create1: {LinuxSockets.Describe(LinuxSockets.Errno)}");
        }

        var thread = new Thread(Run) { IsBackground = true, Name = $"sensornode-epoll-{index}" };
        thread.UnsafeStart();
    }

    /// <summary>The engines, created on first use: <see cref="ThreadCount"/> of them.</summary>
    public static EpollEngine[] All => AllEngines.Value;

    /// <summary>
    /// One engine unless <c>SENSORNODE_IO_THREADS</c> asks for more (at most one per core). One thread handles every
    /// plain-TCP client's packets in the order epoll reports them, nearly always the order they arrived, as in
    /// Mosquitto: a SUBSCRIBE that arrived before another client's PUBLISH is then in place for it. With a thread per
    /// core, packets of two clients that arrive together were often handled in either order (MQTT orders only within
    /// one connection), which surprised test suites that expect otherwise (the Paho interoperability suite, now and
    /// then). Epoll does not promise that order across connections either, so it is not a guarantee. One core routes
    /// millions of messages a second (bench/RESULTS.md), more than a sensor network sends.
    /// </summary>
    public static int ThreadCount { get; } = Math.Clamp(
        int.TryParse(Environment.GetEnvironmentVariable("SENSORNODE_IO_THREADS"), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int threads) ? threads : 1,
        1,
        Math.Max(1, Environment.ProcessorCount));

    /// <summary>The engine for the next connection (round robin).</summary>
    public static EpollEngine Next()
    {
        EpollEngine[] engines = All;
        return engines[(int)((uint)Interlocked.Increment(ref s_nextEngine) % (uint)engines.Length)];
    }

    private static EpollEngine[] CreateEngines()
    {
        var engines = new EpollEngine[ThreadCount];
        for (int i = 0; i < engines.Length; i++)
        {
            engines[i] = new EpollEngine(i);
        }

        return engines;
    }

    /// <summary>Registers <paramref name="fd"/>; returns the token to pass to <see cref="Remove"/>, or 0 with errno set.</summary>
    public ulong Add(int fd, IEpollTarget target, uint events)
    {
        ulong token = Allocate(target);
        target.Token = token;
        if (LinuxSockets.EpollAdd(_epoll, fd, events, token) != 0)
        {
            int errno = LinuxSockets.Errno;
            Free(token);
            Marshal.SetLastPInvokeError(errno);
            return 0;
        }

        return token;
    }

    /// <summary>
    /// Called by a reader that has read many times in a row without waiting: on an engine's thread it is resumed after
    /// the connections that are ready meanwhile (true); elsewhere (a pool thread) it reads on (false).
    /// </summary>
    public static bool TryYield(EpollPipeReader reader)
    {
        if (t_current is not { } engine)
        {
            return false;
        }

        engine._yielded.Add(reader);
        return true;
    }

    public void Modify(int fd, ulong token, uint events) => LinuxSockets.EpollModify(_epoll, fd, events, token);

    /// <summary>Unregisters a descriptor before it is closed; events already returned for it find an empty slot.</summary>
    public void Remove(int fd, ulong token)
    {
        LinuxSockets.EpollDelete(_epoll, fd);
        Free(token);
    }

    private ulong Allocate(IEpollTarget target)
    {
        lock (_slotsGate)
        {
            int index;
            if (_freeCount > 0)
            {
                index = _free[--_freeCount];
            }
            else
            {
                if (_used == _slots.Length)
                {
                    Array.Resize(ref _generations, _used * 2);
                    IEpollTarget?[] grown = new IEpollTarget?[_used * 2];
                    Array.Copy(_slots, grown, _used);
                    Volatile.Write(ref _slots, grown);
                }

                index = _used++;
            }

            uint generation = ++_generations[index];
            Volatile.Write(ref _slots[index], target);
            return ((ulong)generation << 32) | (uint)index;
        }
    }

    private void Free(ulong token)
    {
        lock (_slotsGate)
        {
            int index = (int)(uint)token;
            if (_generations[index] != (uint)(token >> 32) || _slots[index] is null)
            {
                return;
            }

            Volatile.Write(ref _slots[index], null);
            if (_freeCount == _free.Length)
            {
                Array.Resize(ref _free, _free.Length * 2);
            }

            _free[_freeCount++] = index;
        }
    }

    private IEpollTarget? Find(ulong token)
    {
        int index = (int)(uint)token;
        IEpollTarget?[] slots = Volatile.Read(ref _slots);
        if ((uint)index >= (uint)slots.Length)
        {
            return null;
        }

        IEpollTarget? target = Volatile.Read(ref slots[index]);
        return target is not null && target.Token == token ? target : null;
    }

    private void Run()
    {
        t_current = this;
        byte* events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * LinuxSockets.EpollEventSize));
        while (true)
        {
            // Readers that yielded last round go on after this round's events; with any waiting, the wait only polls.
            (_yielded, _resuming) = (_resuming, _yielded);
            int count = LinuxSockets.EpollWait(_epoll, events, MaxEvents, _resuming.Count > 0 ? 0 : -1);
            if (count < 0)
            {
                if (LinuxSockets.Errno != LinuxSockets.EINTR)
                {
                    // Cannot happen with a valid epoll descriptor; never spin.
                    Thread.Sleep(10);
                }

                count = 0;
            }

            // Output the events' handlers signal goes out once they have all run: one write per socket per wake-up.
            int batch = OutputBatch.Begin();
            for (int i = 0; i < count; i++)
            {
                LinuxSockets.ReadEvent(events, i, out uint mask, out ulong token);
                try
                {
                    Find(token)?.OnEvents(mask);
                }
                catch (Exception ex)
                {
                    // A bug in one target must not take every connection of this engine (and the process) with it.
                    Console.Error.WriteLine($"sensornode: epoll engine event handler failed: {ex}");
                }
            }

            foreach (EpollPipeReader reader in _resuming)
            {
                try
                {
                    reader.Resume();
                }
                catch (Exception ex)
                {
                    Console.Error.WriteLine($"sensornode: epoll engine resuming a read failed: {ex}");
                }
            }

            _resuming.Clear();
            OutputBatch.End(batch);
        }
    }
}
