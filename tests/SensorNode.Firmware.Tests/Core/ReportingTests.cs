using System.Text.Json;
using SensorNode.Firmware.Tests.Fakes;

namespace SensorNode.Firmware.Tests.Core;

/// <summary>What the node publishes, when, and in which format.</summary>
public sealed class ReportingTests
{
    [Fact]
    public void First_reading_is_published_retained_as_invariant_decimals()
    {
        var node = new TestNode();
        node.Sensor.Temperature = 21.43;
        node.Sensor.Humidity = 45.06;
        node.Tick();

        Assert.Equal(new Published("sensor/temperature/kitchen", "21.4", 1, true), node.Session.On("sensor/temperature/kitchen").Single());
        Assert.Equal(new Published("sensor/humidity/kitchen", "45.1", 1, true), node.Session.On("sensor/humidity/kitchen").Single());
    }

    [Fact]
    public void Reads_follow_the_interval_and_never_faster_than_the_sensor_allows()
    {
        var node = new TestNode(c => c.ReadIntervalSeconds = 1); // below the DHT22's 2 s
        node.Run(20_000);
        Assert.InRange(node.Sensor.Reads, 10, 11);
    }

    [Fact]
    public void Dead_band_suppresses_small_changes_and_heartbeat_republishes()
    {
        var node = new TestNode(c => { c.MedianWindow = 1; c.HeartbeatSeconds = 60; });
        node.Tick();
        node.Session.Clear();

        node.Sensor.Temperature = 21.1;
        node.Run(30_000);
        Assert.Empty(node.Session.On("sensor/temperature/kitchen"));

        node.Sensor.Temperature = 21.5;
        node.Run(10_000);
        Assert.Equal("21.5", node.Session.On("sensor/temperature/kitchen").Single().Payload);

        node.Session.Clear();
        node.Run(60_000);
        Assert.Equal("21.5", node.Session.On("sensor/temperature/kitchen").Single().Payload);
    }

    [Fact]
    public void Implausible_values_are_rejected_and_counted()
    {
        var node = new TestNode(c => c.MedianWindow = 1);
        node.Tick();
        node.Session.Clear();

        node.Sensor.Enqueue(double.NaN, 45);
        node.Sensor.Enqueue(95.0, 45);   // beyond the DHT22's 80 °C
        node.Sensor.Enqueue(35.0, 45);   // a 14 °C jump in 10 s
        node.Run(30_000);

        Assert.Empty(node.Session.On("sensor/temperature/kitchen"));
        Assert.Equal(3, node.Controller.TemperatureChannel.Rejected);
        Assert.Contains(node.Log.Lines, l => l.Contains("outside the DHT22 range", StringComparison.Ordinal));
    }

    [Fact]
    public void Median_filter_hides_a_single_outlier_within_the_jump_limit()
    {
        var node = new TestNode(c => c.TemperatureDeadband = 0.0);
        node.Tick();
        node.Sensor.Enqueue(21.0, 45);
        node.Sensor.Enqueue(24.5, 45);
        node.Sensor.Enqueue(21.0, 45);
        node.Run(30_000);

        Assert.DoesNotContain(node.Session.On("sensor/temperature/kitchen"), p => p.Payload == "24.5");
    }

    [Fact]
    public void State_message_is_valid_json_with_diagnostics()
    {
        var node = new TestNode();
        node.Clock.UtcNow = new DateTime(2026, 11, 25, 12, 0, 0, DateTimeKind.Utc);
        node.Clock.UptimeMilliseconds = 5_000;
        node.Tick();

        using JsonDocument doc = JsonDocument.Parse(node.Session.On("sensor/state/kitchen").Last().Payload);
        JsonElement s = doc.RootElement;
        Assert.Equal(21.0, s.GetProperty("temperature").GetDouble());
        Assert.Equal(45.0, s.GetProperty("humidity").GetDouble());
        Assert.Equal("2026-11-25T12:00:00Z", s.GetProperty("time").GetString());
        Assert.Equal("1.0.0", s.GetProperty("firmware").GetString());
        Assert.Equal(81234, s.GetProperty("free_memory").GetInt64());
        Assert.Equal(0, s.GetProperty("read_failures").GetInt32());
        Assert.Equal("ok", s.GetProperty("sensor").GetString());
        Assert.Equal(-61, s.GetProperty("rssi").GetInt32());
        Assert.Equal(10, s.GetProperty("interval_s").GetInt32());
        Assert.Equal(0, s.GetProperty("wifi_failures").GetInt32());
        Assert.Equal(0, s.GetProperty("mqtt_failures").GetInt32());
    }

    [Fact]
    public void State_message_counts_connection_failures()
    {
        var node = new TestNode();
        node.Session.ConnectResults.Enqueue(5);
        node.Session.ConnectResults.Enqueue(3);
        node.Run(10_000);

        using JsonDocument doc = JsonDocument.Parse(node.Session.On("sensor/state/kitchen").Last().Payload);
        Assert.Equal(2, doc.RootElement.GetProperty("mqtt_failures").GetInt32());
        Assert.Contains(node.Log.Lines, l => l.Contains("refused: not authorised", StringComparison.Ordinal));
    }

    [Fact]
    public void State_message_leaves_out_time_and_rssi_when_unknown()
    {
        var node = new TestNode();
        node.Network.SignalDbm = SensorNode.Firmware.Core.Abstractions.SignalStrength.Unknown;
        node.Tick();

        using JsonDocument doc = JsonDocument.Parse(node.Session.On("sensor/state/kitchen").Last().Payload);
        Assert.False(doc.RootElement.TryGetProperty("time", out _));
        Assert.False(doc.RootElement.TryGetProperty("rssi", out _));
    }

    [Fact]
    public void Repeated_sensor_failures_are_reported_on_the_state_topic_and_recovery_too()
    {
        var node = new TestNode();
        node.Tick();
        node.Sensor.Failing = true;
        node.Run(40_000);

        using (JsonDocument failing = JsonDocument.Parse(node.Session.On("sensor/state/kitchen").Last().Payload))
        {
            Assert.Equal("failing", failing.RootElement.GetProperty("sensor").GetString());
            Assert.True(failing.RootElement.GetProperty("read_failures").GetInt32() >= 3);
        }

        node.Sensor.Failing = false;
        node.Run(10_000);
        using JsonDocument ok = JsonDocument.Parse(node.Session.On("sensor/state/kitchen").Last().Payload);
        Assert.Equal("ok", ok.RootElement.GetProperty("sensor").GetString());
    }

    [Fact]
    public void Sensor_exceptions_count_as_failed_reads()
    {
        var node = new TestNode();
        node.Services.Sensor = new ThrowingSensor();
        var controller = new SensorNode.Firmware.Core.Node.NodeController(node.Config, node.Services);
        controller.Tick();
        Assert.Equal(1, controller.ReadFailures);
    }

    private sealed class ThrowingSensor : SensorNode.Firmware.Core.Abstractions.ISensor
    {
        public bool Read(out double temperatureCelsius, out double humidityPercent) => throw new InvalidOperationException("RMT timeout");
    }
}
