using SensorNode.Firmware.Core.Config;
using SensorNode.Simulator;
using SensorNode.Simulator.Simulation;

SimulatorOptions? options = SimulatorOptions.Parse(args, out string? error);
if (options is null || args.Contains("--help") || args.Contains("-h"))
{
    if (error is not null)
    {
        Console.Error.WriteLine(error);
    }

    Console.WriteLine(SimulatorOptions.Usage);
    return error is null ? 0 : 2;
}

if (options.CheckConfigPath is { } path)
{
    if (!File.Exists(path))
    {
        Console.Error.WriteLine($"{path}: no such file");
        return 2;
    }

    ConfigParseResult parsed = ConfigParser.Parse(File.ReadAllText(path));
    foreach (string problem in parsed.Errors)
    {
        Console.Error.WriteLine($"{path}: {problem}");
    }

    if (parsed.IsValid)
    {
        Console.WriteLine($"{path}: OK (room {parsed.Config.Room}, node id {parsed.Config.EffectiveNodeId}, broker {parsed.Config.MqttHost}:{parsed.Config.MqttPort})");
    }

    return parsed.IsValid ? 0 : 1;
}

var nodes = new List<VirtualNode>();
for (int i = 0; i < options.Nodes; i++)
{
    string room = options.RoomOf(i);
    ConfigParseResult parsed = NodeConfigs.For(room, options.Host, options.Port, options.IntervalSeconds);
    if (!parsed.IsValid)
    {
        Console.Error.WriteLine($"room '{room}': {string.Join("; ", parsed.Errors)}");
        return 2;
    }

    nodes.Add(new VirtualNode(parsed.Config, options.Seed + i, options.Quiet));
}

using var stop = new ManualResetEventSlim();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Set();
};

Console.WriteLine($"simulating {nodes.Count} node(s) against {options.Host}:{options.Port}; Ctrl+C stops");
foreach (VirtualNode node in nodes)
{
    node.Start();
}

stop.Wait();
foreach (VirtualNode node in nodes)
{
    node.Shutdown();
    node.Dispose();
}

return 0;
