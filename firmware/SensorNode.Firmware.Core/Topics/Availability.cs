namespace SensorNode.Firmware.Core.Topics
{
    /// <summary>Payloads of the status topic (Home Assistant's defaults for payload_available/not_available).</summary>
    public static class Availability
    {
        public const string Online = "online";
        public const string Offline = "offline";
    }
}
