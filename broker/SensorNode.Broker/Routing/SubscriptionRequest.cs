namespace SensorNode.Broker.Routing;

/// <summary>One topic filter of a SUBSCRIBE as the engine takes it, whatever the protocol version.</summary>
public readonly record struct SubscriptionRequest(string Filter, byte Qos, SubscriptionOptions Options = default);
