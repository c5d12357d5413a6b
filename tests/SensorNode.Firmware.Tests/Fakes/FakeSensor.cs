using SensorNode.Firmware.Core.Abstractions;

namespace SensorNode.Firmware.Tests.Fakes;

/// <summary>Returns scripted readings; when the script is empty it repeats the current value.</summary>
public sealed class FakeSensor : ISensor
{
    private readonly Queue<(bool Ok, double T, double H)> _script = new();

    public double Temperature { get; set; } = 21.0;

    public double Humidity { get; set; } = 45.0;

    public bool Failing { get; set; }

    public int Reads { get; private set; }

    public void Enqueue(double temperature, double humidity) => _script.Enqueue((true, temperature, humidity));

    public void EnqueueFailure() => _script.Enqueue((false, 0, 0));

    public bool Read(out double temperatureCelsius, out double humidityPercent)
    {
        Reads++;
        if (_script.TryDequeue(out var next))
        {
            temperatureCelsius = next.T;
            humidityPercent = next.H;
            return next.Ok;
        }

        temperatureCelsius = Temperature;
        humidityPercent = Humidity;
        return !Failing;
    }
}
