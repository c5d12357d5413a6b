using MQTTnet.Protocol;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Hosting;
using SensorNode.Broker.Tests.Infrastructure;
using SensorNode.Broker.Tests.Interop;

namespace SensorNode.Broker.Tests.Hardening;

/// <summary>
/// Out of file descriptors (EMFILE): the broker, started with a small <c>ulimit -n</c>, cannot keep every socket a
/// flood opens. It must say so in its log (not once per socket), close the connections it cannot take at once rather
/// than leave them hanging unanswered, keep serving the clients it has, and take new ones as soon as descriptors come
/// free — never crash or spin. This runs the Native AOT build, the one to deploy where descriptors may run out: the JIT
/// runtime itself needs descriptors at unpredictable moments (loading an assembly on first use, W^X code mapping).
/// </summary>
public sealed class DescriptorExhaustionTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int DescriptorLimit = 160;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [SkippableFact]
    public async Task Out_of_descriptors_the_broker_keeps_serving_and_accepts_again_once_some_are_free()
    {
        string executable = await Operations.NativeAotPublish.ExecutableAsync(output);
        string data = TestBroker.NewDataDirectory();
        await using BrokerProcess broker = BrokerProcess.StartExecutable(
            "/bin/sh", "-c", $"ulimit -n {DescriptorLimit} && exec \"$0\" \"$@\"", executable,
            "--port", "0", "--bind", "127.0.0.1", "--data-dir", data);
        int port = await broker.WaitForPortAsync(Timeout);

        // A client connected before the flood.
        await using MqttNetClient early = await MqttNetClient.ConnectAsync(port, "early");
        await early.SubscribeAsync("flood/#", MqttQualityOfServiceLevel.AtLeastOnce);

        // More sockets than the broker has descriptors, each sending CONNECT: every one is answered, with a CONNACK
        // or by the connection closing; none is left waiting.
        var flood = new List<RawMqttClient>();
        var floodClock = System.Diagnostics.Stopwatch.StartNew();
        int accepted = 0;
        int refused = 0;
        try
        {
            for (int i = 0; i < DescriptorLimit + 40; i++)
            {
                try
                {
                    RawMqttClient client = await RawMqttClient.ConnectAsync(port);
                    flood.Add(client);
                    await client.SendAsync(new ConnectPacket { ClientId = $"flood-{i}", KeepAliveSeconds = 0 });
                }
                catch (Exception ex) when (ex is System.Net.Sockets.SocketException or IOException)
                {
                    refused++; // closed by the broker before the CONNECT was even sent
                }
            }

            foreach (RawMqttClient client in flood)
            {
                MqttPacket? reply;
                try
                {
                    reply = await client.ReceiveAsync(Timeout);
                }
                catch (Exception ex) when (ex is System.Net.Sockets.SocketException or IOException)
                {
                    reply = null; // reset instead of closed
                }

                if (reply is ConnAckPacket { ReturnCode: ConnectReturnCode.Accepted })
                {
                    accepted++;
                }
                else
                {
                    Assert.Null(reply);
                    refused++;
                }
            }

            Assert.True(accepted > 0 && refused > 0, $"{accepted} accepted, {refused} refused");
            Assert.False(broker.HasExited);
            // Logged once per 10 s, not once per socket (a slow, loaded machine may take longer than 10 s over the flood).
            int reports = broker.Output.Count(l => l.Contains("Out of file descriptors", StringComparison.Ordinal));
            Assert.InRange(reports, 1, 1 + (int)(floodClock.Elapsed.TotalSeconds / 10));

            // The early client is served throughout.
            await early.Client.PublishAsync(new MQTTnet.MqttApplicationMessageBuilder().WithTopic("flood/early").WithPayload("1")
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            Assert.Equal("flood/early", (await early.NextAsync(Timeout)).Topic);
        }
        finally
        {
            foreach (RawMqttClient client in flood)
            {
                await client.DisposeAsync();
            }
        }

        // Descriptors free again: a new client that retries as real clients do (with a pause) gets in.
        MqttNetClient? late = null;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int attempt = 0; late is null && clock.Elapsed < Timeout; attempt++)
        {
            try
            {
                late = await MqttNetClient.ConnectAsync(port, "late");
            }
            catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException)
            {
                await Task.Delay(200); // the client's reconnect back-off
            }
        }

        Assert.NotNull(late);
        Assert.Equal(MQTTnet.MqttClientConnectResultCode.Success, late.ConnectResult?.ResultCode);
        await late.DisposeAsync();

        broker.Terminate();
        Assert.Equal(0, await broker.WaitForExitAsync(Timeout));
    }
}
