using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Persistence;

/// <summary>The store and the queues stay bounded: expiry of abandoned sessions, a broker-wide byte budget.</summary>
public sealed class StorageBoundsTests
{
    private static async Task LeavePersistentSessionAsync(int port, string clientId, string filter)
    {
        await using RawMqttClient client = await RawMqttClient.ConnectMqttAsync(port, clientId, cleanSession: false);
        await client.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription(filter, 1)] });
        Assert.IsType<SubAckPacket>(await client.ReceiveAsync());
        await client.SendAsync(EmptyPacket.Disconnect);
        await client.AssertClosedAsync();
    }

    [Fact]
    public async Task Abandoned_persistent_sessions_expire_and_are_purged_from_the_store_while_connected_ones_stay()
    {
        string directory = TestBroker.NewDataDirectory();
        await using (BrokerServer broker = await TestBroker.StartAsync(o =>
        {
            o.DataDirectory = directory;
            o.Sessions.PersistentSessionExpiry = TimeSpan.Zero;
            o.HousekeepingInterval = TimeSpan.FromHours(1);
        }))
        {
            await LeavePersistentSessionAsync(broker.Port, "abandoned", "a/#");
            await using RawMqttClient present = await RawMqttClient.ConnectMqttAsync(broker.Port, "present", cleanSession: false);

            broker.Broker.Housekeeping();

            Assert.Null(broker.Broker.Sessions.Find("abandoned"));
            Assert.NotNull(broker.Broker.Sessions.Find("present"));
            Assert.Equal(1, broker.Broker.Metrics.SessionsExpired);
            Assert.Equal(0, broker.Broker.Subscriptions.Count);
            await broker.Broker.Store.FlushAsync();
        }

        await using BrokerServer restarted = await TestBroker.StartAsync(o => o.DataDirectory = directory);
        Assert.Null(restarted.Broker.Sessions.Find("abandoned"));
        Assert.NotNull(restarted.Broker.Sessions.Find("present"));
    }

    [Fact]
    public async Task Session_offline_time_survives_a_restart_so_expiry_is_not_reset_by_restarts()
    {
        string directory = TestBroker.NewDataDirectory();
        await using (BrokerServer broker = await TestBroker.StartAsync(o => o.DataDirectory = directory))
        {
            await LeavePersistentSessionAsync(broker.Port, "sleepy", "s/#");
            await broker.Broker.Store.FlushAsync();
        }

        DateTimeOffset before = DateTimeOffset.UtcNow;
        await using BrokerServer restarted = await TestBroker.StartAsync(o => o.DataDirectory = directory);
        DateTimeOffset? offlineSince = restarted.Broker.Sessions.Find("sleepy")!.OfflineSince;
        Assert.NotNull(offlineSince);
        Assert.True(offlineSince <= before, $"offline since {offlineSince}, restart at {before}");
    }

    [Fact]
    public async Task Broker_wide_queue_budget_drops_counted_messages_and_holds_the_total()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.Sessions.MaxTotalQueuedBytes = 4096);
        await LeavePersistentSessionAsync(broker.Port, "offline-1", "flood/#");
        await LeavePersistentSessionAsync(broker.Port, "offline-2", "flood/#");
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);

        for (int i = 0; i < 40; i++)
        {
            await publisher.PublishAsync("flood/x", new string('p', 100), MqttQualityOfServiceLevel.AtLeastOnce);
        }

        Assert.True(broker.Broker.Metrics.DroppedBrokerQueueBudget > 0);
        Assert.True(broker.Broker.Metrics.QueuedBytes <= 4096, $"{broker.Broker.Metrics.QueuedBytes} bytes queued");

        // The newest messages are the ones kept (DropOldest), for both sessions.
        await using RawMqttClient back = await RawMqttClient.ConnectAsync(broker.Port);
        await back.SendAsync(new ConnectPacket { ClientId = "offline-1", CleanSession = false, KeepAliveSeconds = 60 });
        Assert.True(Assert.IsType<ConnAckPacket>(await back.ReceiveAsync()).SessionPresent);
        Assert.IsType<PublishPacket>(await back.ReceiveAsync());
        Assert.True(broker.Broker.Sessions.Find("offline-1")!.QueuedCount + broker.Broker.Sessions.Find("offline-1")!.InflightCount < 40);
    }
}
