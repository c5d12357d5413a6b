using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;

namespace SensorNode.LoadGenerator;

/// <summary>
/// N retained messages (32-byte payloads, QoS 1 pipelined, all acknowledged), then one '#' subscriber:
/// time from SUBSCRIBE to the last retained message, and the broker's RSS after the replay.
/// </summary>
internal static class RetainedScenario
{
    public static async Task<Result> RunAsync(string host, int port, int pid, int count, Result result)
    {
        var ep = new IPEndPoint(IPAddress.Parse(host), port);
        string run = Guid.NewGuid().ToString("N")[..8];
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(180));
        using var life = new CancellationTokenSource();

        // 1. Store the retained messages.
        MqttLink pub = await MqttLink.ConnectAsync(ep, $"retain-p-{run}", true, 0, 64 * 1024, limit.Token);
        var acks = new AckCounter();
        Task pubLoop = Task.Run(() => pub.RunAsync(acks, life.Token));
        const int window = 1000;
        byte[] buffer = new byte[64 * 1024];
        int sent = 0;
        while (sent < count)
        {
            while (sent - acks.Count >= window)
            {
                limit.Token.ThrowIfCancellationRequested();
                await Task.Delay(1);
            }

            int length = 0;
            int batch = Math.Min(Math.Min(200, count - sent), window - (sent - acks.Count));
            for (int k = 0; k < batch; k++, sent++)
            {
                byte[] packet = Packets.Publish($"bench/retained/{sent / 1000}/{sent % 1000}", 1, retain: true, Flow.PayloadSize, out int pidAt, out int payloadAt);
                BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(pidAt), (ushort)((sent % 60000) + 1));
                BinaryPrimitives.WriteInt64LittleEndian(packet.AsSpan(payloadAt + 4), sent);
                packet.CopyTo(buffer, length);
                length += packet.Length;
            }

            pub.Send(buffer.AsSpan(0, length));
        }

        while (acks.Count < count)
        {
            limit.Token.ThrowIfCancellationRequested();
            await Task.Delay(1);
        }

        pub.Disconnect();
        await Task.Delay(1000);

        // 2. Replay them to a '#' subscriber.
        long rss0 = Proc.RssKb(pid);
        double cpu0 = Proc.CpuSeconds(pid);
        MqttLink sub = await MqttLink.ConnectAsync(ep, $"retain-s-{run}", true, 0, 1024 * 1024, limit.Token);
        var counter = new RetainedCounter();
        var clock = Stopwatch.StartNew();
        sub.Send(Packets.Subscribe(1, "#", 0));
        Task subLoop = Task.Run(() => sub.RunAsync(counter, life.Token));
        var bound = Stopwatch.StartNew();
        while (Volatile.Read(ref counter.Retained) < count && bound.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(1);
        }

        double seconds = clock.Elapsed.TotalSeconds;
        double cpu1 = Proc.CpuSeconds(pid);
        long rss1 = Proc.RssKb(pid);
        sub.Disconnect();
        await life.CancelAsync();
        await Task.WhenAny(Task.WhenAll(pubLoop, subLoop), Task.Delay(3000));

        long got = Volatile.Read(ref counter.Retained);
        result.Published = count;
        result.Expected = count;
        result.Delivered = got;
        result.Lost = Math.Max(0, count - got);
        result.Seconds = seconds;
        result.ReplaySec = seconds;
        result.MsgsPerSec = got / seconds;
        result.BrokerCpuSec = cpu1 - cpu0;
        result.MsgsPerCpuSec = cpu1 > cpu0 ? got / (cpu1 - cpu0) : 0;
        result.BrokerCpuPct = 100 * (cpu1 - cpu0) / seconds;
        result.RssMb = rss1 / 1024.0;
        result.Note = $"RSS before replay {rss0 / 1024.0:F1} MB";
        return result;
    }

    private sealed class AckCounter : IFrameHandler
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public void OnFrame(MqttLink link, byte header, ReadOnlySpan<byte> body)
        {
            if (header >> 4 == 4)
            {
                Interlocked.Increment(ref _count);
            }
        }

        public void AfterChunk(MqttLink link)
        {
        }
    }

    private sealed class RetainedCounter : IFrameHandler
    {
        public long Retained;

        public void OnFrame(MqttLink link, byte header, ReadOnlySpan<byte> body)
        {
            if (header >> 4 == 3 && (header & 1) == 1)
            {
                Volatile.Write(ref Retained, Retained + 1);
            }
        }

        public void AfterChunk(MqttLink link)
        {
        }
    }
}

/// <summary>Broker CPU and memory from /proc (Linux).</summary>
internal static class Proc
{
    private const double ClockTicks = 100.0; // sysconf(_SC_CLK_TCK) on Linux x86-64/arm64

    /// <summary>utime + stime of a process, in seconds (fields 14 and 15 of /proc/PID/stat).</summary>
    public static double CpuSeconds(int pid)
    {
        (double user, double system) = CpuSplit(pid);
        return user + system;
    }

    /// <summary>utime and stime of a process, in seconds: user-space work versus the kernel's (sockets, TCP).</summary>
    public static (double User, double System) CpuSplit(int pid)
    {
        if (pid <= 0)
        {
            return (0, 0);
        }

        string stat = File.ReadAllText($"/proc/{pid}/stat");
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11]) / ClockTicks, long.Parse(fields[12]) / ClockTicks);
    }

    public static double SelfCpuSeconds() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

    public static long RssKb(int pid)
    {
        if (pid <= 0)
        {
            return 0;
        }

        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
            }
        }

        return 0;
    }
}
