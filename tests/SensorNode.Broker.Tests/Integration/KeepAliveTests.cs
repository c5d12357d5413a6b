using System.Diagnostics;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>Keep alive, PINGREQ/PINGRESP and the connect deadline (MQTT 3.1.1 §3.1.2.10, §3.12, §3.13, §4.8).</summary>
public sealed class KeepAliveTests
{
    // [MQTT-3.1.2-24] with keep alive 1 s, a client that sends nothing is disconnected once one and a half times the
    // keep alive (1.5 s) has passed: closed within a few seconds, and not before 1 s.
    [Fact]
    public async Task Silent_client_is_closed_after_one_and_a_half_keep_alive_periods_MQTT_3_1_2_24()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.TimeoutCheckInterval = TimeSpan.FromMilliseconds(50));
        await using RawMqttClient silent = await RawMqttClient.ConnectMqttAsync(broker.Port, "silent", keepAlive: 1);
        var clock = Stopwatch.StartNew();

        await silent.AssertClosedAsync(TimeSpan.FromSeconds(5));

        TimeSpan elapsed = clock.Elapsed;
        Assert.True(elapsed >= TimeSpan.FromSeconds(1), $"closed after only {elapsed}");
        Assert.True(elapsed < TimeSpan.FromSeconds(4), $"closed only after {elapsed}");
        Assert.Null(broker.Broker.Sessions.Find("silent"));
    }

    // [MQTT-3.1.2-24] the deadline restarts with every control packet: MQTTnet with keep alive 1 s sends PINGREQ
    // every second on its own and stays connected, while silent raw peers on the same broker are closed. Two silent
    // peers, the second connected after the first was closed, are the clock (~3 s, twice the limit): no sleeping.
    [Fact]
    public async Task Client_that_keeps_pinging_is_not_closed_MQTT_3_1_2_24()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.TimeoutCheckInterval = TimeSpan.FromMilliseconds(50));
        // 2 s (limit 3 s) leaves the pinging client a margin for a loaded machine; the silent peers use 1 s.
        await using MqttNetClient pinging = await MqttNetClient.ConnectAsync(broker.Port, "pinging", configure: b => b.WithKeepAlivePeriod(TimeSpan.FromSeconds(2)));
        var clock = Stopwatch.StartNew();
        await using (RawMqttClient silent1 = await RawMqttClient.ConnectMqttAsync(broker.Port, "silent-1", keepAlive: 1))
        {
            await silent1.AssertClosedAsync(TimeSpan.FromSeconds(5));
        }

        await using (RawMqttClient silent2 = await RawMqttClient.ConnectMqttAsync(broker.Port, "silent-2", keepAlive: 1))
        {
            await silent2.AssertClosedAsync(TimeSpan.FromSeconds(5));
        }

        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(2), $"silent peers closed after only {clock.Elapsed}");
        Assert.True(pinging.Client.IsConnected);
        Assert.True(broker.Broker.Sessions.Find("pinging")!.IsConnected);
        using var cts = new CancellationTokenSource(TestBroker.Timeout);
        await pinging.Client.PingAsync(cts.Token);
    }

    // [MQTT-3.12.4-1] the server answers PINGREQ with PINGRESP (MQTTnet's PingAsync completes only on PINGRESP).
    [Fact]
    public async Task Pingreq_is_answered_MQTT_3_12_4_1()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient client = await MqttNetClient.ConnectAsync(broker.Port);

        for (int i = 0; i < 3; i++)
        {
            using var cts = new CancellationTokenSource(TestBroker.Timeout);
            await client.Client.PingAsync(cts.Token);
        }

        Assert.True(client.Client.IsConnected);
    }

    // [MQTT-3.12.4-1] on the wire: PINGRESP is exactly the 2-byte packet 0xD0 0x00 [MQTT-3.13].
    [Fact]
    public async Task Pingreq_is_answered_with_PINGRESP_on_the_wire_MQTT_3_12_4_1()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient raw = await RawMqttClient.ConnectMqttAsync(broker.Port, "raw-ping");

        await raw.SendAsync(EmptyPacket.PingReq);

        Assert.Same(EmptyPacket.PingResp, await raw.ReceiveAsync());
    }

    // §3.1.2.10: keep alive 0 turns the mechanism off; such a client is not closed for silence. A keep-alive-1 peer's
    // close (at ~1.5 s) is the clock.
    [Fact]
    public async Task Keep_alive_zero_disables_the_timeout_MQTT_3_1_2_10()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.TimeoutCheckInterval = TimeSpan.FromMilliseconds(50));
        await using RawMqttClient forever = await RawMqttClient.ConnectMqttAsync(broker.Port, "no-keepalive", keepAlive: 0);
        await using RawMqttClient clock = await RawMqttClient.ConnectMqttAsync(broker.Port, "clock", keepAlive: 1);

        await clock.AssertClosedAsync(TimeSpan.FromSeconds(5));

        await forever.SendAsync(EmptyPacket.PingReq);
        Assert.Same(EmptyPacket.PingResp, await forever.ReceiveAsync());
    }

    // [MQTT-3.1.0-1] CONNECT must be the first packet; 3.1.1 adds (non-normatively) that a server SHOULD close a
    // connection that sends no CONNECT within a reasonable time. Here: closed after BrokerOptions.ConnectTimeout
    // (1 s), not before, and without any packet from the broker.
    [Fact]
    public async Task Socket_that_never_sends_CONNECT_is_closed_after_the_connect_timeout()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o =>
        {
            o.ConnectTimeout = TimeSpan.FromSeconds(1);
            o.TimeoutCheckInterval = TimeSpan.FromMilliseconds(50);
        });
        var clock = Stopwatch.StartNew();
        await using RawMqttClient idle = await RawMqttClient.ConnectAsync(broker.Port);

        await idle.AssertClosedAsync(TimeSpan.FromSeconds(5));

        TimeSpan elapsed = clock.Elapsed;
        Assert.True(elapsed >= TimeSpan.FromSeconds(0.95), $"closed after only {elapsed}");
        Assert.True(elapsed < TimeSpan.FromSeconds(4), $"closed only after {elapsed}");
    }
}
