using SensorNode.Simulator;
using SensorNode.Simulator.Simulation;

namespace SensorNode.Firmware.Tests.Core;

public sealed class SimulatorTests
{
    [Fact]
    public void Check_config_accepts_a_valid_file_and_names_line_and_key_of_problems()
    {
        string dir = Directory.CreateTempSubdirectory("sensornode-").FullName;
        try
        {
            string good = Path.Combine(dir, "good.conf");
            File.WriteAllText(good, "wifi_ssid=lab\nwifi_password=secret123\nmqtt_host=10.0.0.2\nroom=kitchen\n");
            string bad = Path.Combine(dir, "bad.conf");
            File.WriteAllText(bad, "wifi_ssid=lab\nwifi_password=tiny\nmqtt_host=10.0.0.2\nroom=a/b\n");

            var output = new StringWriter();
            var error = new StringWriter();
            Assert.Equal(0, ConfigCheck.Run(good, output, error));
            Assert.Contains("OK (room kitchen, node id sensornode_kitchen, broker 10.0.0.2:1883", output.ToString(), StringComparison.Ordinal);

            Assert.Equal(1, ConfigCheck.Run(bad, output, error));
            Assert.Contains("line 2, key 'wifi_password'", error.ToString(), StringComparison.Ordinal);
            Assert.Contains("line 4, key 'room'", error.ToString(), StringComparison.Ordinal);
            Assert.DoesNotContain("tiny", error.ToString(), StringComparison.Ordinal);

            Assert.Equal(2, ConfigCheck.Run(Path.Combine(dir, "missing.conf"), output, error));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Simulated_dht22_is_seeded_plausible_and_sometimes_fails()
    {
        var a = new SimulatedDht22(seed: 7, failureRate: 0.05);
        var b = new SimulatedDht22(seed: 7, failureRate: 0.05);
        int failures = 0;
        for (int i = 0; i < 2_000; i++)
        {
            bool okA = a.Read(out double tA, out double hA);
            bool okB = b.Read(out double tB, out double hB);
            Assert.Equal(okA, okB);
            if (!okA)
            {
                failures++;
                continue;
            }

            Assert.Equal(tA, tB);
            Assert.Equal(hA, hB);
            Assert.InRange(tA, 10, 32);
            Assert.InRange(hA, 0, 99.9);
            Assert.Equal(Math.Round(tA, 1), tA);
        }

        Assert.InRange(failures, 40, 170);
    }

    [Theory]
    [InlineData(new[] { "--host", "h", "--port", "1884", "--nodes", "5", "--rooms", "a,b", "--interval", "3", "--seed", "9" }, true)]
    [InlineData(new[] { "--port", "0" }, false)]
    [InlineData(new[] { "--nodes" }, false)]
    [InlineData(new[] { "--bogus" }, false)]
    public void Options_parse_and_rooms_repeat_with_a_suffix(string[] args, bool valid)
    {
        SimulatorOptions? options = SimulatorOptions.Parse(args, out string? error);
        Assert.Equal(valid, options is not null);
        Assert.Equal(valid, error is null);
        if (options is not null)
        {
            Assert.Equal(1884, options.Port);
            Assert.Equal(["a", "b", "a_2", "b_2", "a_3"], Enumerable.Range(0, options.Nodes).Select(options.RoomOf));
        }
    }
}
