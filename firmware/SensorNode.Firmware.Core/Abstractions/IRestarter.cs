namespace SensorNode.Firmware.Core.Abstractions
{
    /// <summary>Reboots the node (on the device this does not return).</summary>
    public interface IRestarter
    {
        void Restart(string reason);
    }
}
