namespace SensorNode.Firmware.Core.Abstractions
{
    /// <summary>A temperature/humidity sensor (DHT11/DHT22 on the device, a simulation on the host).</summary>
    public interface ISensor
    {
        /// <summary>
        /// Takes one measurement. Returns false when the read failed (timeout, checksum); the values are then
        /// meaningless. No range check is expected here: the core rejects implausible values itself.
        /// </summary>
        bool Read(out double temperatureCelsius, out double humidityPercent);
    }
}
