using System;
using nanoFramework.Runtime.Native;
using SensorNode.Firmware.Core.Abstractions;

namespace SensorNode.Firmware.Device.Adapters
{
    /// <summary>Uptime from <c>Environment.TickCount64</c>; wall clock valid once SNTP set it (year ≥ 2021, reference §6.4).</summary>
    public sealed class DeviceClock : IClock
    {
        public long UptimeMilliseconds
        {
            get { return Environment.TickCount64; }
        }

        public bool TryGetUtcNow(out DateTime utcNow)
        {
            utcNow = DateTime.UtcNow;
            return utcNow.Year >= 2021;
        }
    }

    /// <summary>Free memory from <c>nanoFramework.Runtime.Native.GC.Run</c> (runs a collection; called once per state message).</summary>
    public sealed class DeviceInfo : IDeviceInfo
    {
        public long FreeMemoryBytes
        {
            get { return nanoFramework.Runtime.Native.GC.Run(false); }
        }

        public string Platform
        {
            get { return "ESP32"; }
        }
    }

    /// <summary>Reboots with <c>Power.RebootDevice</c> (reference §7).</summary>
    public sealed class DeviceRestarter : IRestarter
    {
        public void Restart(string reason)
        {
            Console.WriteLine("rebooting: " + reason);
            Power.RebootDevice(RebootOption.NormalReboot);
        }
    }

    /// <summary>Log lines on the serial console (and the debugger's output when attached).</summary>
    public sealed class SerialLog : ILog
    {
        public void Write(string line)
        {
            string text = "[" + (Environment.TickCount64 / 1000).ToString() + " s] " + line;
            Console.WriteLine(text);
            System.Diagnostics.Debug.WriteLine(text);
        }
    }
}
