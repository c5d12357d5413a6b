using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Routing;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Tests.Sessions;

/// <summary>
/// A subscription's retained replay against a publisher updating a retained topic at the same time: the value the
/// replay carries is never older than a live value queued before it (the client must not end on a stale value,
/// [MQTT-3.3.1-6] with [MQTT-4.6.0-5]'s per-topic ordering). Before the fix a live update could slip between the
/// replay's match and its queueing.
/// </summary>
public sealed class RetainedReplayOrderTests
{
    private sealed class Connection : ISessionConnection
    {
        public void SignalOutput()
        {
        }

        public void Close(DisconnectReason reason)
        {
        }
    }

    [Fact]
    public void A_replayed_value_is_never_older_than_a_live_value_queued_before_it()
    {
        using var broker = new MqttBroker(new BrokerOptions { Port = 0, BindAddress = "127.0.0.1", Persistence = PersistenceMode.Memory }, NullLoggerFactory.Instance);

        // Many retained messages make the match slow, which widens the window the race needed.
        for (int i = 0; i < 30_000; i++)
        {
            broker.Publish(ApplicationMessage.Create($"room/x/{i}", "v"u8, 0, retain: true));
        }

        broker.Publish(ApplicationMessage.Create("room/t", "0"u8, 0, retain: true));
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var publisher = new Thread(() =>
        {
            for (long n = 1; !stop.IsCancellationRequested; n++)
            {
                broker.Publish(ApplicationMessage.Create("room/t", Encoding.UTF8.GetBytes(n.ToString(System.Globalization.CultureInfo.InvariantCulture)), 0, retain: true));
            }
        });
        publisher.Start();

        var reversed = new List<string>();
        try
        {
            for (int round = 0; round < 150 && !stop.IsCancellationRequested; round++)
            {
                var connection = new Connection();
                Session session = broker.Sessions.Open("sub" + round, cleanStart: true, connection).Session;
                var due = new List<Subscription>();
                broker.Subscribe(session, [new SubscriptionRequest("room/#", 0, default)], null, false, due);
                broker.SendRetained(session, due);
                var batch = new List<OutboundPacket>();
                session.DrainOutbound(connection, batch, 1_000_000);

                long newestLive = -1;
                foreach (OutboundPacket packet in batch.Where(p => p.Type == PacketType.Publish && p.Message!.Topic == "room/t"))
                {
                    long value = long.Parse(Encoding.UTF8.GetString(packet.Message!.PayloadSpan), System.Globalization.CultureInfo.InvariantCulture);
                    if (!packet.Retain)
                    {
                        newestLive = Math.Max(newestLive, value);
                    }
                    else if (newestLive > value)
                    {
                        reversed.Add($"round {round}: live {newestLive} before replayed {value}");
                    }
                }

                session.Detach(connection);
                broker.Sessions.Remove(session);
                broker.DiscardSession(session);
            }
        }
        finally
        {
            stop.Cancel();
            publisher.Join();
        }

        Assert.Empty(reversed);
    }
}
