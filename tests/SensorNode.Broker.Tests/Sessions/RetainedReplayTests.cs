using System.Text;
using SensorNode.Broker.Diagnostics;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Routing;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Tests.Sessions;

/// <summary>
/// A retained replay queued whole (<see cref="Session.EnqueueRetained"/>) goes out exactly as if each message had
/// been queued on its own: in order with the rest of the queue, counted, bounded and dropped the same way.
/// </summary>
public sealed class RetainedReplayTests
{
    private readonly BrokerMetrics _metrics = new();

    private sealed class Connection : ISessionConnection
    {
        public void SignalOutput()
        {
        }

        public void Close(DisconnectReason reason)
        {
        }
    }

    private static ApplicationMessage Message(string topic, byte qos, bool retain = false, long expiresAtUnixMs = 0) =>
        ApplicationMessage.Create(topic, Encoding.UTF8.GetBytes("v"), qos, retain, expiresAtUnixMs: expiresAtUnixMs);

    private static RetainedReplay Replay(byte grantedQos, uint[]? ids, params ApplicationMessage[] retained) =>
        new([.. retained.Select(RetainedMessage.From)], grantedQos, ids);

    private (Session Session, Connection Connection) Connected(SessionLimits? limits = null)
    {
        var session = new Session("subscriber", cleanSession: true, limits ?? new SessionLimits(), _metrics);
        var connection = new Connection();
        session.Attach(connection, sessionPresent: false);
        return (session, connection);
    }

    private static List<OutboundPacket> Publishes(Session session, Connection connection)
    {
        var batch = new List<OutboundPacket>();
        session.DrainOutbound(connection, batch, maxBatch: 1000);
        return [.. batch.Where(p => p.Type == PacketType.Publish)];
    }

    // [MQTT-3.3.1-6] [MQTT-3.3.1-8] the replay is sent with RETAIN=1 at min(published, granted) QoS [MQTT-3.8.4-6],
    // with the subscription identifier [MQTT-3.3.4-3], between what was queued before and after it.
    [Fact]
    public void A_replay_goes_out_in_its_place_in_the_queue_with_RETAIN_1_MQTT_3_3_1_8()
    {
        (Session session, Connection connection) = Connected();
        session.Enqueue(Message("live/1", 0), 0, retain: false);
        session.EnqueueRetained(Replay(1, [7], Message("retained/a", 0, true), Message("retained/b", 1, true), Message("retained/c", 2, true)));
        session.Enqueue(Message("live/2", 1), 1, retain: false);
        session.EnqueueRetained(Replay(2, null, Message("retained/d", 2, true)));
        session.Enqueue(Message("live/3", 0), 0, retain: false);

        Assert.Equal(7, session.QueuedCount);
        List<OutboundPacket> sent = Publishes(session, connection);

        Assert.Equal(
            [("live/1", 0, false), ("retained/a", 0, true), ("retained/b", 1, true), ("retained/c", 1, true), ("live/2", 1, false), ("retained/d", 2, true), ("live/3", 0, false)],
            sent.Select(p => (p.Message!.Topic, (int)p.Qos, p.Retain)));
        Assert.All(sent.Where(p => p.Message!.Topic is "retained/a" or "retained/b" or "retained/c"), p => Assert.Equal([7u], p.SubscriptionIds!));
        Assert.Null(sent.Single(p => p.Message!.Topic == "retained/d").SubscriptionIds);
        Assert.Equal(0, session.QueuedCount);
        Assert.Equal(0, _metrics.QueuedBytes);
    }

    [Fact]
    public void A_replay_is_charged_to_the_queue_as_its_messages_would_be()
    {
        (Session session, _) = Connected();
        ApplicationMessage[] retained = [Message("retained/a", 1, true), Message("retained/b", 1, true)];

        session.EnqueueRetained(Replay(1, null, retained));

        Assert.Equal(retained.Sum(m => (long)m.Size), session.PendingBytes);
        Assert.Equal(session.PendingBytes, _metrics.QueuedBytes);
    }

    // The queue bound is for what piles up, not for a replay the subscriber asked for at once: a full queue drops
    // its oldest live messages (DropOldest), one at a time, and every replayed message keeps its place.
    [Fact]
    public void A_full_queue_drops_its_oldest_live_messages_and_keeps_the_replay()
    {
        (Session session, Connection connection) = Connected(new SessionLimits { MaxQueuedMessages = 2 });
        session.Enqueue(Message("live/0", 0), 0, retain: false);
        session.EnqueueRetained(Replay(0, null, Message("retained/a", 0, true), Message("retained/b", 0, true), Message("retained/c", 0, true)));
        session.Enqueue(Message("live/1", 0), 0, retain: false);
        session.Enqueue(Message("live/2", 0), 0, retain: false);
        session.Enqueue(Message("live/3", 0), 0, retain: false);

        Assert.Equal(5, session.QueuedCount);
        Assert.Equal(["retained/a", "retained/b", "retained/c", "live/2", "live/3"], Publishes(session, connection).Select(p => p.Message!.Topic));
        Assert.Equal(2, _metrics.DroppedQueueFull);
    }

    // [MQTT-3.3.2-5] a message that expires while queued is not sent.
    [Fact]
    public void A_replayed_message_that_expired_while_queued_is_dropped_MQTT_3_3_2_5()
    {
        (Session session, Connection connection) = Connected();
        long past = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - 1;

        session.EnqueueRetained(Replay(1, null, Message("retained/old", 1, true, past), Message("retained/new", 1, true)));

        Assert.Equal(["retained/new"], Publishes(session, connection).Select(p => p.Message!.Topic));
        Assert.Equal(1, _metrics.DroppedExpired);
    }

    // An offline persistent session queues QoS 1 and 2 messages but not QoS 0 ones (3.1.1 §3.1.2.4).
    [Fact]
    public void An_offline_persistent_session_takes_a_replay_by_its_offline_rules()
    {
        var session = new Session("offline", cleanSession: false, new SessionLimits(), _metrics);

        session.EnqueueRetained(Replay(1, null, Message("retained/qos0", 0, true), Message("retained/qos1", 1, true)));

        Assert.Equal(1, session.QueuedCount);
        var connection = new Connection();
        session.Attach(connection, sessionPresent: true);
        Assert.Equal(["retained/qos1"], Publishes(session, connection).Select(p => p.Message!.Topic));
    }
}
