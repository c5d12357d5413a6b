using SensorNode.Broker.Routing;

namespace SensorNode.Broker.Sessions;

/// <summary>
/// The retained messages one subscription is due [MQTT-3.3.1-6], queued for a session as one item: a snapshot of
/// the store's compact entries, each turned into a message only when it reaches the head of the queue. Replaying
/// 100,000 retained messages then never holds 100,000 messages and deliveries at once (issue #9).
/// </summary>
public sealed class RetainedReplay
{
    private readonly List<RetainedMessage> _messages;
    private readonly byte _grantedQos;
    private readonly uint[]? _subscriptionIds;
    private int _next;
    private Delivery? _head;

    /// <param name="messages">The matches, in the order they go out; the replay keeps the list.</param>
    /// <param name="grantedQos">Each message goes at min(published, granted) QoS [MQTT-3.8.4-6].</param>
    /// <param name="subscriptionIds">The subscription's MQTT 5 identifier, if it has one [MQTT-3.3.4-3].</param>
    public RetainedReplay(List<RetainedMessage> messages, byte grantedQos, uint[]? subscriptionIds)
    {
        _messages = messages;
        _grantedQos = grantedQos;
        _subscriptionIds = subscriptionIds;
        foreach (RetainedMessage message in messages)
        {
            Bytes += message.Size;
        }
    }

    /// <summary>Messages not yet taken.</summary>
    public int Count => _messages.Count - _next;

    /// <summary>What the messages not yet taken are charged to the queues (<see cref="Protocol.ApplicationMessage.Size"/>).</summary>
    public long Bytes { get; private set; }

    /// <summary>Deliveries queued between this replay and the item before it (<see cref="PendingQueue"/>'s bookkeeping).</summary>
    internal int DeliveriesAhead { get; set; }

    /// <summary>When the replay was queued, for <see cref="SessionLimits.MaxQueuedAge"/>.</summary>
    public long EnqueuedAt { get; internal set; }

    /// <summary>The next message as a delivery (RETAIN=1 [MQTT-3.3.1-8]); the same one until <see cref="Dequeue"/>.</summary>
    public Delivery Peek()
    {
        if (_head is not { } head)
        {
            RetainedMessage next = _messages[_next];
            head = new Delivery(next.ToMessage(), Math.Min(next.Qos, _grantedQos), Retain: true, SubscriptionIds: _subscriptionIds, EnqueuedAt: EnqueuedAt);
            _head = head;
        }

        return head;
    }

    public Delivery Dequeue()
    {
        Delivery head = Peek();
        _head = null;
        _messages[_next++] = default;
        Bytes -= head.Message.Size;
        return head;
    }
}
