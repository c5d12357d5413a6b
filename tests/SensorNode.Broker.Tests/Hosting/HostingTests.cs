using System.Net.Sockets;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Hosting;

public sealed class HostingTests
{
    [Fact]
    public async Task Port_zero_binds_a_free_port_and_reports_it()
    {
        await using BrokerServer first = await TestBroker.StartAsync();
        await using BrokerServer second = await TestBroker.StartAsync();

        Assert.NotEqual(0, first.Port);
        Assert.NotEqual(first.Port, second.Port);
        await using MqttNetClient client = await MqttNetClient.ConnectAsync(second.Port);
        Assert.True(client.Client.IsConnected);
    }

    [Fact]
    public async Task Stopping_the_broker_flushes_queued_messages_then_closes_connections_cleanly()
    {
        BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient subscriber = await RawMqttClient.ConnectMqttAsync(broker.Port, "sub");
        await subscriber.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("t/#", 0)] });
        Assert.IsType<SubAckPacket>(await subscriber.ReceiveAsync());

        for (int i = 0; i < 50; i++)
        {
            broker.Broker.Publish(ApplicationMessage.Create("t/" + i, new byte[100], 0, false));
        }

        await broker.DisposeAsync();

        // Every packet that arrives is whole (the raw client decodes it), in order, and then the socket ends.
        for (int i = 0; i < 50; i++)
        {
            var publish = Assert.IsType<PublishPacket>(await subscriber.ReceiveAsync());
            Assert.Equal("t/" + i, publish.Topic);
        }

        await subscriber.AssertClosedAsync();
    }

    [Fact]
    public async Task Executable_runs_with_defaults_on_port_zero_serves_clients_and_exits_cleanly_on_SIGTERM()
    {
        await using BrokerProcess process = BrokerProcess.Start("--port", "0", "--data-dir", TestBroker.NewDataDirectory());
        int port = await process.WaitForPortAsync(TimeSpan.FromSeconds(30));

        await using (MqttNetClient subscriber = await MqttNetClient.ConnectAsync(port))
        await using (MqttNetClient publisher = await MqttNetClient.ConnectAsync(port))
        {
            await subscriber.SubscribeAsync("sensor/#", MqttQualityOfServiceLevel.AtLeastOnce);
            await publisher.PublishAsync("sensor/humidity/attic", "48.0", MqttQualityOfServiceLevel.AtLeastOnce);
            ReceivedMessage received = await subscriber.NextAsync();
            Assert.Equal("48.0", received.Payload);
        }

        process.Terminate();
        Assert.Equal(0, await process.WaitForExitAsync(TimeSpan.FromSeconds(15)));
        Assert.Contains(process.Output, line => line.Contains("Shutting down", StringComparison.Ordinal));
        await Assert.ThrowsAnyAsync<SocketException>(async () =>
        {
            using var tcp = new TcpClient();
            await tcp.ConnectAsync("127.0.0.1", port);
        });
    }

    [Fact]
    public async Task Executable_rejects_a_bad_option_with_a_message()
    {
        await using BrokerProcess process = BrokerProcess.Start("--port", "70000");
        Assert.Equal(2, await process.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains(process.Output, line => line.Contains("port", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task Executable_refuses_a_damaged_database_naming_it_and_recovers_on_request()
    {
        string directory = TestBroker.NewDataDirectory();
        string database = Path.Combine(directory, SensorNode.Broker.Persistence.SqliteBrokerStore.FileName);
        await File.WriteAllTextAsync(database, new string('#', 4096));

        await using (BrokerProcess refused = BrokerProcess.Start("--port", "0", "--data-dir", directory))
        {
            Assert.Equal(3, await refused.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            Assert.Contains(refused.Output, line => line.Contains(database, StringComparison.Ordinal) && line.Contains("--recover-store", StringComparison.Ordinal));
        }

        await using BrokerProcess recovered = BrokerProcess.Start("--port", "0", "--data-dir", directory, "--recover-store");
        int port = await recovered.WaitForPortAsync(TimeSpan.FromSeconds(30));
        await using MqttNetClient client = await MqttNetClient.ConnectAsync(port);
        Assert.True(client.Client.IsConnected);
        Assert.Single(Directory.GetFiles(directory, "*.damaged-*"), f => !f.EndsWith("-wal", StringComparison.Ordinal) && !f.EndsWith("-shm", StringComparison.Ordinal));
    }
}
