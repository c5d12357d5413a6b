using SensorNode.Firmware.Core.Abstractions;

namespace SensorNode.Firmware.Tests.Fakes;

public sealed class FakeLed : IStatusLed
{
    public bool On { get; private set; }

    public int Changes { get; private set; }

    public void Set(bool on)
    {
        if (on != On)
        {
            Changes++;
        }

        On = on;
    }
}

public sealed class FakeRestarter : IRestarter
{
    public List<string> Reasons { get; } = [];

    public void Restart(string reason) => Reasons.Add(reason);
}

public sealed class ListLog : ILog
{
    public List<string> Lines { get; } = [];

    public void Write(string line) => Lines.Add(line);
}

public sealed class FakeDeviceInfo : IDeviceInfo
{
    public long FreeMemoryBytes { get; set; } = 81234;

    public string Platform { get; set; } = "ESP32";
}

public sealed class FakeConfigStore(string? text, bool throws = false) : IConfigStore
{
    public string Location => "I:\\sensornode.conf";

    public string ReadText() => throws ? throw new IOException("flash read error") : text!;
}
