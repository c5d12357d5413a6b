namespace SensorNode.Firmware.Core.Abstractions
{
    /// <summary>The serial/debug output.</summary>
    public interface ILog
    {
        void Write(string line);
    }
}
