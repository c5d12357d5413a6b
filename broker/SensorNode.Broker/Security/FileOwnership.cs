using System.Runtime.InteropServices;

namespace SensorNode.Broker.Security;

/// <summary>
/// A file's owner and group (statx) and chown, which .NET does not offer: a users file rewritten by <c>passwd</c> keeps
/// the group it was given (say <c>root:sensornode</c>, mode 0640), so the service can still read it.
/// </summary>
internal static unsafe partial class FileOwnership
{
    private const int AtFdCwd = -100;
    private const uint StatxUid = 0x08;
    private const uint StatxGid = 0x10;

    // struct statx (linux/stat.h) is 256 bytes on every architecture: stx_uid at 20, stx_gid at 24.
    private const int StatxSize = 256;

    public static bool TryGet(string path, out uint owner, out uint group)
    {
        owner = group = 0;
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        byte* buffer = stackalloc byte[StatxSize];
        try
        {
            if (statx(AtFdCwd, path, 0, StatxUid | StatxGid, buffer) != 0)
            {
                return false;
            }
        }
        catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }

        owner = *(uint*)(buffer + 20);
        group = *(uint*)(buffer + 24);
        return true;
    }

    public static bool TrySet(string path, uint owner, uint group)
    {
        try
        {
            return OperatingSystem.IsLinux() && chown(path, owner, group) == 0;
        }
        catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int chown(string path, uint owner, uint group);
}
