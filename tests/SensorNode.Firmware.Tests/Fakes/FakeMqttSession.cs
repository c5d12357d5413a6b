using SensorNode.Firmware.Core.Abstractions;

namespace SensorNode.Firmware.Tests.Fakes;

public sealed record Published(string Topic, string Payload, int Qos, bool Retain);

/// <summary>Records what the core sends; the broker's answers and drops are scripted by the test.</summary>
public sealed class FakeMqttSession : IMqttSession
{
    private readonly Queue<InboundMessage> _inbound = new();

    public bool IsConnected { get; private set; }

    /// <summary>The CONNACK result of the next connects (Accepted when empty).</summary>
    public Queue<int> ConnectResults { get; } = new();

    /// <summary>When false every connect fails with a transport error (broker unreachable).</summary>
    public bool BrokerReachable { get; set; } = true;

    public List<MqttConnectRequest> Connects { get; } = [];

    public List<Published> Published { get; } = [];

    public List<string> Subscriptions { get; } = [];

    public int Disconnects { get; private set; }

    public int Aborts { get; private set; }

    public int Connect(MqttConnectRequest request)
    {
        Connects.Add(request);
        if (!BrokerReachable)
        {
            return MqttConnectResult.TransportError;
        }

        int result = ConnectResults.Count > 0 ? ConnectResults.Dequeue() : MqttConnectResult.Accepted;
        IsConnected = result == MqttConnectResult.Accepted;
        return result;
    }

    public bool Publish(string topic, string payload, int qos, bool retain)
    {
        if (!IsConnected)
        {
            return false;
        }

        Published.Add(new Published(topic, payload, qos, retain));
        return true;
    }

    public bool Subscribe(string topicFilter, int qos)
    {
        Subscriptions.Add(topicFilter);
        return IsConnected;
    }

    public InboundMessage TakeMessage() => _inbound.Count > 0 ? _inbound.Dequeue() : null!;

    public void Deliver(string topic, string payload, bool retained = false) => _inbound.Enqueue(new InboundMessage(topic, payload, retained));

    public void Disconnect()
    {
        Disconnects++;
        IsConnected = false;
    }

    public void Abort()
    {
        Aborts++;
        IsConnected = false;
    }

    /// <summary>The broker or the link dropped the connection.</summary>
    public void Drop() => IsConnected = false;

    public List<Published> On(string topic) => Published.Where(p => p.Topic == topic).ToList();

    public void Clear() => Published.Clear();
}
