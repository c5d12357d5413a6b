using SensorNode.Firmware.Core.Abstractions;

namespace SensorNode.Simulator.Simulation;

/// <summary>
/// A DHT22 in a room: temperature and humidity drift slowly (a bounded random walk around a base value), each
/// read adds sensor noise at the datasheet's resolution, and a small share of reads fail (checksum/timeouts) as
/// real DHTs do. Seeded, so a run can be repeated.
/// </summary>
public sealed class SimulatedDht22 : ISensor
{
    private readonly Random _random;
    private readonly double _baseTemperature;
    private readonly double _baseHumidity;
    private double _temperature;
    private double _humidity;

    public SimulatedDht22(int seed, double baseTemperature = 21.0, double baseHumidity = 45.0, double failureRate = 0.03)
    {
        _random = new Random(seed);
        _baseTemperature = baseTemperature;
        _baseHumidity = baseHumidity;
        _temperature = baseTemperature;
        _humidity = baseHumidity;
        FailureRate = failureRate;
    }

    public double FailureRate { get; set; }

    public int Reads { get; private set; }

    public bool Read(out double temperatureCelsius, out double humidityPercent)
    {
        Reads++;

        // Drift: a random walk pulled back towards the base so it stays plausible for days.
        _temperature += ((_random.NextDouble() - 0.5) * 0.2) + ((_baseTemperature - _temperature) * 0.02);
        _humidity += ((_random.NextDouble() - 0.5) * 0.8) + ((_baseHumidity - _humidity) * 0.02);

        if (_random.NextDouble() < FailureRate)
        {
            temperatureCelsius = double.NaN;
            humidityPercent = double.NaN;
            return false;
        }

        // Noise of a real DHT22 (±0.1 °C, ±0.3 %RH), reported at 0.1 resolution.
        temperatureCelsius = Math.Round(_temperature + ((_random.NextDouble() - 0.5) * 0.2), 1);
        humidityPercent = Math.Round(Math.Clamp(_humidity + ((_random.NextDouble() - 0.5) * 0.6), 0, 99.9), 1);
        return true;
    }
}
