using SensorNode.Firmware.Core.Config;
using SensorNode.Firmware.Tests.Fakes;

namespace SensorNode.Firmware.Tests.Core;

public sealed class ConfigLoaderTests
{
    [Fact]
    public void Valid_file_loads_silently()
    {
        var log = new ListLog();
        ConfigParseResult result = ConfigLoader.Load(new FakeConfigStore("wifi_ssid=a\nmqtt_host=b\nroom=c\n"), log);
        Assert.True(result.IsValid);
        Assert.Empty(log.Lines);
    }

    [Fact]
    public void Every_problem_is_logged_with_line_and_key_and_without_secrets()
    {
        var log = new ListLog();
        ConfigParseResult result = ConfigLoader.Load(new FakeConfigStore("wifi_ssid=a\nwifi_password=hunter2\nmqtt_host=b\nroom=c/d\n"), log);

        Assert.False(result.IsValid);
        Assert.Equal("config: I:\\sensornode.conf has 2 problem(s):", log.Lines[0]);
        Assert.StartsWith("config: line 2, key 'wifi_password'", log.Lines[1], StringComparison.Ordinal);
        Assert.StartsWith("config: line 4, key 'room'", log.Lines[2], StringComparison.Ordinal);
        Assert.DoesNotContain(log.Lines, l => l.Contains("hunter2", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Missing_or_unreadable_file_is_reported_not_thrown(bool throws)
    {
        var log = new ListLog();
        ConfigParseResult result = ConfigLoader.Load(new FakeConfigStore(null, throws), log);
        Assert.False(result.IsValid);
        Assert.Contains(log.Lines, l => l.Contains("no configuration found", StringComparison.Ordinal));
        Assert.Equal(throws, log.Lines.Any(l => l.Contains("flash read error", StringComparison.Ordinal)));
    }
}
