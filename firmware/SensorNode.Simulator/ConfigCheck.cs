using SensorNode.Firmware.Core.Config;

namespace SensorNode.Simulator;

/// <summary>
/// `--check-config FILE`: parses a node configuration file exactly as the firmware does (for flash.ps1's tests and
/// for users). Problems go to <paramref name="error"/>; exit code 0 valid, 1 invalid, 2 no such file.
/// </summary>
public static class ConfigCheck
{
    public static int Run(string path, TextWriter output, TextWriter error)
    {
        if (!File.Exists(path))
        {
            error.WriteLine($"{path}: no such file");
            return 2;
        }

        ConfigParseResult parsed = ConfigParser.Parse(File.ReadAllText(path));
        foreach (string problem in parsed.Errors)
        {
            error.WriteLine($"{path}: {problem}");
        }

        if (!parsed.IsValid)
        {
            return 1;
        }

        NodeConfig c = parsed.Config;
        output.WriteLine($"{path}: OK (room {c.Room}, node id {c.EffectiveNodeId}, broker {c.MqttHost}:{c.MqttPort}{(c.MqttTls ? " TLS" : "")}, {Firmware.Core.Readings.SensorLimits.For(c.SensorModel).Name} on GPIO {c.SensorEchoPin}/{c.SensorTriggerPin}, every {c.EffectiveReadIntervalSeconds} s)");
        return 0;
    }
}
