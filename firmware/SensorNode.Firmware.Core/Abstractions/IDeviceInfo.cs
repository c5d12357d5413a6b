namespace SensorNode.Firmware.Core.Abstractions
{
    /// <summary>Diagnostics the platform can report.</summary>
    public interface IDeviceInfo
    {
        /// <summary>Free managed memory in bytes, or -1 when unknown.</summary>
        long FreeMemoryBytes { get; }

        /// <summary>Hardware/platform description for Home Assistant's device model (e.g. "ESP32").</summary>
        string Platform { get; }
    }
}
