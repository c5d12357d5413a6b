using SensorNode.Firmware.Core.Config;
using SensorNode.Firmware.Core.Node;
using SensorNode.Simulator.Adapters;

namespace SensorNode.Simulator.Simulation;

/// <summary>
/// One simulated ESP32: the real <see cref="NodeController"/> with host adapters, ticked on its own thread the way
/// the device's Program.cs loops. A deliberate restart builds a fresh controller, like a reboot.
/// </summary>
public sealed class VirtualNode : IDisposable
{
    public const int TickMilliseconds = 50;

    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private readonly MqttNetSession _session = new();
    private NodeController _controller;

    public VirtualNode(NodeConfig config, int seed, bool quiet = false)
    {
        Config = config;
        Sensor = new SimulatedDht22(seed, 19.0 + (seed % 7), 40.0 + (seed % 15));
        Services = new NodeServices
        {
            Sensor = Sensor,
            Session = _session,
            Network = Network,
            Clock = new SystemClock(),
            Led = new VirtualLed(),
            Restarter = Restarts,
            Log = new ConsoleLog(config.Room, quiet),
            DeviceInfo = new HostDeviceInfo(),
        };
        _controller = new NodeController(config, Services);
        _thread = new Thread(Loop) { IsBackground = true, Name = "node " + config.Room };
    }

    public NodeConfig Config { get; }

    public SimulatedDht22 Sensor { get; }

    public HostNetwork Network { get; } = new();

    public RestartFlag Restarts { get; } = new();

    public NodeServices Services { get; }

    public NodeController Controller => _controller;

    public void Start() => _thread.Start();

    public void Stop()
    {
        _stop.Cancel();
        if (_thread.IsAlive)
        {
            _thread.Join(TimeSpan.FromSeconds(15));
        }
    }

    /// <summary>Publishes offline and disconnects cleanly, as before a deliberate restart, then stops the loop.</summary>
    public void Shutdown()
    {
        Stop();
        _controller.Restart("simulator shutting down");
    }

    public void Dispose()
    {
        Stop();
        _session.Dispose();
        _stop.Dispose();
    }

    private void Loop()
    {
        while (!_stop.IsCancellationRequested)
        {
            _controller.Tick();
            if (_controller.Stopped)
            {
                _controller = new NodeController(Config, Services);
            }

            _stop.Token.WaitHandle.WaitOne(TickMilliseconds);
        }
    }
}
