using SensorNode.Firmware.Core.Commands;
using SensorNode.Firmware.Tests.Fakes;

namespace SensorNode.Firmware.Tests.Core;

public sealed class CommandTests
{
    [Theory]
    [InlineData("interval=30", CommandKind.SetInterval, 30)]
    [InlineData(" Interval 60 ", CommandKind.SetInterval, 60)]
    [InlineData("read", CommandKind.ReadNow, 0)]
    [InlineData("RESTART", CommandKind.Restart, 0)]
    [InlineData("interval=0", CommandKind.Invalid, 0)]
    [InlineData("interval=abc", CommandKind.Invalid, 0)]
    [InlineData("dance", CommandKind.Invalid, 0)]
    public void Parse(string payload, CommandKind kind, int seconds)
    {
        NodeCommand command = CommandParser.Parse(payload);
        Assert.Equal(kind, command.Kind);
        Assert.Equal(seconds, command.IntervalSeconds);
    }

    [Fact]
    public void Interval_command_changes_the_schedule_but_respects_the_sensor_minimum()
    {
        var node = new TestNode();
        node.Tick();

        node.Session.Deliver("sensor/command/kitchen", "interval=1");
        node.Run(100);
        Assert.Equal(2, node.Controller.IntervalSeconds);

        node.Session.Deliver("sensor/command/kitchen", "interval=30");
        node.Run(100);
        Assert.Equal(30, node.Controller.IntervalSeconds);
        int reads = node.Sensor.Reads;
        node.Run(60_000);
        Assert.InRange(node.Sensor.Reads - reads, 2, 3);
    }

    [Fact]
    public void Read_command_takes_and_publishes_a_reading_at_once()
    {
        var node = new TestNode(c => c.HeartbeatSeconds = 3600);
        node.Tick();
        node.Session.Clear();
        int reads = node.Sensor.Reads;

        node.Session.Deliver("sensor/command/kitchen", "read");
        node.Run(100);

        Assert.Equal(reads + 1, node.Sensor.Reads);
        Assert.Single(node.Session.On("sensor/temperature/kitchen")); // even though unchanged
    }

    [Fact]
    public void Restart_command_publishes_offline_disconnects_cleanly_then_restarts()
    {
        var node = new TestNode();
        node.Tick();
        node.Session.Clear();

        node.Session.Deliver("sensor/command/kitchen", "restart");
        node.Run(100);

        Assert.Equal(new Published("sensor/status/kitchen", "offline", 1, true), node.Session.Published.Last());
        Assert.Equal(1, node.Session.Disconnects);
        Assert.Equal(0, node.Session.Aborts);
        Assert.Single(node.Restarter.Reasons);
        Assert.True(node.Controller.Stopped);
    }

    [Fact]
    public void Retained_commands_are_ignored_so_a_stale_restart_cannot_loop()
    {
        var node = new TestNode();
        node.Tick();
        node.Session.Deliver("sensor/command/kitchen", "restart", retained: true);
        node.Run(100);
        Assert.Empty(node.Restarter.Reasons);
    }

    [Fact]
    public void Commands_can_be_switched_off()
    {
        var node = new TestNode(c => c.Commands = false);
        node.Tick();
        Assert.DoesNotContain("sensor/command/kitchen", node.Session.Subscriptions);
        node.Session.Deliver("sensor/command/kitchen", "restart");
        node.Run(100);
        Assert.Empty(node.Restarter.Reasons);
    }

    [Fact]
    public void Invalid_commands_are_logged_not_obeyed()
    {
        var node = new TestNode();
        node.Tick();
        node.Session.Deliver("sensor/command/kitchen", "interval=-5");
        node.Run(100);
        Assert.Equal(10, node.Controller.IntervalSeconds);
        Assert.Contains(node.Log.Lines, l => l.Contains("rejected", StringComparison.Ordinal));
    }
}
