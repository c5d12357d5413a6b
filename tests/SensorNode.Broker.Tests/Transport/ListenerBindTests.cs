using System.Net.Sockets;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Transport;

/// <summary>Binding the plain-TCP listener: a port in use is refused, a port just freed is taken at once.</summary>
public sealed class ListenerBindTests
{
    /// <summary>
    /// A second broker on a port in use must fail to start (exit 4 "cannot listen"), not share the port: with
    /// SO_REUSEPORT the kernel split new connections between the two, and the second had none of the first's users
    /// or ACL.
    /// </summary>
    [Fact]
    public async Task A_second_broker_on_a_port_in_use_is_refused()
    {
        await using BrokerServer first = await TestBroker.StartAsync(o => o.Persistence = PersistenceMode.Memory);

        IOException error = await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            await using BrokerServer second = await TestBroker.StartAsync(o =>
            {
                o.Persistence = PersistenceMode.Memory;
                o.Port = first.Port;
            });
        });

        Assert.Contains(first.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
    }

    /// <summary>A broker restarted on its port binds at once, though the connections it closed sit in TIME_WAIT.</summary>
    [Fact]
    public async Task A_restarted_broker_binds_its_port_again_while_closed_connections_wait()
    {
        int port;
        await using (BrokerServer first = await TestBroker.StartAsync(o => o.Persistence = PersistenceMode.Memory))
        {
            port = first.Port;
            await using MqttNetClient client = await MqttNetClient.ConnectAsync(port);
            await first.StopAsync();
        }

        await using BrokerServer again = await TestBroker.StartAsync(o =>
        {
            o.Persistence = PersistenceMode.Memory;
            o.Port = port;
        });
        await using MqttNetClient back = await MqttNetClient.ConnectAsync(again.Port);
        Assert.Equal(port, again.Port);
    }
}
