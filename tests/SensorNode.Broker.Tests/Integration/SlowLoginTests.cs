using MQTTnet;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;
using SensorNode.Broker.Tests.Interop;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>
/// The broker runs its read loops on the socket engine threads (inline socket completions, as the executable and
/// this test run set them up). A login that takes long (a password hashed the first time, an authenticator that asks
/// another system) must not hold such a thread: every other client keeps exchanging messages meanwhile.
/// </summary>
public sealed class SlowLoginTests
{
    [Fact]
    public async Task A_login_that_blocks_does_not_stall_the_clients_already_connected()
    {
        Assert.Equal("1", Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"));
        using var release = new ManualResetEventSlim(false);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.Authenticator = connect =>
        {
            if (connect.UserName == "slow")
            {
                entered.TrySetResult();
                release.Wait(TimeSpan.FromSeconds(30)); // the slow external check, held until the test has seen the others work
            }

            return ConnectReturnCode.Accepted;
        });

        // Enough connections that every socket engine thread (one per core) serves some of them.
        var clients = new List<MqttNetClient>();
        try
        {
            for (int i = 0; i < 2 * Environment.ProcessorCount + 2; i++)
            {
                MqttNetClient client = await MqttNetClient.ConnectAsync(broker.Port, $"fast-{i}", configure: o => o.WithCredentials("fast", "x"));
                await client.SubscribeAsync($"echo/{i}", MqttQualityOfServiceLevel.AtLeastOnce);
                clients.Add(client);
            }

            // The slow client's socket is open and idle first, so its CONNECT arrives on a socket engine thread.
            await using RawMqttClient slow = await RawMqttClient.ConnectAsync(broker.Port);
            await BrokerWait.UntilAsync(() => broker.Broker.ConnectionCount == clients.Count + 1, "the slow client's socket to be accepted");
            await slow.SendAsync(new ConnectPacket { ClientId = "slow", UserName = "slow", Password = "x"u8.ToArray(), KeepAliveSeconds = 60 });
            await entered.Task.WaitAsync(TestBroker.Timeout);

            for (int i = 0; i < clients.Count; i++)
            {
                MqttClientPublishResult result = await clients[i].Client.PublishAsync(new MqttApplicationMessageBuilder()
                    .WithTopic($"echo/{i}").WithPayload("ping").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
                Assert.True(result.IsSuccess, $"client {i}: PUBACK {result.ReasonCode} while a login is held");
                Assert.Equal("ping", (await clients[i].NextAsync(TestBroker.Timeout)).Payload);
            }

            release.Set();
            var connAck = Assert.IsType<ConnAckPacket>(await slow.ReceiveAsync());
            Assert.Equal(ConnectReturnCode.Accepted, connAck.ReturnCode);
        }
        finally
        {
            release.Set();
            foreach (MqttNetClient client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }
}
