using System.Runtime.InteropServices;

namespace SensorNode.LoadGenerator;

/// <summary>
/// The few Linux calls the generator makes directly: the idle scenario's connect loop (one syscall each, no Socket
/// object, SafeHandle, endpoint serialisation or epoll registration per connection) and the fixed-rate pacer's
/// precise sleep. Constants are the generic Linux ones (x86-64 and arm64 alike).
/// </summary>
internal static unsafe partial class Libc
{
    public const int AfInet = 2;
    public const int SockStream = 1;
    public const int SockNonBlock = 0x800;
    public const int SockCloexec = 0x80000;
    public const int MsgNoSignal = 0x4000;
    public const int SolSocket = 1;
    public const int SoLinger = 13;
    public const short PollIn = 0x1;
    public const short PollOut = 0x4;
    public const short PollErr = 0x8;
    public const short PollHup = 0x10;
    public const int EIntr = 4;
    public const int EAgain = 11;
    public const int EInProgress = 115;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);

    [LibraryImport("libc", EntryPoint = "connect", SetLastError = true)]
    public static partial int Connect(int fd, byte* address, int addressLength);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    public static partial nint Send(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "recv", SetLastError = true)]
    public static partial nint Recv(int fd, byte* buffer, nint length, int flags);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "setsockopt", SetLastError = true)]
    public static partial int SetSockOpt(int fd, int level, int name, void* value, int length);

    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int Close(int fd);

    private const int ClockMonotonic = 1;
    private const int TimerAbsTime = 1;
    private const int PrSetTimerSlack = 29;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_nanosleep")]
    private static partial int ClockNanoSleep(int clock, int flags, TimeSpec* request, TimeSpec* remain);

    [LibraryImport("libc", EntryPoint = "prctl")]
    private static partial int PrCtl(int option, nuint argument2, nuint argument3, nuint argument4, nuint argument5);

    /// <summary>
    /// Makes this thread's timed sleeps end when asked: the kernel otherwise lets them run up to 50 µs late to
    /// group wake-ups, half the gap between two messages at 10,000 msg/s.
    /// </summary>
    public static void UsePreciseTimers() => _ = PrCtl(PrSetTimerSlack, 1, 0, 0, 0);

    /// <summary>Sleeps until CLOCK_MONOTONIC (the clock of <see cref="System.Diagnostics.Stopwatch"/> on Linux) reads <paramref name="nanoseconds"/>.</summary>
    public static void SleepUntil(long nanoseconds)
    {
        var until = new TimeSpec { Seconds = nanoseconds / 1_000_000_000, Nanoseconds = nanoseconds % 1_000_000_000 };
        while (ClockNanoSleep(ClockMonotonic, TimerAbsTime, &until, null) == EIntr)
        {
        }
    }

    public const int SockAddrInLength = 16;

    /// <summary>A sockaddr_in for an IPv4 <paramref name="address"/> and <paramref name="port"/>.</summary>
    public static void SockAddrIn(Span<byte> sockAddr, System.Net.IPAddress address, int port)
    {
        sockAddr[..SockAddrInLength].Clear();
        sockAddr[0] = AfInet; // sa_family in host order (little-endian on both targets)
        sockAddr[2] = (byte)(port >> 8);
        sockAddr[3] = (byte)port;
        address.GetAddressBytes().CopyTo(sockAddr[4..]);
    }

    /// <summary>Closes with RST (linger 0): no TIME_WAIT left behind by thousands of benchmark sockets.</summary>
    public static void Abort(int fd)
    {
        int* linger = stackalloc int[2] { 1, 0 };
        SetSockOpt(fd, SolSocket, SoLinger, linger, 2 * sizeof(int));
        _ = Close(fd);
    }
}
