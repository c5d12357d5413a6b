using System.Text;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;
using static SensorNode.Broker.Tests.Protocol.RawFrames;

namespace SensorNode.Broker.Tests.Hardening;

/// <summary>
/// Faults between clients and the broker, injected by <see cref="FaultProxy"/>: QoS 1 and QoS 2 guarantees hold for a
/// persistent-session subscriber whose connection is cut again and again (every acknowledged QoS 1 message delivered
/// at least once, every acknowledged QoS 2 message exactly once); truncation, delay and stall hurt only that client.
/// </summary>
public sealed class FaultInjectionTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Acknowledged_messages_survive_repeated_cuts_of_a_persistent_subscriber(byte qos)
    {
        await using var server = await TestBroker.StartAsync();
        await using var proxy = new FaultProxy(server.Port);
        await using var subscriber = new PersistentSubscriber($"cut-sub-{qos}");
        await subscriber.ConnectAsync(proxy.Port, $"cut/{qos}/#", qos);

        await using RawMqttClient publisher = await RawMqttClient.ConnectAsync(server.Port);
        await publisher.SendAsync(Connect($"cut-pub-{qos}"));
        await publisher.ExpectAsync<ConnAckPacket>();

        const int Messages = 300;
        var acknowledged = new List<string>();
        for (int i = 1; i <= Messages; i++)
        {
            string payload = $"m{i}";
            await publisher.SendAsync(Publish($"cut/{qos}/x", Utf8(payload), qos, (ushort)i));
            if (qos == 1)
            {
                Assert.Equal(i, Assert.IsType<PacketIdPacket>(await publisher.ReceiveAsync()).PacketId);
            }
            else
            {
                Assert.Equal(PacketType.PubRec, (await publisher.ExpectAsync<PacketIdPacket>()).Type);
                await publisher.SendAsync(Ack(0x62, (ushort)i));
                Assert.Equal(PacketType.PubComp, (await publisher.ExpectAsync<PacketIdPacket>()).Type);
            }

            acknowledged.Add(payload);
            if (i % 40 == 0)
            {
                // Cut the subscriber mid-stream, then reconnect it through the proxy with its session state.
                proxy.CutAll();
                await subscriber.Closed.WaitAsync(TimeSpan.FromSeconds(10));
                await subscriber.ConnectAsync(proxy.Port);
            }
        }

        bool all = await subscriber.WaitUntilAsync(d => acknowledged.All(p => d.Any(x => x.Payload == p)), TimeSpan.FromSeconds(30));
        Assert.True(all, $"missing: {string.Join(",", acknowledged.Where(p => !subscriber.Deliveries.Any(d => d.Payload == p)).Take(20))}\n{string.Join("\n", subscriber.Trace.TakeLast(30))}");
        if (qos == 2)
        {
            var duplicates = subscriber.Deliveries.GroupBy(d => d.Payload).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
            Assert.True(duplicates.Count == 0, $"QoS 2 delivered twice: {string.Join(",", duplicates.Take(20))}");
        }

        Assert.True(proxy.Cuts >= 7);
    }

    [Fact]
    public async Task Truncated_and_delayed_and_stalled_connections_hurt_only_themselves()
    {
        await using var server = await TestBroker.StartAsync(o => o.Persistence = PersistenceMode.Memory);
        await using var proxy = new FaultProxy(server.Port);
        await using RawMqttClient observer = await RawMqttClient.ConnectAsync(server.Port);
        await observer.SendAsync(Connect("fi-observer"));
        await observer.ExpectAsync<ConnAckPacket>();
        await observer.SendAsync(Subscribe(1, ("fi/#", 1)));
        await observer.ExpectAsync<SubAckPacket>();

        // Truncated: half a PUBLISH reaches the broker, then the connection is cut. Nothing is delivered.
        await using (RawMqttClient victim = await RawMqttClient.ConnectAsync(proxy.Port))
        {
            await victim.SendAsync(Connect("fi-trunc"));
            await victim.ExpectAsync<ConnAckPacket>();
            byte[] publish = Publish("fi/truncated", Utf8(new string('x', 100)), 1, 1);
            proxy.TruncateNext(publish.Length / 2);
            await victim.SendAsync(publish);
            Assert.Null(await victim.ReceiveAsync());
        }

        // Delayed: 50 ms per chunk, still correct.
        proxy.Delay = TimeSpan.FromMilliseconds(50);
        await using (RawMqttClient slow = await RawMqttClient.ConnectAsync(proxy.Port))
        {
            await slow.SendAsync(Connect("fi-slow"));
            await slow.ExpectAsync<ConnAckPacket>();
            await slow.SendAsync(Publish("fi/delayed", Utf8("d"), 1, 2));
            Assert.Equal(2, (await slow.ExpectAsync<PacketIdPacket>()).PacketId);
        }

        Assert.Equal("fi/delayed", (await observer.ExpectAsync<PublishPacket>()).Topic);
        await observer.SendAsync(Ack(0x40, 1));

        // Stalled: a connection whose bytes go nowhere does not hold anyone else up.
        proxy.Delay = TimeSpan.Zero;
        await using RawMqttClient stalled = await RawMqttClient.ConnectAsync(proxy.Port);
        await stalled.SendAsync(Connect("fi-stalled"));
        await stalled.ExpectAsync<ConnAckPacket>();
        proxy.Stalled = true;
        await stalled.SendAsync(Publish("fi/stalled", Utf8("s"), 1, 3));
        await using RawMqttClient direct = await RawMqttClient.ConnectAsync(server.Port);
        await direct.SendAsync(Connect("fi-direct"));
        await direct.ExpectAsync<ConnAckPacket>();
        await direct.SendAsync(Publish("fi/direct", Utf8("ok"), 1, 4));
        Assert.Equal(4, (await direct.ExpectAsync<PacketIdPacket>()).PacketId);
        var got = await observer.ExpectAsync<PublishPacket>();
        Assert.Equal("fi/direct", got.Topic);
        proxy.Stalled = false;
        proxy.CutAll();
    }
}
