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
    return ConfigCheck.Run(path, Console.Out, Console.Error);
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
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.Set();
});

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
