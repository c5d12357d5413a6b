// FACADE (compile-time only, never deployed): nanoFramework.Runtime.Native 1.7.11 (Power, GC, Environment),
// nanoFramework.System.Text 1.3.42 (Encoding), nanoFramework.System.IO.FileSystem 1.1.93 + System.IO.Streams
// 1.1.96 (File, FileStream, Stream) — reference §2, §7, §8.
using System;

namespace nanoFramework.Runtime.Native
{
    /// <summary>§7.</summary>
    public enum RebootOption
    {
        NormalReboot = 0,
        EnterNanoBooter = 1,
        ClrOnly = 2,
        EnterProprietaryBooter = 8,
    }

    /// <summary>§7.</summary>
    public static class Power
    {
        public static void RebootDevice(RebootOption rebootOption = RebootOption.NormalReboot)
        {
            throw new NotImplementedException();
        }
    }

    /// <summary>§7: GC.Run(bool compactHeap) returns the free bytes.</summary>
    public static class GC
    {
        public static uint Run(bool compactHeap)
        {
            throw new NotImplementedException();
        }
    }
}

namespace System
{
    /// <summary>§7: Environment.TickCount64 lives in nanoFramework.Runtime.Native (not in mscorlib).</summary>
    public static class Environment
    {
        public static long TickCount64
        {
            get { throw new NotImplementedException(); }
        }
    }
}

namespace System.Text
{
    /// <summary>§2: Encoding.UTF8; GetString only with (bytes, index, count).</summary>
    public abstract class Encoding
    {
        public static Encoding UTF8
        {
            get { throw new NotImplementedException(); }
        }

        public virtual byte[] GetBytes(string s)
        {
            throw new NotImplementedException();
        }

        public virtual string GetString(byte[] bytes, int index, int count)
        {
            throw new NotImplementedException();
        }
    }
}

namespace System.IO
{
    /// <summary>§8: File.Exists.</summary>
    public static class File
    {
        public static bool Exists(string path)
        {
            throw new NotImplementedException();
        }
    }

    /// <summary>§8 names FileMode.Create; Open is the standard member assumed here (see firmware/README.md).</summary>
    public enum FileMode
    {
        CreateNew = 1,
        Create = 2,
        Open = 3,
        OpenOrCreate = 4,
        Truncate = 5,
        Append = 6,
    }

    /// <summary>§2 (System.IO.Streams): the Stream members FileConfigStore uses (Length, Read) — assumed standard.</summary>
    public abstract class Stream : IDisposable
    {
        public abstract long Length { get; }

        public abstract int Read(byte[] buffer, int offset, int count);

        public void Dispose()
        {
            throw new NotImplementedException();
        }
    }

    /// <summary>§8: new FileStream(path, FileMode).</summary>
    public class FileStream : Stream
    {
        public FileStream(string path, FileMode mode)
        {
            throw new NotImplementedException();
        }

        public override long Length
        {
            get { throw new NotImplementedException(); }
        }

        public override int Read(byte[] buffer, int offset, int count)
        {
            throw new NotImplementedException();
        }
    }
}
