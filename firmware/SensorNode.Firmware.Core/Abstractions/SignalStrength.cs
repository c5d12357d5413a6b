namespace SensorNode.Firmware.Core.Abstractions
{
    /// <summary>Marker values for <see cref="INetwork.SignalDbm"/> (no nullable types on nanoFramework).</summary>
    public static class SignalStrength
    {
        public const int Unknown = int.MinValue;
    }
}
