using SensorNode.Firmware.Core.Config;
using SensorNode.Firmware.Core.Node;

namespace SensorNode.Firmware.Tests.Fakes;

/// <summary>A <see cref="NodeController"/> wired to fakes, with helpers to run its loop on the fake clock.</summary>
public sealed class TestNode
{
    public const string Room = "kitchen";

    public TestNode(Action<NodeConfig>? configure = null)
    {
        Config = ConfigFor(Room);
        configure?.Invoke(Config);
        Services = new NodeServices
        {
            Sensor = Sensor,
            Session = Session,
            Network = Network,
            Clock = Clock,
            Led = Led,
            Restarter = Restarter,
            Log = Log,
            DeviceInfo = DeviceInfo,
        };
        Controller = new NodeController(Config, Services);
    }

    public NodeConfig Config { get; }

    public FakeClock Clock { get; } = new();

    public FakeSensor Sensor { get; } = new();

    public FakeNetwork Network { get; } = new();

    public FakeMqttSession Session { get; } = new();

    public FakeLed Led { get; } = new();

    public FakeRestarter Restarter { get; } = new();

    public ListLog Log { get; } = new();

    public FakeDeviceInfo DeviceInfo { get; } = new();

    public NodeServices Services { get; }

    public NodeController Controller { get; }

    public static NodeConfig ConfigFor(string room)
    {
        ConfigParseResult parsed = ConfigParser.Parse($"wifi_ssid=lab\nwifi_password=secret123\nmqtt_host=broker.local\nroom={room}\n");
        Assert.True(parsed.IsValid, string.Join("; ", parsed.Errors));
        return parsed.Config;
    }

    public void Tick() => Controller.Tick();

    /// <summary>Ticks every 100 ms of fake time for the given span.</summary>
    public void Run(long milliseconds, long step = 100)
    {
        for (long t = 0; t < milliseconds; t += step)
        {
            Clock.Advance(step);
            Controller.Tick();
        }
    }
}
