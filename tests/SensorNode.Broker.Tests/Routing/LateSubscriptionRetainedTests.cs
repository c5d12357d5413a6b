using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using SensorNode.Broker.Persistence;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Routing;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Tests.Routing;

/// <summary>
/// A retained publish is matched to its subscribers, then takes effect (retained store updated, messages queued) once
/// its store write has committed. A subscription made in between must still get it [MQTT-3.3.1-6]: its retained
/// replay ran before the message was in the retained store, and the match ran before the subscription existed.
/// Before the fix such a subscriber got the value neither live nor retained, and saw it only at the next reading.
/// </summary>
public sealed class LateSubscriptionRetainedTests
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

    /// <summary>A store whose commits happen only when the test says so.</summary>
    private sealed class HeldStore : IBrokerStore
    {
        private readonly List<Action> _pending = [];

        public int Pending => _pending.Count;

        public long SizeOnDisk => 0;

        public StoredState Load() => new();

        public void Submit(ReadOnlySpan<StoreOperation> operations, Action? onDurable = null)
        {
            if (onDurable is not null)
            {
                _pending.Add(onDurable);
            }
        }

        public void Submit(StoreOperation operation)
        {
        }

        public Task FlushAsync() => Task.CompletedTask;

        public void Commit()
        {
            foreach (Action onDurable in _pending)
            {
                onDurable();
            }

            _pending.Clear();
        }

        public void Dispose()
        {
        }
    }

    [Fact]
    public void A_subscription_made_while_a_retained_publish_is_being_stored_gets_it()
    {
        var store = new HeldStore();
        using var broker = new MqttBroker(new BrokerOptions { Port = 0, BindAddress = "127.0.0.1", Store = store }, NullLoggerFactory.Instance);
        (Session early, Connection earlyConnection) = Subscribe(broker, "early", "sensor/#");

        broker.Publish(ApplicationMessage.Create("sensor/temperature/kitchen", "21.5"u8, 1, retain: true));
        Assert.Equal(1, store.Pending);

        (Session late, Connection lateConnection) = Subscribe(broker, "late", "sensor/temperature/+");
        Assert.Empty(Publishes(late, lateConnection));

        store.Commit();

        PublishSeen delivered = Assert.Single(Publishes(late, lateConnection));
        Assert.Equal(("sensor/temperature/kitchen", "21.5"), (delivered.Topic, delivered.Payload));

        // The subscriber the match found gets its one copy, not a second one from the late path.
        Assert.Single(Publishes(early, earlyConnection));
    }

    [Fact]
    public void A_subscription_whose_replay_is_still_to_come_gets_the_message_once_from_the_replay()
    {
        // A persistent client's SUBSCRIBE replays retained messages only once its own store write commits: a retained
        // publish taking effect before that must not also go to it live (it would arrive twice).
        var store = new HeldStore();
        using var broker = new MqttBroker(new BrokerOptions { Port = 0, BindAddress = "127.0.0.1", Store = store }, NullLoggerFactory.Instance);
        broker.Publish(ApplicationMessage.Create("sensor/temperature/kitchen", "21.5"u8, 1, retain: true));

        var connection = new Connection();
        Session session = broker.Sessions.Open("pending", cleanStart: true, connection).Session;
        var due = new List<Subscription>();
        broker.Subscribe(session, [new SubscriptionRequest("sensor/#", 1, default)], null, false, due);
        store.Commit();
        broker.SendRetained(session, due);

        var batch = new List<OutboundPacket>();
        session.DrainOutbound(connection, batch, 1_000_000);
        OutboundPacket only = Assert.Single(batch, p => p.Type == PacketType.Publish);
        Assert.True(only.Retain, "the copy is the retained replay [MQTT-3.3.1-8]");
    }

    [Fact]
    public void A_subscription_made_between_match_and_delivery_in_memory_gets_the_retained_message()
    {
        ApplicationMessage message = ApplicationMessage.Create("sensor/humidity/attic", "48"u8, 0, retain: true);
        Assert.Equal("48", Assert.Single(SubscribeBetweenMatchAndDelivery(message, "sensor/humidity/attic")).Payload);
    }

    [Fact]
    public void A_non_retained_message_is_not_sent_to_subscriptions_made_after_its_match()
    {
        ApplicationMessage message = ApplicationMessage.Create("sensor/humidity/attic", "48"u8, 0, retain: false);
        Assert.Empty(SubscribeBetweenMatchAndDelivery(message, "sensor/#"));
    }

    [Fact]
    public void A_shared_subscription_made_meanwhile_gets_no_retained_copy()
    {
        // Shared subscriptions get no retained messages (MQTT 5 §4.8.2), late or not.
        ApplicationMessage message = ApplicationMessage.Create("sensor/co2/office", "612"u8, 0, retain: true);
        Assert.Empty(SubscribeBetweenMatchAndDelivery(message, "$share/g/sensor/#"));
    }

    /// <summary>In memory: <paramref name="message"/> is matched, a client subscribes to <paramref name="filter"/>, then the message is delivered; what the client got.</summary>
    private static List<PublishSeen> SubscribeBetweenMatchAndDelivery(ApplicationMessage message, string filter)
    {
        using var broker = new MqttBroker(new BrokerOptions { Port = 0, BindAddress = "127.0.0.1", Persistence = PersistenceMode.Memory }, NullLoggerFactory.Instance);
        var targets = new List<RouteTarget>();
        long matchedAt = broker.Router.Match(message, targets);

        (Session late, Connection connection) = Subscribe(broker, "late", filter);
        broker.Router.Deliver(message, CollectionsMarshal.AsSpan(targets), matchedAt);
        return Publishes(late, connection);
    }

    private readonly record struct PublishSeen(string Topic, string Payload);

    private static (Session Session, Connection Connection) Subscribe(MqttBroker broker, string clientId, string filter)
    {
        var connection = new Connection();
        Session session = broker.Sessions.Open(clientId, cleanStart: true, connection).Session;
        var due = new List<Subscription>();
        byte[] codes = broker.Subscribe(session, [new SubscriptionRequest(filter, 1, default)], null, false, due);
        Assert.True(codes[0] <= 1, $"SUBSCRIBE to {filter} refused");
        broker.SendRetained(session, due);
        return (session, connection);
    }

    private static List<PublishSeen> Publishes(Session session, Connection connection)
    {
        var batch = new List<OutboundPacket>();
        session.DrainOutbound(connection, batch, 1_000_000);
        return [.. batch.Where(p => p.Type == PacketType.Publish).Select(p => new PublishSeen(p.Message!.Topic, Encoding.UTF8.GetString(p.Message.PayloadSpan)))];
    }
}
