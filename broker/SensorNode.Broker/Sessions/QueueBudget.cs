using SensorNode.Broker.Diagnostics;

namespace SensorNode.Broker.Sessions;

/// <summary>
/// The broker-wide bound on queued bytes. When it is passed, the sessions holding the most give up their
/// oldest messages, not the session that happens to be adding one: a stalled subscriber pays for its
/// backlog, a healthy one (whose short queue only holds what its writer is about to send) loses nothing.
/// Reclaiming runs outside every session lock and one at a time.
/// </summary>
public sealed class QueueBudget(SessionLimits limits, BrokerMetrics metrics)
{
    private const int MaxSheddingRounds = 8;
    private int _reclaiming;

    /// <summary>Where the sessions are; set once the registry exists.</summary>
    public Func<IEnumerable<Session>>? Sessions { get; set; }

    public bool IsExceeded => metrics.QueuedBytes > limits.MaxTotalQueuedBytes;

    /// <summary>Reclaims, and tells whether the queues are back under the budget.</summary>
    public bool TryReclaim()
    {
        Reclaim();
        return !IsExceeded;
    }

    /// <summary>Brings queued bytes back under the budget (with 10 % headroom) by shedding from the largest queues.</summary>
    public void Reclaim()
    {
        if (Sessions is not { } sessions || Interlocked.CompareExchange(ref _reclaiming, 1, 0) != 0)
        {
            return;
        }

        try
        {
            long target = limits.MaxTotalQueuedBytes - (limits.MaxTotalQueuedBytes / 10);
            for (int round = 0; round < MaxSheddingRounds && metrics.QueuedBytes > target; round++)
            {
                // A queue whose writer keeps draining is spared while a stalled one (or an offline one) can pay.
                Session? largest = null;
                Session? largestDraining = null;
                foreach (Session session in sessions())
                {
                    if (session.PendingBytes == 0)
                    {
                        continue;
                    }

                    if (session.IsDraining)
                    {
                        largestDraining = largestDraining is null || session.PendingBytes > largestDraining.PendingBytes ? session : largestDraining;
                    }
                    else if (largest is null || session.PendingBytes > largest.PendingBytes)
                    {
                        largest = session;
                    }
                }

                largest ??= largestDraining;

                if (largest is null || largest.PendingBytes == 0 || largest.Shed(metrics.QueuedBytes - target) == 0)
                {
                    return;
                }
            }
        }
        finally
        {
            Volatile.Write(ref _reclaiming, 0);
        }
    }
}
