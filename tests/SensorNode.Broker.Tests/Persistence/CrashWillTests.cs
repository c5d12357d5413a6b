using System.Text;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Persistence;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Hosting;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Persistence;

/// <summary>
/// [MQTT-3.1.2-8] a will is published when the network connection closes without DISCONNECT, and a broker crash
/// closes it too. The will of every open connection is kept in the store, so the next start publishes the wills of
/// the clients that were connected when the broker died (after their Will Delay Interval, for a session that lives
/// on). Without this, a node that died while the broker was down stayed "online" for good. Mosquitto loses these wills.
/// </summary>
public sealed class CrashWillTests
{
    private static WillMessage Offline(string topic, uint? delay = null) => new()
    {
        Topic = topic,
        Payload = Encoding.UTF8.GetBytes("offline"),
        Qos = 1,
        Retain = true,
        Properties = delay is null ? null : new SensorNode.Broker.Protocol.V5.MqttProperties { WillDelayInterval = delay },
    };

    [Fact]
    public async Task The_will_of_a_client_connected_when_the_broker_process_was_killed_is_published_at_the_next_start()
    {
        string dataDirectory = TestBroker.NewDataDirectory();
        await using (BrokerProcess first = BrokerProcess.Start("--port", "0", "--data-dir", dataDirectory))
        {
            int port = await first.WaitForPortAsync(TimeSpan.FromSeconds(30));
            await using RawMqttClient node = await RawMqttClient.ConnectMqttAsync(port, "killed-node", will: Offline("sensor/status/attic"));

            // PUBACK of a retained publish follows its commit, and the will was submitted before it: both are on disk.
            await node.SendAsync(new PublishPacket { Topic = "sensor/status/attic", Payload = "online"u8.ToArray(), Qos = 1, Retain = true, PacketId = 1 });
            Assert.Equal(PacketType.PubAck, (await node.ReceiveAsync())!.Type);
            first.Kill();
        }

        await using BrokerProcess second = BrokerProcess.Start("--port", "0", "--data-dir", dataDirectory);
        int restarted = await second.WaitForPortAsync(TimeSpan.FromSeconds(30));
        await using RawMqttClient watcher = await RawMqttClient.ConnectMqttAsync(restarted, "status-watcher");
        await watcher.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("sensor/status/attic", 1)] });
        Assert.IsType<SubAckPacket>(await watcher.ReceiveAsync());
        var status = Assert.IsType<PublishPacket>(await watcher.ReceiveAsync());
        Assert.Equal("offline", Encoding.UTF8.GetString(status.Payload.Span));
        Assert.True(status.Retain);
    }

    /// <summary>
    /// The same in process, over a store that outlives the first broker (which is left running as a crashed one would
    /// be: its connections never closed). A session that lives on gets its will after the delay, not at once.
    /// </summary>
    [Fact]
    public async Task At_start_wills_of_connections_left_open_are_published_or_wait_out_their_delay()
    {
        var store = new InMemoryBrokerStore();
        await using BrokerServer crashed = await TestBroker.StartAsync(o => o.Store = store);
        await using RawMqttClient plain = await RawMqttClient.ConnectMqttAsync(crashed.Port, "plain-node", will: Offline("status/plain"));
        await using RawMqttClient delayed = await RawMqttClient.ConnectV5AcceptedAsync(crashed.Port, "delayed-node", connect =>
        {
            connect.CleanStart = false;
            connect.Properties = new SensorNode.Broker.Protocol.V5.MqttProperties { SessionExpiryInterval = 3600 };
            connect.Will = Offline("status/delayed", delay: 600);
        });
        await using RawMqttClient noWill = await RawMqttClient.ConnectMqttAsync(crashed.Port, "no-will-node");

        await using BrokerServer next = await TestBroker.StartAsync(o => o.Store = store);

        Assert.Equal("offline", Encoding.UTF8.GetString(next.Broker.Retained.Find("status/plain")!.PayloadSpan));
        Assert.Null(next.Broker.Retained.Find("status/delayed"));
        Assert.Equal(1, next.Broker.DelayedWillCount);
    }

    /// <summary>
    /// A takeover that starts a new session: the replaced connection, ending, must leave the new connection's stored
    /// will alone (both are kept under the client id), or a crash would lose it.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task After_a_takeover_the_new_connection_s_will_is_the_one_published_at_the_next_start(bool persistentAfter)
    {
        var store = new InMemoryBrokerStore();
        await using BrokerServer crashed = await TestBroker.StartAsync(o => o.Store = store);
        WillMessage Will(string payload) => new() { Topic = "status/taken", Payload = Encoding.UTF8.GetBytes(payload), Qos = 1, Retain = true };
        RawMqttClient first = await RawMqttClient.ConnectMqttAsync(crashed.Port, "taken-node", will: Will("first"));
        await using RawMqttClient second = await RawMqttClient.ConnectMqttAsync(crashed.Port, "taken-node", cleanSession: !persistentAfter, will: Will("second"));
        await first.AssertClosedAsync();
        await first.DisposeAsync();
        await Eventually.AssertAsync(() => crashed.Broker.ConnectionCount == 1, "the replaced connection has ended");
        Assert.Equal("first", Encoding.UTF8.GetString(crashed.Broker.Retained.Find("status/taken")!.PayloadSpan));

        await using BrokerServer next = await TestBroker.StartAsync(o => o.Store = store);

        Assert.Equal("second", Encoding.UTF8.GetString(next.Broker.Retained.Find("status/taken")!.PayloadSpan));
    }

    /// <summary>A will discarded by DISCONNECT [MQTT-3.14.4-3] is gone from the store too: nothing to publish at the next start.</summary>
    [Fact]
    public async Task A_will_discarded_by_DISCONNECT_is_not_published_at_the_next_start()
    {
        var store = new InMemoryBrokerStore();
        await using (BrokerServer first = await TestBroker.StartAsync(o => o.Store = store))
        {
            await using RawMqttClient node = await RawMqttClient.ConnectMqttAsync(first.Port, "polite-node", will: Offline("status/polite"));
            await node.SendAsync(EmptyPacket.Disconnect);
            await node.AssertClosedAsync();
            await Eventually.AssertAsync(() => first.Broker.Sessions.Find("polite-node") is null, "the session ended");
            await first.StopAsync();
        }

        Assert.Empty(store.Load().DelayedWills);
    }
}
