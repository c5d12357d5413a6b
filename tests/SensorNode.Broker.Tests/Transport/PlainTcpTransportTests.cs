using System.Diagnostics;
using System.Net.Sockets;
using MQTTnet.Protocol;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;
using SensorNode.Broker.Tests.Interop;
using SensorNode.Broker.Tests.Security;

namespace SensorNode.Broker.Tests.Transport;

/// <summary>
/// The plain-TCP transports at their edges, each test run on both: the Linux epoll transport (the default there) and
/// the .NET socket one (other systems, or <c>SENSORNODE_TCP_TRANSPORT=sockets</c>). Packets split across reads, packets
/// far larger than a read or write buffer, a subscriber whose socket is full for a while, a peer that resets.
/// </summary>
// Not in parallel with each other: the soak watches the process's descriptor count, which 300 clients at once would
// raise by 600.
[Collection("Descriptors in bulk")]
public sealed class PlainTcpTransportTests
{
    public static TheoryData<bool> Transports => OperatingSystem.IsLinux() ? new TheoryData<bool> { true, false } : new TheoryData<bool> { false };

    private static Task<SensorNode.Broker.Hosting.BrokerServer> StartAsync(bool epoll, Action<BrokerOptions>? configure = null) => TestBroker.StartAsync(o =>
    {
        o.Persistence = PersistenceMode.Memory;
        o.UseEpollTransport = epoll;
        configure?.Invoke(o);
    });

    private static Task<SensorNode.Broker.Hosting.BrokerServer> StartAsync(bool epoll, CapturingLoggerProvider logs) => SecurityTestSupport.StartWithLogsAsync(logs, o =>
    {
        o.Persistence = PersistenceMode.Memory;
        o.UseEpollTransport = epoll;
    });

    private static void AssertNoWarningOrError(CapturingLoggerProvider logs) => Assert.DoesNotContain(
        logs.Lines,
        line => line.StartsWith("Warning", StringComparison.Ordinal) || line.StartsWith("Error", StringComparison.Ordinal) || line.StartsWith("Critical", StringComparison.Ordinal));

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_packet_trickled_one_byte_at_a_time_is_read_whole(bool epoll)
    {
        await using var server = await StartAsync(epoll);
        await using RawMqttClient client = await RawMqttClient.ConnectAsync(server.Port);
        byte[] connect = MqttPacketWriter.ToArray(new ConnectPacket { ClientId = "trickle", CleanSession = true, KeepAliveSeconds = 60 }, ProtocolLevel.V311);
        foreach (byte b in connect)
        {
            await client.SendAsync([b]);
        }

        var connAck = Assert.IsType<ConnAckPacket>(await client.ReceiveAsync());
        Assert.Equal(ConnectReturnCode.Accepted, connAck.ReturnCode);

        // Two PINGREQs and half of a third in one write, the rest later: two answers at once, the third after [MQTT-3.12.4-1].
        await client.SendAsync([0xC0, 0x00, 0xC0, 0x00, 0xC0]);
        Assert.Same(EmptyPacket.PingResp, await client.ReceiveAsync());
        Assert.Same(EmptyPacket.PingResp, await client.ReceiveAsync());
        await client.SendAsync([0x00]);
        Assert.Same(EmptyPacket.PingResp, await client.ReceiveAsync());
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_payload_of_several_megabytes_arrives_intact_through_MQTTnet(bool epoll)
    {
        const int Size = 6 * 1024 * 1024;
        await using var server = await StartAsync(epoll, o => o.MaxPacketSize = 8 * 1024 * 1024);
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(server.Port);
        await subscriber.SubscribeAsync("big/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(server.Port);

        string payload = string.Create(Size, 0, static (span, _) =>
        {
            for (int i = 0; i < span.Length; i++)
            {
                span[i] = (char)('a' + (i * 7 % 26));
            }
        });
        await publisher.PublishAsync("big/one", payload, MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.PublishAsync("big/two", "after", MqttQualityOfServiceLevel.AtLeastOnce);

        ReceivedMessage first = await subscriber.NextAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("big/one", first.Topic);
        Assert.Equal(Size, first.Payload.Length);
        Assert.True(first.Payload == payload, "the payload changed on its way");
        Assert.Equal("after", (await subscriber.NextAsync()).Payload);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_subscriber_that_stops_reading_gets_everything_in_order_once_it_reads_again(bool epoll)
    {
        // 24 MB of QoS 0 messages: far more than the socket buffers, so the broker's flush must wait for the socket to drain.
        const int Count = 384;
        const int Size = 64 * 1024;
        await using var server = await StartAsync(epoll, o => o.Sessions.MaxQueuedBytes = 64L * 1024 * 1024);
        await using RawMqttClient subscriber = await RawMqttClient.ConnectMqttAsync(server.Port, "stalled");
        await subscriber.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new("flood/#", 0)] });
        Assert.IsType<SubAckPacket>(await subscriber.ReceiveAsync());

        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(server.Port);
        string payload = new('x', Size - 8);
        for (int i = 0; i < Count; i++)
        {
            await publisher.PublishAsync("flood/data", i.ToString("D8", System.Globalization.CultureInfo.InvariantCulture) + payload);
        }

        for (int i = 0; i < Count; i++)
        {
            var publish = Assert.IsType<PublishPacket>(await subscriber.ReceiveAsync(TimeSpan.FromSeconds(30)));
            Assert.Equal(i.ToString("D8", System.Globalization.CultureInfo.InvariantCulture), System.Text.Encoding.UTF8.GetString(publish.Payload.Span[..8]));
            Assert.Equal(Size, publish.Payload.Length);
        }

        Assert.Equal(0, server.Broker.Metrics.DroppedQueueFull + server.Broker.Metrics.DroppedBrokerQueueBudget);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_peer_that_resets_while_the_broker_writes_to_it_is_cleaned_up(bool epoll)
    {
        // The broker is in the middle of sending to the subscriber (its socket full) when it resets: the send fails,
        // the connection ends as lost (its will goes out [MQTT-3.1.2-8]), and that is no warning or error.
        using var logs = new CapturingLoggerProvider();
        await using var server = await StartAsync(epoll, logs);
        await using MqttNetClient watcher = await MqttNetClient.ConnectAsync(server.Port);
        await watcher.SubscribeAsync("status/#");
        RawMqttClient subscriber = await RawMqttClient.ConnectMqttAsync(server.Port, "resetter", will: new WillMessage { Topic = "status/resetter", Payload = "offline"u8.ToArray() });
        await subscriber.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new("noise/#", 0)] });
        Assert.IsType<SubAckPacket>(await subscriber.ReceiveAsync());
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(server.Port);
        string payload = new('n', 32 * 1024);
        for (int i = 0; i < 200; i++)
        {
            await publisher.PublishAsync("noise/x", payload);
        }

        subscriber.Abort();

        // Only the publisher and the watcher are left once the broker has seen the reset and closed its side.
        var clock = Stopwatch.StartNew();
        while (server.Broker.ConnectionCount > 2 && clock.Elapsed < TestBroker.Timeout)
        {
            await publisher.PublishAsync("noise/x", "tick");
        }

        Assert.Equal(2, server.Broker.ConnectionCount);
        ReceivedMessage will = await watcher.NextAsync();
        Assert.Equal(("status/resetter", "offline"), (will.Topic, will.Payload));
        await using MqttNetClient late = await MqttNetClient.ConnectAsync(server.Port);
        await late.SubscribeAsync("noise/#");
        await publisher.PublishAsync("noise/x", "still serving");
        Assert.Equal("still serving", (await late.NextAsync()).Payload);
        AssertNoWarningOrError(logs);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_peer_that_resets_while_the_broker_reads_is_a_lost_connection_not_a_failure(bool epoll)
    {
        // A client killed with unread input resets instead of closing. It is the network connection closing without
        // DISCONNECT: the will goes out [MQTT-3.1.2-8], the session ends, and nothing is logged as a warning or an
        // error (a reset is ordinary for sensors; the epoll reader treats it as the end of the stream).
        using var logs = new CapturingLoggerProvider();
        await using var server = await StartAsync(epoll, logs);
        await using MqttNetClient watcher = await MqttNetClient.ConnectAsync(server.Port);
        await watcher.SubscribeAsync("node/#");
        for (int i = 0; i < 3; i++)
        {
            RawMqttClient node = await RawMqttClient.ConnectMqttAsync(server.Port, $"resetting-{i}", will: new WillMessage { Topic = $"node/{i}/status", Payload = "offline"u8.ToArray() });
            await node.SendAsync(new PublishPacket { Topic = $"node/{i}/temperature", Payload = "21.5"u8.ToArray() });
            Assert.Equal(($"node/{i}/temperature", "21.5"), await NextAsync(watcher));

            node.Abort();

            Assert.Equal(($"node/{i}/status", "offline"), await NextAsync(watcher));
            await BrokerWait.ForNoSessionAsync(server, $"resetting-{i}");
        }

        await BrokerWait.UntilAsync(() => server.Broker.ConnectionCount == 1, "the reset connections to be gone");
        AssertNoWarningOrError(logs);
        Assert.Equal(3, logs.Lines.Count(line => line.Contains("disconnected: UnspecifiedError", StringComparison.Ordinal)));

        static async Task<(string, string)> NextAsync(MqttNetClient client)
        {
            ReceivedMessage message = await client.NextAsync();
            return (message.Topic, message.Payload);
        }
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task A_packet_and_the_end_of_the_stream_sent_together_are_both_seen(bool epoll)
    {
        // The epoll reader skips the receive that would only say "empty" after a short read; an end of stream that
        // came in with the data is announced by no later event, so the broker must still see it at once. Seen here
        // by the will [MQTT-3.1.2-8] going out well before the keep alive (90 s) would close the connection.
        await using var server = await StartAsync(epoll);
        await using MqttNetClient watcher = await MqttNetClient.ConnectAsync(server.Port);
        await watcher.SubscribeAsync("node/+/status");
        for (int i = 0; i < 3; i++)
        {
            await using RawMqttClient node = await RawMqttClient.ConnectMqttAsync(server.Port, $"half-closer-{i}", keepAlive: 60, will: new WillMessage { Topic = $"node/{i}/status", Payload = "offline"u8.ToArray() });
            node.Socket.Send([0xC0, 0x00]);
            node.ShutdownSend();
            ReceivedMessage will = await watcher.NextAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(($"node/{i}/status", "offline"), (will.Topic, will.Payload));
        }
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Other_clients_are_served_while_a_publisher_floods_without_a_pause(bool epoll)
    {
        // A publisher whose socket never runs dry must not keep its thread to itself: the subscribers' writes its
        // messages signal go out meanwhile, and other clients (some on the same thread) are read and answered.
        await using var server = await StartAsync(epoll);
        await using RawMqttClient subscriber = await RawMqttClient.ConnectMqttAsync(server.Port, "flood-watcher");
        await subscriber.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new("f", 0)] });
        Assert.IsType<SubAckPacket>(await subscriber.ReceiveAsync());
        await using RawMqttClient flooder = await RawMqttClient.ConnectMqttAsync(server.Port, "flooder");
        MqttNetClient[] others = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => MqttNetClient.ConnectAsync(server.Port)));

        // The smallest PUBLISH there is (5 bytes): the most work for the broker per byte the flooder sends.
        byte[] publish = MqttPacketWriter.ToArray(new PublishPacket { Topic = "f" }, ProtocolLevel.V311);
        byte[] chunk = [.. Enumerable.Range(0, 64 * 1024 / publish.Length).SelectMany(_ => publish)];
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Task flood = Task.Factory.StartNew(
            () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    flooder.Socket.Send(chunk);
                }
            },
            TaskCreationOptions.LongRunning);
        try
        {
            // The watcher reads 100 messages, then stops reading (the broker drops what its queue cannot hold).
            for (int i = 0; i < 100; i++)
            {
                Assert.IsType<PublishPacket>(await subscriber.ReceiveAsync());
            }

            // QoS 1: each completes only once the broker has read it and answered.
            await Task.WhenAll(others.Select((o, i) => o.PublishAsync($"other/{i}", "served", MqttQualityOfServiceLevel.AtLeastOnce))).WaitAsync(TestBroker.Timeout);
            Assert.False(flood.IsCompleted, "the flood ended (or failed) before the other clients were served");
        }
        finally
        {
            await stop.CancelAsync();
            flooder.Abort();
            await Task.WhenAny(flood, Task.Delay(TestBroker.Timeout));
            foreach (MqttNetClient other in others)
            {
                await other.DisposeAsync();
            }
        }
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Many_clients_connect_at_once_and_all_are_answered(bool epoll)
    {
        await using var server = await StartAsync(epoll);
        RawMqttClient[] clients = await Task.WhenAll(Enumerable.Range(0, 300).Select(i => RawMqttClient.ConnectMqttAsync(server.Port, $"many-{i}")));
        try
        {
            Assert.Equal(300, server.Broker.ConnectionCount);
        }
        finally
        {
            foreach (RawMqttClient client in clients)
            {
                await client.DisposeAsync();
            }
        }
    }
}
