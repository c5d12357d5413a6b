using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace SensorNode.LoadGenerator;

/// <summary>
/// N idle connections (CONNECT, clean session, keep alive 0 unless asked): connects per second including the CONNACK,
/// and the broker's RSS growth per connection once they are all open.
/// </summary>
internal static class IdleScenario
{
    public static async Task<Result> RunAsync(string host, int port, int pid, int connections, int window, ushort keepAlive, double holdSeconds, Result result)
    {
        IPAddress address = IPAddress.Parse(host);
        if (address.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new IOException($"idle: an IPv4 host is needed, not {host}");
        }

        string run = Guid.NewGuid().ToString("N")[..8];
        using var links = new IdleConnections(address, port, connections, $"idle-{run}-", keepAlive);
        await Task.Delay(500);
        long rss0 = Proc.RssKb(pid);
        double cpu0 = Proc.CpuSeconds(pid);
        (double genUser0, double genSys0) = Proc.CpuSplit(Environment.ProcessId);
        var clock = Stopwatch.StartNew();
        try
        {
            links.ConnectAll(window, TimeSpan.FromSeconds(120));
            double seconds = clock.Elapsed.TotalSeconds;
            double cpu1 = Proc.CpuSeconds(pid);
            (double genUser1, double genSys1) = Proc.CpuSplit(Environment.ProcessId);
            double genUserPct = 100 * (genUser1 - genUser0) / seconds;
            double genSysPct = 100 * (genSys1 - genSys0) / seconds;

            // Let the broker settle (deferred allocations, GC) before reading its RSS.
            await Task.Delay(1500);
            long rss1 = Proc.RssKb(pid);
            int open = links.Open;
            result.Published = connections;
            result.Delivered = open;
            result.Expected = connections;
            result.Lost = connections - open;
            result.Seconds = seconds;
            result.ConnectsPerSec = open / seconds;
            result.BrokerCpuSec = cpu1 - cpu0;
            result.BrokerCpuPct = 100 * (cpu1 - cpu0) / seconds;
            result.GenCpuPct = genUserPct + genSysPct;
            result.KbPerConn = open > 0 ? (rss1 - rss0) / (double)open : 0;
            result.RssMb = rss1 / 1024.0;
            result.Note = string.Create(CultureInfo.InvariantCulture, $"RSS {rss0 / 1024.0:F1} -> {rss1 / 1024.0:F1} MB; gen user {genUserPct:F0}% sys {genSysPct:F0}%");

            // Time to look inside the broker (dotnet-gcdump, /proc/PID/smaps) while the connections are open.
            await Task.Delay(TimeSpan.FromSeconds(Math.Clamp(holdSeconds, 0, 600)));
            return result;
        }
        finally
        {
            links.Dispose();
            await Task.Delay(1000);
        }
    }
}
