// FACADE (compile-time only, never deployed): nanoFramework.System.Device.Gpio 1.1.62 — reference §5.
using System;

namespace System.Device.Gpio
{
    /// <summary>§5.</summary>
    public sealed class GpioController : IDisposable
    {
        public GpioController()
        {
            throw new NotImplementedException();
        }

        public GpioPin OpenPin(int pinNumber, PinMode mode)
        {
            throw new NotImplementedException();
        }

        public void Dispose()
        {
            throw new NotImplementedException();
        }
    }

    /// <summary>§5.</summary>
    public sealed class GpioPin : IDisposable
    {
        private GpioPin()
        {
        }

        public int PinNumber
        {
            get { throw new NotImplementedException(); }
        }

        public void Write(PinValue value)
        {
            throw new NotImplementedException();
        }

        public void Toggle()
        {
            throw new NotImplementedException();
        }

        public void Dispose()
        {
            throw new NotImplementedException();
        }
    }

    /// <summary>§5: PinValue.High, PinValue.Low.</summary>
    public readonly struct PinValue
    {
        public static PinValue High
        {
            get { throw new NotImplementedException(); }
        }

        public static PinValue Low
        {
            get { throw new NotImplementedException(); }
        }
    }

    /// <summary>§5.</summary>
    public enum PinMode
    {
        Input,
        InputPullDown,
        InputPullUp,
        Output,
        OutputOpenDrain,
        OutputOpenDrainPullUp,
        OutputOpenSource,
        OutputOpenSourcePullDown,
    }

    /// <summary>§5.</summary>
    public enum PinNumberingScheme
    {
        Logical,
        Board,
    }
}
