namespace SensorNode.Broker.Persistence;

/// <summary>The durable store cannot be used as it is; the message says what is wrong and what to do.</summary>
public sealed class StoreException(string message, Exception? inner = null) : Exception(message, inner);
