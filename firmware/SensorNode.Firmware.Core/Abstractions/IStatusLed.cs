namespace SensorNode.Firmware.Core.Abstractions
{
    /// <summary>The status LED; the core decides the blink pattern and switches it on every tick.</summary>
    public interface IStatusLed
    {
        void Set(bool on);
    }
}
