namespace SensorNode.Firmware.Core.Readings
{
    /// <summary>Supported sensor models (enum names are not available at run time on nanoFramework: use <see cref="SensorLimits.Name"/>).</summary>
    public enum SensorModel
    {
        Dht11 = 11,
        Dht22 = 22,
    }
}
