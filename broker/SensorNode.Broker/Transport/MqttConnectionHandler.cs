using Microsoft.AspNetCore.Connections;

namespace SensorNode.Broker.Transport;

/// <summary>Kestrel entry point: every accepted socket (TCP, later TLS and WebSocket) becomes an <see cref="MqttConnection"/>.</summary>
public sealed class MqttConnectionHandler(MqttBroker broker) : ConnectionHandler
{
    public override Task OnConnectedAsync(ConnectionContext connection) => new MqttConnection(connection, broker).RunAsync();
}
