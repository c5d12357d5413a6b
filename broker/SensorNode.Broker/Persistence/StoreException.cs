namespace SensorNode.Broker.Persistence;

/// <summary>The durable store cannot be used as it is; the message says what is wrong and what to do.</summary>
public sealed class StoreException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The file itself is damaged (what <c>--recover-store</c> is for), not its disk, permissions or version.</summary>
    public bool IsDamage { get; init; }
}
