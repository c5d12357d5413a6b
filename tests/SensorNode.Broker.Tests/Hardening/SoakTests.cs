using System.Diagnostics;
using System.Globalization;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;
using static SensorNode.Broker.Tests.Protocol.RawFrames;

namespace SensorNode.Broker.Tests.Hardening;

/// <summary>
/// Churn soak: clients connect and disconnect, take sessions over, are killed, persistent sessions come and go, QoS
/// 0/1/2 traffic flows, and two persistent subscribers are cut by a fault proxy again and again. Invariants are
/// checked while it runs (delivery lag bounded, queued bytes within the cap, process RSS and handle count stable)
/// and at the end (every acknowledged QoS 1 message delivered at least once, QoS 2 exactly once).
/// Duration: SENSORNODE_SOAK_SECONDS, else 120 s under CI=true, else 15 s. tests/soak.sh runs it for an hour.
/// </summary>
// Not in parallel with each other: the soak watches the process's descriptor count, which 300 clients at once would
// raise by 600.
[Collection("Descriptors in bulk")]
public sealed class SoakTests
{
    private static TimeSpan Duration()
    {
        if (int.TryParse(Environment.GetEnvironmentVariable("SENSORNODE_SOAK_SECONDS"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int seconds) && seconds > 0)
        {
            return TimeSpan.FromSeconds(seconds);
        }

        return string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase) ? TimeSpan.FromSeconds(120) : TimeSpan.FromSeconds(15);
    }

    private static (long Rss, int Handles) Sample()
    {
        using var process = Process.GetCurrentProcess();
        return (process.WorkingSet64, process.HandleCount);
    }

    [Fact]
    public async Task Churn_keeps_every_acknowledged_message_and_resources_stable()
    {
        TimeSpan duration = Duration();
        await using var server = await TestBroker.StartAsync(o => o.Durability = SensorNode.Broker.Persistence.StoreDurability.Normal);
        var metrics = server.Broker.Metrics;
        long totalCap = server.Broker.Options.Sessions.MaxTotalQueuedBytes;
        await using var proxy = new FaultProxy(server.Port);
        await using var sub1 = new PersistentSubscriber("soak-q1");
        await using var sub2 = new PersistentSubscriber("soak-q2");
        await sub1.ConnectAsync(proxy.Port, "soak/q1/#", 1);
        await sub2.ConnectAsync(proxy.Port, "soak/q2/#", 2);

        var acked1 = new List<string>();
        var acked2 = new List<string>();
        var failures = new List<string>();
        using var stop = new CancellationTokenSource(duration);
        var clock = Stopwatch.StartNew();

        // Publisher: QoS 0, 1, 2 in turn, each QoS 1/2 one recorded once acknowledged.
        Task publisher = Task.Run(async () =>
        {
            await using RawMqttClient w = await RawMqttClient.ConnectAsync(server.Port);
            await w.SendAsync(Connect("soak-publisher"));
            await w.ExpectAsync<ConnAckPacket>();
            ushort id = 0;
            for (int n = 0; !stop.IsCancellationRequested && n < 10_000_000; n++)
            {
                id = (ushort)(id % 60000 + 1);
                string payload = $"p{n}";
                switch (n % 3)
                {
                    case 0:
                        await w.SendAsync(Publish("soak/q0/x", Utf8(payload)));
                        break;
                    case 1:
                        await w.SendAsync(Publish("soak/q1/x", Utf8(payload), 1, id));
                        Assert.Equal(id, (await w.ExpectAsync<PacketIdPacket>()).PacketId);
                        lock (acked1)
                        {
                            acked1.Add(payload);
                        }

                        break;
                    default:
                        await w.SendAsync(Publish("soak/q2/x", Utf8(payload), 2, id));
                        Assert.Equal(PacketType.PubRec, (await w.ExpectAsync<PacketIdPacket>()).Type);
                        await w.SendAsync(Ack(0x62, id));
                        Assert.Equal(PacketType.PubComp, (await w.ExpectAsync<PacketIdPacket>()).Type);
                        lock (acked2)
                        {
                            acked2.Add(payload);
                        }

                        break;
                }
            }
        });

        // Churn: clean connects, takeovers, kills, persistent sessions coming and going, 5.0 clients.
        Task churn = Task.Run(async () =>
        {
            var random = new Random(12);
            for (int n = 0; !stop.IsCancellationRequested && n < 1_000_000; n++)
            {
                string id = $"churn-{random.Next(20)}";
                switch (random.Next(5))
                {
                    case 0:
                        {
                            await using RawMqttClient w = await RawMqttClient.ConnectAsync(server.Port);
                            await w.SendAsync(Connect(id));
                            await w.ExpectAsync<ConnAckPacket>();
                            await w.SendAsync(Concat(Subscribe(1, ("soak/q0/#", 0)), Frame(0xE0)));
                            break;
                        }

                    case 1:
                        {
                            // Takeover: the first connection must be closed by the second.
                            await using RawMqttClient first = await RawMqttClient.ConnectAsync(server.Port);
                            await first.SendAsync(Connect(id + "-t"));
                            await first.ExpectAsync<ConnAckPacket>();
                            await using RawMqttClient second = await RawMqttClient.ConnectAsync(server.Port);
                            await second.SendAsync(Connect(id + "-t"));
                            await second.ExpectAsync<ConnAckPacket>();
                            MqttPacket? p;
                            int guard = 0;
                            while ((p = await first.ReceiveAsync()) is not null && guard++ < 1000)
                            {
                            }

                            if (p is not null)
                            {
                                lock (failures)
                                {
                                    failures.Add("taken-over connection not closed");
                                }
                            }

                            second.Abort();
                            break;
                        }

                    case 2:
                        {
                            // Killed client with a persistent session subscribed to QoS 1 traffic; later discarded.
                            RawMqttClient w = await RawMqttClient.ConnectAsync(server.Port);
                            await w.SendAsync(Connect(id + "-p", cleanSession: false));
                            await w.ExpectAsync<ConnAckPacket>();
                            await w.SendAsync(Subscribe(1, ("soak/q1/#", 1)));
                            w.Abort();
                            break;
                        }

                    case 3:
                        {
                            await using RawMqttClient w = await RawMqttClient.ConnectAsync(server.Port);
                            await w.SendAsync(Connect(id + "-p", cleanSession: true));
                            await w.ExpectAsync<ConnAckPacket>();
                            await w.SendAsync(Frame(0xE0));
                            break;
                        }

                    default:
                        {
                            await using RawMqttClient w = await RawMqttClient.ConnectAsync(server.Port);
                            w.Level = ProtocolLevel.V500;
                            await w.SendAsync(new ConnectPacket { ProtocolLevel = ProtocolLevel.V500, ClientId = id + "-5", CleanStart = random.Next(2) == 0, Properties = new() { SessionExpiryInterval = (uint)random.Next(3) } });
                            await w.ExpectAsync<ConnAckPacket>();
                            await w.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("soak/q2/#", 2)] });

                            // A resumed session may deliver queued messages before the SUBACK.
                            for (int i = 0; i < 100_000 && await w.ReceiveAsync() is { } reply && reply is not SubAckPacket; i++)
                            {
                            }

                            w.Abort();
                            break;
                        }
                }
            }
        });

        // Faults and invariants, checked every 250 ms while the churn runs.
        (long Rss, int Handles)? baseline = null;
        long peakRss = 0;
        int peakHandles = 0;
        int round = 0;
        while (!stop.IsCancellationRequested && round++ < 100_000)
        {
            try
            {
                await Task.Delay(250, stop.Token); // the pace of fault injection and sampling: time must pass here
            }
            catch (OperationCanceledException)
            {
                break;
            }

            Assert.True(metrics.QueuedBytes <= totalCap, $"queued bytes {metrics.QueuedBytes} over {totalCap}");
            Assert.False(publisher.IsFaulted, publisher.Exception?.ToString());
            Assert.False(churn.IsFaulted, churn.Exception?.ToString());
            if (round % 4 == 0)
            {
                proxy.CutAll();
                await sub1.Closed.WaitAsync(TimeSpan.FromSeconds(10));
                await sub2.Closed.WaitAsync(TimeSpan.FromSeconds(10));
                await sub1.ConnectAsync(proxy.Port);
                await sub2.ConnectAsync(proxy.Port);
            }

            // Delivery lag stays bounded: a stuck session would let it grow without end.
            int lag1;
            lock (acked1)
            {
                lag1 = acked1.Count - sub1.Deliveries.Select(d => d.Payload).Distinct().Count();
            }

            Assert.True(lag1 < 5000, $"QoS 1 delivery lag {lag1}");

            if (clock.Elapsed > TimeSpan.FromSeconds(5))
            {
                GC.Collect();
                (long rss, int handles) = Sample();
                baseline ??= (rss, handles);
                peakRss = Math.Max(peakRss, rss);
                peakHandles = Math.Max(peakHandles, handles);
                Assert.True(rss < baseline.Value.Rss + (300L << 20), $"RSS grew from {baseline.Value.Rss >> 20} MB to {rss >> 20} MB");
                Assert.True(handles < baseline.Value.Handles + 400, $"handles grew from {baseline.Value.Handles} to {handles}");
            }
        }

        await publisher.WaitAsync(TimeSpan.FromSeconds(30));
        await churn.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Empty(failures);

        string[] expected1, expected2;
        lock (acked1)
        {
            expected1 = [.. acked1];
        }

        lock (acked2)
        {
            expected2 = [.. acked2];
        }

        Assert.True(expected1.Length > 50 && expected2.Length > 50, $"too little traffic: {expected1.Length} / {expected2.Length}");
        bool all1 = await sub1.WaitUntilAsync(d => d.Select(x => x.Payload).ToHashSet().IsSupersetOf(expected1), TimeSpan.FromSeconds(60));
        bool all2 = await sub2.WaitUntilAsync(d => d.Select(x => x.Payload).ToHashSet().IsSupersetOf(expected2), TimeSpan.FromSeconds(60));
        var got1 = sub1.Deliveries.Select(d => d.Payload).ToHashSet();
        var got2 = sub2.Deliveries.Select(d => d.Payload).ToHashSet();
        Assert.True(all1, $"QoS 1 lost: {string.Join(",", expected1.Where(p => !got1.Contains(p)).Take(20))}");
        Assert.True(all2, $"QoS 2 lost: {string.Join(",", expected2.Where(p => !got2.Contains(p)).Take(20))}");
        var twice = sub2.Deliveries.GroupBy(d => d.Payload).Where(g => g.Count() > 1).Select(g => g.Key).Take(20).ToList();
        Assert.True(twice.Count == 0, $"QoS 2 delivered twice: {string.Join(",", twice)}");
        Assert.True(proxy.Cuts > 0);
    }
}
