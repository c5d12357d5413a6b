// FACADE (compile-time only, never deployed): nanoFramework.Iot.Device.Dhtxx.Esp32 + UnitsNet.nanoFramework.* 5.75.0 — reference §4.
using System;
using System.Device.Gpio;

namespace Iot.Device.DHTxx.Esp32
{
    /// <summary>§4.2.</summary>
    public abstract class DhtBase : IDisposable
    {
        public virtual UnitsNet.Temperature Temperature
        {
            get { throw new NotImplementedException(); }
        }

        public virtual UnitsNet.RelativeHumidity Humidity
        {
            get { throw new NotImplementedException(); }
        }

        public bool IsLastReadSuccessful
        {
            get { throw new NotImplementedException(); }
        }

        public void Dispose()
        {
            throw new NotImplementedException();
        }
    }

    /// <summary>§4.2.</summary>
    public class Dht11 : DhtBase
    {
        public Dht11(int pinEcho, int pinTrigger, PinNumberingScheme pinNumberingScheme = PinNumberingScheme.Logical,
                     GpioController gpioController = null, bool shouldDispose = true)
        {
            throw new NotImplementedException();
        }
    }

    /// <summary>§4.2.</summary>
    public class Dht22 : DhtBase
    {
        public Dht22(int pinEcho, int pinTrigger,
                     PinNumberingScheme pinNumberingScheme = PinNumberingScheme.Logical,
                     GpioController gpioController = null, bool shouldDispose = true)
        {
            throw new NotImplementedException();
        }
    }
}

namespace UnitsNet
{
    /// <summary>§4.3.</summary>
    public struct Temperature
    {
        public double Value
        {
            get { throw new NotImplementedException(); }
        }

        public double DegreesCelsius
        {
            get { throw new NotImplementedException(); }
        }
    }

    /// <summary>§4.3.</summary>
    public struct RelativeHumidity
    {
        public double Value
        {
            get { throw new NotImplementedException(); }
        }

        public double Percent
        {
            get { throw new NotImplementedException(); }
        }
    }
}
