using Microsoft.AspNetCore.Connections;

namespace SensorNode.Broker.Transport;

/// <summary>Kestrel entry point: every MQTT over TLS connection becomes an <see cref="MqttConnection"/> (plain TCP has <see cref="TcpMqttListener"/>).</summary>
public sealed class MqttConnectionHandler(MqttBroker broker) : ConnectionHandler
{
    public override Task OnConnectedAsync(ConnectionContext connection) => new MqttConnection(connection, broker).RunAsync();
}
