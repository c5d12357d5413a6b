using SensorNode.Firmware.Core.Abstractions;

namespace SensorNode.Firmware.Tests.Fakes;

/// <summary>A clock that moves only when the test says so.</summary>
public sealed class FakeClock : IClock
{
    public long UptimeMilliseconds { get; set; }

    /// <summary>Null = the wall clock is not set yet (before SNTP).</summary>
    public DateTime? UtcNow { get; set; }

    public bool TryGetUtcNow(out DateTime utcNow)
    {
        utcNow = UtcNow ?? default;
        return UtcNow.HasValue;
    }

    public void Advance(long milliseconds) => UptimeMilliseconds += milliseconds;
}
