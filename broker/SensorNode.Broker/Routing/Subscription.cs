using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Routing;

/// <summary>One client's subscription to one topic filter, with the QoS the broker granted.</summary>
public sealed class Subscription(Session subscriber, string filter, byte qos)
{
    public Session Subscriber { get; } = subscriber;

    public string Filter { get; } = filter;

    public byte Qos { get; } = qos;
}
