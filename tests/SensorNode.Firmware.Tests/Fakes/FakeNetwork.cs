using SensorNode.Firmware.Core.Abstractions;

namespace SensorNode.Firmware.Tests.Fakes;

/// <summary>A Wi-Fi link the test switches on and off.</summary>
public sealed class FakeNetwork : INetwork
{
    public bool IsConnected { get; set; }

    /// <summary>Whether the next <see cref="Connect"/> succeeds.</summary>
    public bool Available { get; set; } = true;

    public int Attempts { get; private set; }

    public int SignalDbm { get; set; } = -61;

    public bool Connect(string ssid, string password, int timeoutMilliseconds)
    {
        Attempts++;
        IsConnected = Available;
        return Available;
    }
}
