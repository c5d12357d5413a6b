using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Hardening;

/// <summary>
/// A broker that shuts down tells an MQTT 5 client why, DISCONNECT 0x8B Server shutting down (§3.14.2.1), and the
/// connection ends cleanly, even when the client keeps sending input the broker no longer reads (it shuts its own side,
/// then drains and drops the rest rather than closing on unread input, which would send a reset).
/// </summary>
public sealed class GracefulCloseTests
{
    [Fact]
    public async Task A_client_still_sending_when_the_broker_stops_gets_its_disconnect_0x8B()
    {
        BrokerServer server = await TestBroker.StartAsync();
        await using RawMqttClient client = await RawMqttClient.ConnectV5AcceptedAsync(server.Port, "chatty");

        // Stop the broker while the client sends a stream of PINGREQs the broker no longer reads.
        Task stopping = server.DisposeAsync().AsTask();
        byte[] pings = [.. Enumerable.Repeat(new byte[] { 0xC0, 0x00 }, 2000).SelectMany(p => p)];
        try
        {
            await client.SendAsync(pings);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
        {
            // The broker may already be gone: what matters is what the client could read.
        }

        var seen = new List<MqttPacket>();
        for (int i = 0; i < 3000; i++)
        {
            MqttPacket? packet;
            try
            {
                packet = await client.ReceiveAsync(TestBroker.Timeout);
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
            {
                Assert.Fail($"the connection was reset after {seen.Count} packets instead of ending with DISCONNECT: {ex.Message}");
                return;
            }

            if (packet is null)
            {
                break;
            }

            seen.Add(packet);
        }

        await stopping;
        DisconnectPacket disconnect = Assert.IsType<DisconnectPacket>(seen.LastOrDefault());
        Assert.Equal(ReasonCode.ServerShuttingDown, disconnect.ReasonCode);
    }
}
