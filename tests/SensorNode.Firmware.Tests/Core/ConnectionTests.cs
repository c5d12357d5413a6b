using SensorNode.Firmware.Core.Abstractions;
using SensorNode.Firmware.Core.Connectivity;
using SensorNode.Firmware.Tests.Fakes;

namespace SensorNode.Firmware.Tests.Core;

/// <summary>The Wi-Fi/MQTT state machine through outages, on a fake clock.</summary>
public sealed class ConnectionTests
{
    [Fact]
    public void Boot_joins_wifi_then_connects_with_the_availability_will_and_goes_online()
    {
        var node = new TestNode();
        node.Tick();

        Assert.Equal(ConnectionState.Online, node.Controller.Connection.State);
        Assert.Equal(1, node.Network.Attempts);
        MqttConnectRequest connect = Assert.Single(node.Session.Connects);
        Assert.Equal("broker.local", connect.Host);
        Assert.Equal(1883, connect.Port);
        Assert.Equal("sensornode_kitchen", connect.ClientId);
        Assert.Equal("sensor/status/kitchen", connect.WillTopic);
        Assert.Equal("offline", connect.WillPayload);
        Assert.Equal(1, connect.WillQos);
        Assert.True(connect.WillRetain);
        Assert.Equal(new Published("sensor/status/kitchen", "online", 1, true), node.Session.Published[0]);
        Assert.Contains("sensor/command/kitchen", node.Session.Subscriptions);
    }

    [Fact]
    public void Wifi_failures_back_off_exponentially_until_the_network_returns()
    {
        var node = new TestNode();
        node.Network.Available = false;

        node.Run(60_000);
        int attempts = node.Network.Attempts;
        // Delays ~1, 2, 4, 8, 16, 32 s (minus jitter): about 6-7 tries in a minute, not 600.
        Assert.InRange(attempts, 5, 8);
        Assert.Equal(ConnectionState.NetworkDown, node.Controller.Connection.State);
        Assert.Empty(node.Session.Connects);

        node.Network.Available = true;
        node.Run(61_000);
        Assert.Equal(ConnectionState.Online, node.Controller.Connection.State);
    }

    [Fact]
    public void Broker_refusals_back_off_with_a_cap_and_reset_after_success()
    {
        var node = new TestNode(c => c.BackoffMaxSeconds = 8);
        node.Session.BrokerReachable = false;

        node.Run(120_000);
        // 1 + 2 + 4 + 8 + 8 + ... : capped at 8 s, so at least 120/8 attempts and far fewer than one per tick.
        Assert.InRange(node.Session.Connects.Count, 15, 25);
        Assert.Equal(ConnectionState.BrokerDown, node.Controller.Connection.State);
        Assert.Equal(node.Session.Connects.Count, node.Controller.Connection.BrokerFailures);

        node.Session.BrokerReachable = true;
        node.Run(8_100);
        Assert.Equal(ConnectionState.Online, node.Controller.Connection.State);

        // After a success the next outage starts again at ~1 s.
        int before = node.Session.Connects.Count;
        node.Session.Drop();
        node.Run(1_100);
        Assert.Equal(before + 1, node.Session.Connects.Count);
        Assert.Equal(ConnectionState.Online, node.Controller.Connection.State);
    }

    [Fact]
    public void Connection_loss_is_detected_counted_and_healed_with_online_published_again()
    {
        var node = new TestNode();
        node.Run(1_000);
        node.Session.Clear();

        node.Session.Drop();
        node.Tick();
        Assert.Equal(ConnectionState.BrokerDown, node.Controller.Connection.State);
        Assert.Equal(1, node.Session.Aborts);

        node.Run(2_000);
        Assert.Equal(ConnectionState.Online, node.Controller.Connection.State);
        Assert.Equal(1, node.Controller.Connection.ConnectionLosses);
        Assert.Equal("online", node.Session.On("sensor/status/kitchen").Single().Payload);
    }

    [Fact]
    public void Wifi_loss_goes_back_to_joining_the_network()
    {
        var node = new TestNode();
        node.Run(1_000);

        node.Network.IsConnected = false;
        node.Network.Available = false;
        node.Session.Drop();
        node.Run(5_000);
        Assert.Equal(ConnectionState.NetworkDown, node.Controller.Connection.State);

        node.Network.Available = true;
        node.Run(20_000);
        Assert.Equal(ConnectionState.Online, node.Controller.Connection.State);
    }

    [Fact]
    public void Only_the_latest_state_is_sent_after_an_outage()
    {
        var node = new TestNode(c => c.MedianWindow = 1);
        node.Run(1_000);
        node.Session.BrokerReachable = false;
        node.Session.Drop();

        // Ten readings while offline, each different.
        for (int i = 0; i < 10; i++)
        {
            node.Sensor.Temperature = 22.0 + (i * 0.5);
            node.Run(10_000);
        }

        node.Session.Clear();
        node.Session.BrokerReachable = true;
        node.Run(15_000);

        Published temperature = Assert.Single(node.Session.On("sensor/temperature/kitchen"));
        Assert.Equal("26.5", temperature.Payload);
        Assert.True(temperature.Retain);
    }

    [Fact]
    public void Watchdog_restarts_when_nothing_works_for_the_configured_time()
    {
        var node = new TestNode(c => c.WatchdogSeconds = 120);
        node.Network.Available = false;

        node.Run(119_000);
        Assert.Empty(node.Restarter.Reasons);

        node.Run(2_000);
        Assert.StartsWith("watchdog", Assert.Single(node.Restarter.Reasons), StringComparison.Ordinal);
        Assert.True(node.Controller.Stopped);
    }

    [Fact]
    public void Watchdog_is_not_triggered_while_online()
    {
        var node = new TestNode(c => c.WatchdogSeconds = 60);
        node.Run(600_000, step: 1_000);
        Assert.Empty(node.Restarter.Reasons);
    }

    [Fact]
    public void Status_led_blinks_slowly_while_offline_and_is_off_when_all_is_well()
    {
        var node = new TestNode();
        node.Network.Available = false;
        node.Run(10_000);
        Assert.True(node.Led.Changes >= 8);

        node.Network.Available = true;
        node.Run(40_000);
        Assert.False(node.Led.On);
    }
}
