namespace SensorNode.Broker.Persistence;

/// <summary>
/// The broker's durable state: retained messages, persistent sessions with their subscriptions, queued
/// and in-flight messages, and inbound QoS 2 identifiers. Writes are applied in submission order and
/// group-committed; a callback given with a submission runs once that submission (and everything
/// submitted before it) is durable, in submission order.
/// </summary>
public interface IBrokerStore : IDisposable
{
    /// <summary>Reads everything stored; called once at start-up.</summary>
    StoredState Load();

    /// <summary>Queues writes for the next commit; <paramref name="onDurable"/> runs after that commit.</summary>
    void Submit(ReadOnlySpan<StoreOperation> operations, Action? onDurable = null);

    /// <summary>Queues one write with no callback.</summary>
    void Submit(StoreOperation operation);

    /// <summary>Completes when everything submitted so far is durable.</summary>
    Task FlushAsync();

    /// <summary>Bytes the store takes on disk (0 in memory).</summary>
    long SizeOnDisk { get; }
}
