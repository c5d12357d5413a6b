namespace SensorNode.Firmware.Core.Node
{
    /// <summary>The firmware's identity as reported in the state message and discovery.</summary>
    public static class FirmwareInfo
    {
        public const string Version = "1.0.0";
    }
}
