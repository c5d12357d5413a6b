using System.Device.Gpio;
using SensorNode.Firmware.Core.Abstractions;

namespace SensorNode.Firmware.Device.Adapters
{
    /// <summary><see cref="IStatusLed"/> on a GPIO output (reference §5); writes only on change.</summary>
    public sealed class GpioStatusLed : IStatusLed
    {
        private readonly GpioPin _pin;
        private bool _on;

        public GpioStatusLed(GpioController controller, int pinNumber)
        {
            _pin = controller.OpenPin(pinNumber, PinMode.Output);
            _pin.Write(PinValue.Low);
        }

        public void Set(bool on)
        {
            if (on == _on)
            {
                return;
            }

            _pin.Write(on ? PinValue.High : PinValue.Low);
            _on = on;
        }

        public void Close()
        {
            _pin.Dispose();
        }
    }
}
