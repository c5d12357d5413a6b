using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Infrastructure;
using SensorNode.Broker.Tests.Interop;

namespace SensorNode.Broker.Tests.Operations;

/// <summary>Memory goes back to the system after many clients have left (housekeeping), once per wave.</summary>
public sealed class MemoryTrimTests
{
    [Fact]
    public async Task Housekeeping_collects_once_after_at_least_half_of_the_connections_and_the_threshold_have_gone()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.HousekeepingInterval = TimeSpan.FromHours(1));
        broker.Broker.TrimAfterShedding = 3;
        var clients = new List<RawMqttClient>();
        for (int i = 0; i < 6; i++)
        {
            clients.Add(await RawMqttClient.ConnectMqttAsync(broker.Port, "shed-" + i));
        }

        // Two of six gone: below both the threshold and half of the peak.
        await clients[0].DisposeAsync();
        await clients[1].DisposeAsync();
        await BrokerWait.UntilAsync(() => broker.Broker.ConnectionCount == 4, "two connections to end");
        broker.Broker.Housekeeping();
        Assert.Equal(0, broker.Broker.MemoryTrims);

        // Five of six gone: a trim, and only one for this wave.
        foreach (RawMqttClient client in clients.Skip(2).Take(3))
        {
            await client.DisposeAsync();
        }

        await BrokerWait.UntilAsync(() => broker.Broker.ConnectionCount == 1, "three more connections to end");
        int gen2Before = GC.CollectionCount(GC.MaxGeneration);
        broker.Broker.Housekeeping();
        broker.Broker.Housekeeping();
        Assert.Equal(1, broker.Broker.MemoryTrims);
        Assert.True(GC.CollectionCount(GC.MaxGeneration) > gen2Before);

        // The peak starts again from what is left: a new wave of clients coming and going trims again.
        for (int i = 0; i < 4; i++)
        {
            clients.Add(await RawMqttClient.ConnectMqttAsync(broker.Port, "wave-" + i));
        }

        foreach (RawMqttClient client in clients.Skip(6))
        {
            await client.DisposeAsync();
        }

        await BrokerWait.UntilAsync(() => broker.Broker.ConnectionCount == 1, "the second wave to end");
        broker.Broker.Housekeeping();
        Assert.Equal(2, broker.Broker.MemoryTrims);
        await clients[5].DisposeAsync();
    }
}
