using System.Diagnostics.CodeAnalysis;

namespace SensorNode.Broker.Sessions;

/// <summary>
/// A session's queued messages in the order they go out: deliveries queued one by one, and retained replays
/// queued whole (<see cref="RetainedReplay"/>), whose messages come out one by one as if each had been queued.
/// Not thread-safe: the session's lock guards it.
/// </summary>
internal sealed class PendingQueue
{
    private readonly Queue<Delivery> _deliveries = new();
    // Most sessions never subscribe to anything retained: created with the first replay.
    private Queue<RetainedReplay>? _replays;
    private int _deliveriesSinceLastReplay;

    public int Count { get; private set; }

    /// <summary>The deliveries queued one by one (replays left out: they never come through a shared subscription).</summary>
    public IEnumerable<Delivery> Deliveries => _deliveries;

    public void Enqueue(in Delivery delivery)
    {
        _deliveries.Enqueue(delivery);
        _deliveriesSinceLastReplay++;
        Count++;
    }

    public void Enqueue(RetainedReplay replay)
    {
        if (replay.Count == 0)
        {
            return;
        }

        _replays ??= new Queue<RetainedReplay>();
        replay.DeliveriesAhead = _replays.Count == 0 ? _deliveries.Count : _deliveriesSinceLastReplay;
        _replays.Enqueue(replay);
        _deliveriesSinceLastReplay = 0;
        Count += replay.Count;
    }

    public Delivery Peek() => NextIsReplay(out RetainedReplay? replay) ? replay.Peek() : _deliveries.Peek();

    public Delivery Dequeue()
    {
        Count--;
        if (NextIsReplay(out RetainedReplay? replay))
        {
            Delivery next = replay.Dequeue();
            if (replay.Count == 0)
            {
                _replays!.Dequeue();
            }

            return next;
        }

        if (_replays is not null && _replays.TryPeek(out RetainedReplay? first))
        {
            first.DeliveriesAhead--;
        }

        return _deliveries.Dequeue();
    }

    private bool NextIsReplay([NotNullWhen(true)] out RetainedReplay? replay)
    {
        replay = null;
        return _replays is not null && _replays.TryPeek(out replay) && replay.DeliveriesAhead == 0;
    }
}
