using System.Runtime.InteropServices;

namespace SensorNode.Broker.Transport.Epoll;

/// <summary>
/// The few Linux calls the epoll transport makes, straight to libc. Constants and errno values are those of the
/// generic Linux ABI, which x64, arm64 and arm share.
/// </summary>
internal static unsafe partial class LinuxSockets
{
    public const int EPERM = 1;
    public const int EAGAIN = 11;
    public const int EINTR = 4;
    public const int EBADF = 9;
    public const int ENOMEM = 12;
    public const int EINVAL = 22;
    public const int ENFILE = 23;
    public const int EMFILE = 24;
    public const int EPIPE = 32;
    public const int ENONET = 64;
    public const int EPROTO = 71;
    public const int ENOPROTOOPT = 92;
    public const int EOPNOTSUPP = 95;
    public const int ENETDOWN = 100;
    public const int ENETUNREACH = 101;
    public const int ECONNABORTED = 103;
    public const int ECONNRESET = 104;
    public const int ENOBUFS = 105;
    public const int EHOSTDOWN = 112;
    public const int EHOSTUNREACH = 113;

    public const uint EPOLLIN = 0x001;
    public const uint EPOLLOUT = 0x004;
    public const uint EPOLLERR = 0x008;
    public const uint EPOLLHUP = 0x010;
    public const uint EPOLLRDHUP = 0x2000;
    public const uint EPOLLET = 1u << 31;

    private const int EPOLL_CTL_ADD = 1;
    private const int EPOLL_CTL_DEL = 2;
    private const int EPOLL_CTL_MOD = 3;
    private const int EPOLL_CLOEXEC = 0x80000;
    private const int SOCK_NONBLOCK = 0x800;
    private const int SOCK_CLOEXEC = 0x80000;
    private const int MSG_NOSIGNAL = 0x4000;
    private const int IPPROTO_TCP = 6;
    private const int TCP_NODELAY = 1;
    private const int SOL_SOCKET = 1;
    private const int SO_LINGER = 13;

    public const int SHUT_WR = 1;
    public const int SHUT_RDWR = 2;

    /// <summary>
    /// struct epoll_event is packed on x86 and x64 (12 bytes: events, then the 64-bit data at offset 4) and naturally
    /// aligned elsewhere (16 bytes, data at offset 8).
    /// </summary>
    public static readonly bool PackedEpollEvent =
        RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.X86;

    public static int EpollEventSize => PackedEpollEvent ? 12 : 16;

    public static int Errno => Marshal.GetLastPInvokeError();

    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    public static int EpollCreate() => epoll_create1(EPOLL_CLOEXEC);

    public static int EpollAdd(int epoll, int fd, uint events, ulong data) => EpollControl(epoll, EPOLL_CTL_ADD, fd, events, data);

    public static int EpollModify(int epoll, int fd, uint events, ulong data) => EpollControl(epoll, EPOLL_CTL_MOD, fd, events, data);

    public static int EpollDelete(int epoll, int fd) => EpollControl(epoll, EPOLL_CTL_DEL, fd, 0, 0);

    private static int EpollControl(int epoll, int op, int fd, uint events, ulong data)
    {
        byte* ev = stackalloc byte[16];
        WriteEvent(ev, events, data);
        return epoll_ctl(epoll, op, fd, ev);
    }

    private static void WriteEvent(byte* ev, uint events, ulong data)
    {
        *(uint*)ev = events;
        *(ulong*)(ev + (PackedEpollEvent ? 4 : 8)) = data;
    }

    /// <summary>Reads event <paramref name="index"/> of an epoll_wait result.</summary>
    public static void ReadEvent(byte* events, int index, out uint mask, out ulong data)
    {
        byte* ev = events + (index * EpollEventSize);
        mask = *(uint*)ev;
        data = *(ulong*)(ev + (PackedEpollEvent ? 4 : 8));
    }

    public static int EpollWait(int epoll, byte* events, int maxEvents, int timeoutMs) => epoll_wait(epoll, events, maxEvents, timeoutMs);

    /// <summary>accept4 with a non-blocking, close-on-exec descriptor; the peer's address lands in <paramref name="address"/> (128 bytes).</summary>
    public static int Accept(int listening, byte* address, ref int addressLength) => accept4(listening, address, ref addressLength, SOCK_NONBLOCK | SOCK_CLOEXEC);

    public static nint Receive(int fd, byte* buffer, nint length) => recv(fd, buffer, length, 0);

    public static nint Send(int fd, byte* buffer, nint length) => send(fd, buffer, length, MSG_NOSIGNAL);

    public static int Shutdown(int fd, int how) => shutdown(fd, how);

    public static int Close(int fd) => close(fd);

    public static void SetNoDelay(int fd)
    {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(int));
    }

    /// <summary>Linger on, timeout 0: close sends a reset instead of a FIN.</summary>
    public static void SetResetOnClose(int fd)
    {
        int* linger = stackalloc int[2];
        linger[0] = 1;
        linger[1] = 0;
        setsockopt(fd, SOL_SOCKET, SO_LINGER, linger, 2 * sizeof(int));
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_ctl(int epfd, int op, int fd, byte* ev);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_wait(int epfd, byte* events, int maxevents, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int accept4(int sockfd, byte* addr, ref int addrlen, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint recv(int sockfd, byte* buf, nint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint send(int sockfd, byte* buf, nint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int shutdown(int sockfd, int how);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setsockopt(int sockfd, int level, int optname, void* optval, int optlen);
}
