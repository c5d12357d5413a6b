using Iot.Device.DHTxx.Esp32;
using SensorNode.Firmware.Core.Abstractions;
using SensorNode.Firmware.Core.Readings;
using UnitsNet;

namespace SensorNode.Firmware.Device.Adapters
{
    /// <summary>
    /// <see cref="ISensor"/> on the RMT-based ESP32 DHT binding (reference §4): two GPIOs joined to the data line.
    /// Temperature and humidity are read back to back so both come from one measurement; the result is checked
    /// with <c>IsLastReadSuccessful</c> before the unit properties are touched (they throw on a failed read).
    /// The binding is created on the first read (its constructor waits 1 s for the sensor to settle).
    /// </summary>
    public sealed class DhtSensor : ISensor
    {
        private readonly SensorModel _model;
        private readonly int _echoPin;
        private readonly int _triggerPin;
        private DhtBase _dht;

        public DhtSensor(SensorModel model, int echoPin, int triggerPin)
        {
            _model = model;
            _echoPin = echoPin;
            _triggerPin = triggerPin;
        }

        public bool Read(out double temperatureCelsius, out double humidityPercent)
        {
            temperatureCelsius = double.NaN;
            humidityPercent = double.NaN;
            if (_dht == null)
            {
                _dht = _model == SensorModel.Dht11 ? (DhtBase)new Dht11(_echoPin, _triggerPin) : new Dht22(_echoPin, _triggerPin);
            }

            Temperature temperature = _dht.Temperature;
            if (!_dht.IsLastReadSuccessful)
            {
                return false;
            }

            RelativeHumidity humidity = _dht.Humidity;
            if (!_dht.IsLastReadSuccessful)
            {
                return false;
            }

            temperatureCelsius = temperature.DegreesCelsius;
            humidityPercent = humidity.Percent;
            return true;
        }
    }
}
