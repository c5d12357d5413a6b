namespace SensorNode.Simulator;

/// <summary>Command-line options of the simulator.</summary>
public sealed class SimulatorOptions
{
    public string Host { get; set; } = "127.0.0.1";

    public int Port { get; set; } = 1883;

    public int Nodes { get; set; } = 3;

    public string[] Rooms { get; set; } = ["kitchen", "living_room", "bedroom"];

    public int IntervalSeconds { get; set; } = 5;

    public int Seed { get; set; } = 1;

    public bool Quiet { get; set; }

    /// <summary>When set: only parse this configuration file and report (for flash.ps1 tests), no nodes.</summary>
    public string? CheckConfigPath { get; set; }

    public const string Usage = """
        sensornode-simulator [--host 127.0.0.1] [--port 1883] [--nodes 3] [--rooms kitchen,living_room,bedroom]
                             [--interval 5] [--seed 1] [--quiet]
        sensornode-simulator --check-config FILE     parse a node configuration file like the firmware does

        Runs N virtual ESP32 nodes with the real firmware core, a simulated DHT22 and MQTTnet. Rooms are reused
        with a numeric suffix when there are more nodes than rooms. Ctrl+C publishes offline and disconnects.
        """;

    /// <summary>Parses the arguments; returns null and writes the problem to <paramref name="error"/> when invalid.</summary>
    public static SimulatorOptions? Parse(string[] args, out string? error)
    {
        var options = new SimulatorOptions();
        error = null;
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            string? value = i + 1 < args.Length ? args[i + 1] : null;
            bool needsValue = arg is "--host" or "--port" or "--nodes" or "--rooms" or "--interval" or "--seed" or "--check-config";
            if (needsValue && value is null)
            {
                error = $"{arg} needs a value";
                return null;
            }

            switch (arg)
            {
                case "--host": options.Host = value!; i++; break;
                case "--port" when int.TryParse(value, out int port) && port is > 0 and <= 65535: options.Port = port; i++; break;
                case "--nodes" when int.TryParse(value, out int nodes) && nodes is > 0 and <= 1000: options.Nodes = nodes; i++; break;
                case "--rooms": options.Rooms = value!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); i++; break;
                case "--interval" when int.TryParse(value, out int interval) && interval is > 0 and <= 3600: options.IntervalSeconds = interval; i++; break;
                case "--seed" when int.TryParse(value, out int seed): options.Seed = seed; i++; break;
                case "--check-config": options.CheckConfigPath = value; i++; break;
                case "--quiet": options.Quiet = true; break;
                default:
                    error = needsValue ? $"invalid value '{value}' for {arg}" : $"unknown argument '{arg}'";
                    return null;
            }
        }

        if (options.Rooms.Length == 0)
        {
            error = "--rooms needs at least one room";
            return null;
        }

        return options;
    }

    /// <summary>The room of node <paramref name="index"/>: the listed rooms first, then with a numeric suffix.</summary>
    public string RoomOf(int index) => index < Rooms.Length ? Rooms[index] : $"{Rooms[index % Rooms.Length]}_{(index / Rooms.Length) + 1}";
}
