using System.Globalization;
using System.Text.RegularExpressions;
using SensorNode.Firmware.Core.Config;
using SensorNode.Firmware.Core.Readings;

namespace SensorNode.Firmware.Tests.Checks;

/// <summary>
/// The wiring defaults live in three places that users read or run: hardware/README.md (the "Default wiring" table),
/// the firmware's <see cref="NodeConfig"/> (and its README table), and flash.ps1's parameter defaults. They must agree.
/// </summary>
public sealed class HardwareDefaultsTests
{
    private static string Repo => Path.GetFullPath(Path.Combine(Paths.FirmwareDirectory, ".."));

    /// <summary>config key → flash.ps1 parameter, with the firmware default as text.</summary>
    public static TheoryData<string, string, string> Defaults()
    {
        var c = new NodeConfig();
        return new TheoryData<string, string, string>
        {
            { ConfigKeys.SensorModel, "SensorModel", SensorLimits.For(c.SensorModel).Name },
            { ConfigKeys.SensorEchoPin, "SensorEchoPin", c.SensorEchoPin.ToString(CultureInfo.InvariantCulture) },
            { ConfigKeys.SensorTriggerPin, "SensorTriggerPin", c.SensorTriggerPin.ToString(CultureInfo.InvariantCulture) },
            { ConfigKeys.LedPin, "LedPin", c.LedPin.ToString(CultureInfo.InvariantCulture) },
            { ConfigKeys.ReadInterval, "ReadIntervalSeconds", c.ReadIntervalSeconds.ToString(CultureInfo.InvariantCulture) },
        };
    }

    [Theory]
    [MemberData(nameof(Defaults))]
    public void Hardware_readme_firmware_and_flash_script_agree(string key, string parameter, string firmwareDefault)
    {
        Assert.Equal(firmwareDefault, HardwareTable()[key]);
        Assert.Equal(firmwareDefault, FirmwareReadmeTable()[key]);
        Assert.Equal(firmwareDefault, FlashDefault(parameter));
    }

    [Fact]
    public void Led_polarity_default_agrees()
    {
        Assert.False(new NodeConfig().LedInverted);
        Assert.Equal("false", HardwareTable()[ConfigKeys.LedInverted]);
        Assert.Matches(@"\[switch\]\$LedInverted\b", File.ReadAllText(Path.Combine(Repo, "flash.ps1")));
    }

    [Fact]
    public void Hardware_readme_shows_the_wiring_diagram_with_the_default_pins()
    {
        string readme = File.ReadAllText(Path.Combine(Repo, "hardware", "README.md"));
        Assert.Contains("](wiring.svg)", readme, StringComparison.Ordinal);
        var svg = System.Xml.Linq.XDocument.Load(Path.Combine(Repo, "hardware", "wiring.svg"));
        string text = string.Concat(svg.Descendants().Where(e => e.Name.LocalName == "text").Select(e => e.Value + "\n"));
        var c = new NodeConfig();
        Assert.Contains($"IO{c.SensorEchoPin}", text, StringComparison.Ordinal);
        Assert.Contains($"IO{c.SensorTriggerPin}", text, StringComparison.Ordinal);
        Assert.Contains($"GPIO {c.SensorEchoPin} (sensor_echo_pin) + GPIO {c.SensorTriggerPin} (sensor_trigger_pin)", text, StringComparison.Ordinal);
        Assert.Contains($"led_pin={c.LedPin}", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Default_sensor_pins_pass_the_firmware_parser()
    {
        var c = new NodeConfig();
        string text = $"wifi_ssid=x\nmqtt_host=h\nroom=r\nsensor_echo_pin={c.SensorEchoPin}\nsensor_trigger_pin={c.SensorTriggerPin}\nled_pin={c.LedPin}\n";
        Assert.Empty(ConfigParser.Parse(text).Errors);
    }

    /// <summary>Rows of hardware/README.md's "Default wiring" table: `key` → default column.</summary>
    private static Dictionary<string, string> HardwareTable()
    {
        string readme = File.ReadAllText(Path.Combine(Repo, "hardware", "README.md"));
        int start = readme.IndexOf("## Default wiring", StringComparison.Ordinal);
        Assert.True(start >= 0, "hardware/README.md has no '## Default wiring' section");
        string section = readme[start..];
        int next = section.IndexOf("\n## ", 3, StringComparison.Ordinal);
        if (next > 0)
        {
            section = section[..next];
        }

        return TableRows(section, keyColumn: 3, valueColumn: 4);
    }

    /// <summary>firmware/README.md's configuration table: | `key` | default | rules |.</summary>
    private static Dictionary<string, string> FirmwareReadmeTable()
    {
        string readme = File.ReadAllText(Path.Combine(Paths.FirmwareDirectory, "README.md"));
        return TableRows(readme, keyColumn: 0, valueColumn: 1);
    }

    private static Dictionary<string, string> TableRows(string markdown, int keyColumn, int valueColumn)
    {
        var rows = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string line in markdown.Split('\n'))
        {
            if (!line.StartsWith('|'))
            {
                continue;
            }

            string[] cells = line.Trim().Trim('|').Split('|').Select(s => s.Trim()).ToArray();
            if (cells.Length <= Math.Max(keyColumn, valueColumn))
            {
                continue;
            }

            Match key = Regex.Match(cells[keyColumn], "^`([a-z_]+)`$");
            if (key.Success)
            {
                rows.TryAdd(key.Groups[1].Value, cells[valueColumn].Split(' ')[0]);
            }
        }

        return rows;
    }

    /// <summary>The default of a flash.ps1 parameter: `[type]$Name = value`.</summary>
    private static string FlashDefault(string parameter)
    {
        string script = File.ReadAllText(Path.Combine(Repo, "flash.ps1"));
        Match m = Regex.Match(script, @"\]\$" + parameter + @"\s*=\s*'?([^'\s,]+)'?\s*,?\s*$", RegexOptions.Multiline);
        Assert.True(m.Success, $"flash.ps1 has no default for -{parameter}");
        return m.Groups[1].Value;
    }
}
