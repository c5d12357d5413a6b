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

    /// <summary>Messages still to come out of replays: a subscriber asked for them at once, so queue bounds leave them out.</summary>
    public int ReplayCount { get; private set; }

    /// <summary>The bytes of <see cref="ReplayCount"/>'s messages.</summary>
    public long ReplayBytes { get; private set; }

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
        ReplayCount += replay.Count;
        ReplayBytes += replay.Bytes;
    }

    public Delivery Peek() => NextIsReplay(out RetainedReplay? replay) ? replay.Peek() : _deliveries.Peek();

    public Delivery Dequeue()
    {
        Count--;
        if (NextIsReplay(out RetainedReplay? replay))
        {
            Delivery next = replay.Dequeue();
            ReplayCount--;
            ReplayBytes -= next.Message.Size;
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

    /// <summary>Drops the oldest delivery queued one by one (replays keep their place); there must be one.</summary>
    public Delivery DropOldestDelivery()
    {
        Count--;

        // The oldest delivery is counted ahead of the first replay that has deliveries ahead of it, or after them all.
        bool counted = false;
        if (_replays is not null)
        {
            foreach (RetainedReplay replay in _replays)
            {
                if (replay.DeliveriesAhead > 0)
                {
                    replay.DeliveriesAhead--;
                    counted = true;
                    break;
                }
            }
        }

        if (!counted && _deliveriesSinceLastReplay > 0)
        {
            _deliveriesSinceLastReplay--;
        }

        return _deliveries.Dequeue();
    }

    private bool NextIsReplay([NotNullWhen(true)] out RetainedReplay? replay)
    {
        replay = null;
        return _replays is not null && _replays.TryPeek(out replay) && replay.DeliveriesAhead == 0;
    }
}
