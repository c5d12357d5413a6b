using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Persistence;

/// <summary>
/// §4.8.2: a message sent to one member of a share group that the member does not acknowledge before its session
/// ends goes to another member. Stored sessions keep that promise across restarts: the messages a member was holding
/// are stored with the subscription they came through, and the copies handed to another member are stored before the
/// leaving session's deletion. Before, both were memory-only and a restart lost acknowledged messages.
/// </summary>
public sealed class SharedSubscriptionDurabilityTests
{
    private const string Shared = "$share/workers/jobs/#";
    private const int Count = 10;

    private static void Persistent(MQTTnet.MqttClientOptionsBuilder options) => options.WithCleanStart(false).WithSessionExpiryInterval(3600);

    [Fact]
    public async Task Messages_held_by_a_member_whose_session_ends_after_a_restart_reach_the_other_member_after_another_restart()
    {
        string directory = TestBroker.NewDataDirectory();
        await using (BrokerServer first = await TestBroker.StartAsync(o => o.DataDirectory = directory))
        {
            foreach (string member in new[] { "worker-a", "worker-b" })
            {
                await using MqttNet5Client client = await MqttNet5Client.ConnectAsync(first.Port, member, Persistent);
                await client.SubscribeAsync(Shared);
                await client.DisconnectAsync();
            }

            await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(first.Port);
            for (int i = 0; i < Count; i++)
            {
                await publisher.PublishAsync($"jobs/{i}", i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            await first.Broker.Store.FlushAsync();
            Assert.True(first.Broker.Sessions.Find("worker-a")!.QueuedCount > 0, "both members hold part of the messages");
            Assert.True(first.Broker.Sessions.Find("worker-b")!.QueuedCount > 0, "both members hold part of the messages");
        }

        // worker-a comes back with a clean start: its session ends, and what it held goes to worker-b (offline).
        await using (BrokerServer second = await TestBroker.StartAsync(o => o.DataDirectory = directory))
        {
            await using MqttNet5Client fresh = await MqttNet5Client.ConnectAsync(second.Port, "worker-a", o => o.WithCleanStart(true));
            await fresh.DisconnectAsync();
            Assert.Equal(Count, second.Broker.Sessions.Find("worker-b")!.QueuedCount);
            await second.Broker.Store.FlushAsync();
        }

        await using BrokerServer third = await TestBroker.StartAsync(o => o.DataDirectory = directory);
        await using MqttNet5Client back = await MqttNet5Client.ConnectAsync(third.Port, "worker-b", Persistent);
        var received = new List<string>();
        for (int i = 0; i < Count; i++)
        {
            received.Add((await back.NextAsync()).Payload);
        }

        Assert.Equal(Enumerable.Range(0, Count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).Order(), received.Order());
    }
}
