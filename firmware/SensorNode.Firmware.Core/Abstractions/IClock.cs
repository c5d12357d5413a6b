using System;

namespace SensorNode.Firmware.Core.Abstractions
{
    /// <summary>Time as the node sees it.</summary>
    public interface IClock
    {
        /// <summary>Milliseconds since boot; never goes backwards. All scheduling uses this.</summary>
        long UptimeMilliseconds { get; }

        /// <summary>Wall-clock UTC time, only when it is known to be set (SNTP); false before that.</summary>
        bool TryGetUtcNow(out DateTime utcNow);
    }
}
