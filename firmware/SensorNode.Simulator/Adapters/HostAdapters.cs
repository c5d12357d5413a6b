using System.Diagnostics;
using SensorNode.Firmware.Core.Abstractions;

namespace SensorNode.Simulator.Adapters;

/// <summary>Monotonic time from a stopwatch and the host's (always valid) UTC clock.</summary>
public sealed class SystemClock : IClock
{
    private readonly Stopwatch _watch = Stopwatch.StartNew();

    public long UptimeMilliseconds => _watch.ElapsedMilliseconds;

    public bool TryGetUtcNow(out DateTime utcNow)
    {
        utcNow = DateTime.UtcNow;
        return true;
    }
}

/// <summary>The host's network: up unless switched off (to simulate a Wi-Fi outage).</summary>
public sealed class HostNetwork : INetwork
{
    private volatile bool _up = true;

    public bool IsConnected => _up;

    public int SignalDbm { get; set; } = -58;

    public bool Connect(string ssid, string password, int timeoutMilliseconds) => _up;

    public void SetUp(bool up) => _up = up;
}

/// <summary>Log lines on the console, prefixed with the node's name.</summary>
public sealed class ConsoleLog(string prefix, bool quiet = false) : ILog
{
    public void Write(string line)
    {
        if (!quiet)
        {
            Console.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} [{prefix}] {line}");
        }
    }
}

public sealed class HostDeviceInfo : IDeviceInfo
{
    public long FreeMemoryBytes => GC.GetGCMemoryInfo().TotalAvailableMemoryBytes - GC.GetTotalMemory(false);

    public string Platform => "Simulator";
}

/// <summary>A "reboot": the virtual node notices and starts a fresh controller.</summary>
public sealed class RestartFlag : IRestarter
{
    public int Count { get; private set; }

    public string? LastReason { get; private set; }

    public void Restart(string reason)
    {
        Count++;
        LastReason = reason;
    }
}

/// <summary>The simulator has no LED; remembers the state for display.</summary>
public sealed class VirtualLed : IStatusLed
{
    public bool On { get; private set; }

    public void Set(bool on) => On = on;
}
