using System.Diagnostics;
using MQTTnet;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;
using static SensorNode.Broker.Tests.Security.SecurityTestSupport;

namespace SensorNode.Broker.Tests.Security;

/// <summary>Each limit hit and observed: the client over it is refused or closed, everyone else is unaffected.</summary>
public sealed class LimitsTests
{
    private static async Task AssertWorksAsync(MqttNetClient subscriber, MqttNetClient publisher)
    {
        string topic = "w/" + Guid.NewGuid().ToString("N")[..8];
        await subscriber.SubscribeAsync(topic, MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.PublishAsync(topic, "ok", MqttQualityOfServiceLevel.AtLeastOnce);
        ReceivedMessage received = await subscriber.NextAsync();
        Assert.Equal((topic, "ok"), (received.Topic, received.Payload));
    }

    [Fact]
    public async Task Third_connection_from_one_address_is_refused_while_the_first_two_keep_working()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.MaxConnectionsPerAddress = 2);
        await using MqttNetClient first = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient second = await MqttNetClient.ConnectAsync(broker.Port);

        (RawMqttClient raw, ConnAckPacket? connAck) = await RawConnectAsync(broker.Port, "third-311");
        await using (raw)
        {
            Assert.Equal(ConnectReturnCode.ServerUnavailable, connAck?.ReturnCode);
            await raw.AssertClosedAsync();
        }

        await using (MqttNetClient v5 = await ConnectV5Async(broker.Port, "third-5"))
        {
            Assert.Equal(MqttClientConnectResultCode.QuotaExceeded, v5.ConnectResult!.ResultCode);
        }

        Assert.Null(broker.Broker.Sessions.Find("third-311"));
        Assert.True(first.Client.IsConnected && second.Client.IsConnected);
        await AssertWorksAsync(first, second);

        // A slot freed is a slot available again.
        await second.DisconnectAsync();
        await Interop.BrokerWait.UntilAsync(() => broker.Broker.ConnectionCount == 1, "the second connection to be released");
        await using MqttNetClient again = await MqttNetClient.ConnectAsync(broker.Port);
        Assert.Equal(MqttClientConnectResultCode.Success, again.ConnectResult!.ResultCode);
    }

    [Fact]
    public async Task Connections_over_the_broker_wide_limit_are_refused_with_server_busy()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.MaxConnections = 2);
        await using MqttNetClient first = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient second = await MqttNetClient.ConnectAsync(broker.Port);

        (RawMqttClient raw, ConnAckPacket? connAck) = await RawConnectAsync(broker.Port, "busy-311");
        await using (raw)
        {
            Assert.Equal(ConnectReturnCode.ServerUnavailable, connAck?.ReturnCode);
        }

        await using (MqttNetClient v5 = await ConnectV5Async(broker.Port))
        {
            Assert.Equal(MqttClientConnectResultCode.ServerBusy, v5.ConnectResult!.ResultCode);
        }

        await AssertWorksAsync(first, second);
    }

    // 1024 by default: long platform device ids (an Azure IoT Hub module's "device/module" is up to 257) connect.
    [Fact]
    public async Task A_client_id_of_1024_characters_is_accepted_by_default_and_a_longer_one_refused()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        string longest = new('d', 1024);

        (RawMqttClient raw, ConnAckPacket? connAck) = await RawConnectAsync(broker.Port, longest);
        await using (raw)
        {
            Assert.Equal(ConnectReturnCode.Accepted, connAck?.ReturnCode);
            Assert.NotNull(broker.Broker.Sessions.Find(longest));
        }

        (RawMqttClient over, ConnAckPacket? overAck) = await RawConnectAsync(broker.Port, longest + "d");
        await using (over)
        {
            Assert.Equal(ConnectReturnCode.IdentifierRejected, overAck?.ReturnCode);
        }
    }

    [Fact]
    public async Task Client_id_longer_than_the_limit_is_rejected_with_0x02_or_0x85()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.MaxClientIdLength = 8);

        (RawMqttClient raw, ConnAckPacket? connAck) = await RawConnectAsync(broker.Port, "123456789");
        await using (raw)
        {
            Assert.Equal(ConnectReturnCode.IdentifierRejected, connAck?.ReturnCode);
            await raw.AssertClosedAsync();
        }

        await using (MqttNetClient v5 = await ConnectV5Async(broker.Port, "abcdefghi"))
        {
            Assert.Equal(MqttClientConnectResultCode.ClientIdentifierNotValid, v5.ConnectResult!.ResultCode);
        }

        (RawMqttClient exact, ConnAckPacket? exactAck) = await RawConnectAsync(broker.Port, "12345678");
        await using (exact)
        {
            Assert.Equal(ConnectReturnCode.Accepted, exactAck?.ReturnCode);
        }
    }

    [Theory]
    [InlineData("this/topic/is/longer/than/thirty-two/chars")]
    [InlineData("a/b/c/d/e")]
    public async Task Topic_over_length_or_depth_limit_closes_only_that_connection(string topic)
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o =>
        {
            o.MaxTopicLength = 32;
            o.MaxTopicLevels = 4;
        });
        await using MqttNetClient other = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient otherPublisher = await MqttNetClient.ConnectAsync(broker.Port);

        RawMqttClient raw = await RawMqttClient.ConnectMqttAsync(broker.Port, "long-topic");
        await using (raw)
        {
            await raw.SendAsync(new PublishPacket { Topic = topic, Payload = "x"u8.ToArray(), Qos = 1, PacketId = 1 });
            await raw.AssertClosedAsync();
        }

        // 5.0: told why with DISCONNECT 0x90 Topic Name invalid.
        await using (MqttNetClient v5 = await ConnectV5Async(broker.Port))
        {
            Task<MqttClientDisconnectedEventArgs> disconnected = v5.WaitForDisconnectedAsync();
            try
            {
                await v5.PublishAsync(topic, "x", MqttQualityOfServiceLevel.AtLeastOnce);
            }
            catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or MQTTnet.Exceptions.MqttClientDisconnectedException or OperationCanceledException)
            {
                // The connection closes under the pending PUBACK.
            }

            MqttClientDisconnectedEventArgs why = await disconnected;
            Assert.Equal(MqttClientDisconnectReason.TopicNameInvalid, why.Reason);
        }

        // A subscription filter over the limits is refused in SUBACK.
        MqttClientSubscribeResult subscribe = await other.SubscribeAsync(topic);
        Assert.Equal(MqttClientSubscribeResultCode.UnspecifiedError, subscribe.Items.Single().ResultCode);

        Assert.True(other.Client.IsConnected);
        await AssertWorksAsync(other, otherPublisher);
        await other.SubscribeAsync("a/b/c/d");
        await otherPublisher.PublishAsync("a/b/c/d", "at the limit");
        Assert.Equal("at the limit", (await other.NextAsync()).Payload);
    }

    [Fact]
    public async Task Third_subscription_over_the_per_client_limit_is_refused()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.MaxSubscriptionsPerClient = 2);

        RawMqttClient raw = await RawMqttClient.ConnectMqttAsync(broker.Port, "subs-311");
        await using (raw)
        {
            await raw.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("a/#", 1), new TopicSubscription("b/#", 0), new TopicSubscription("c/#", 1)] });
            Assert.Equal(new byte[] { 1, 0, 0x80 }, Assert.IsType<SubAckPacket>(await raw.ReceiveAsync()).ReturnCodes);

            // Replacing an existing subscription is not a new one.
            await raw.SendAsync(new SubscribePacket { PacketId = 2, Subscriptions = [new TopicSubscription("a/#", 2), new TopicSubscription("d/#", 0)] });
            Assert.Equal(new byte[] { 2, 0x80 }, Assert.IsType<SubAckPacket>(await raw.ReceiveAsync()).ReturnCodes);
        }

        await using MqttNetClient v5 = await ConnectV5Async(broker.Port);
        MqttClientSubscribeResult result = await v5.Client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter("x/#").WithTopicFilter("y/#").WithTopicFilter("z/#").Build());
        Assert.Equal(
            [MqttClientSubscribeResultCode.GrantedQoS0, MqttClientSubscribeResultCode.GrantedQoS0, MqttClientSubscribeResultCode.QuotaExceeded],
            result.Items.Select(i => i.ResultCode).ToArray());

        // After an unsubscribe there is room again.
        await v5.UnsubscribeAsync("x/#");
        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS0, (await v5.SubscribeAsync("z/#")).Items.Single().ResultCode);
    }

    // One publish at a time (each waits for its PUBACK): the broker pauses reading after 20 in a second.
    [Fact]
    public async Task Publish_rate_limit_slows_a_sequential_publisher_down_without_losing_messages()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.MaxPublishRatePerClient = 20);
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("rate/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);

        var clock = Stopwatch.StartNew();
        for (int i = 0; i < 60; i++)
        {
            Assert.True((await publisher.PublishAsync("rate/t", Payload(i), MqttQualityOfServiceLevel.AtLeastOnce)).IsSuccess);
        }

        clock.Stop();

        // 60 publishes at 20 per second: at least two full pauses (lower bound only).
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.8), $"60 QoS 1 publishes at 20/s took only {clock.ElapsedMilliseconds} ms");
        Assert.Equal(Enumerable.Range(0, 60).Select(Payload), (await subscriber.NextManyAsync(60)).Select(m => m.Payload));
    }

    // The same 60 publishes sent without waiting for each PUBACK (MQTTnet pipelines them, as any client may):
    // the limit is per client and per second, not per round trip.
    [Fact]
    public async Task Publish_rate_limit_also_holds_for_a_pipelining_publisher()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.MaxPublishRatePerClient = 20);
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("rate/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);

        var clock = Stopwatch.StartNew();
        Task<MqttClientPublishResult>[] publishes = [.. Enumerable.Range(0, 60).Select(i => publisher.PublishAsync("rate/t", Payload(i), MqttQualityOfServiceLevel.AtLeastOnce))];
        await Task.WhenAll(publishes);
        clock.Stop();

        Assert.All(publishes, p => Assert.True(p.Result.IsSuccess));
        Assert.Equal(Enumerable.Range(0, 60).Select(Payload).Order(StringComparer.Ordinal), (await subscriber.NextManyAsync(60)).Select(m => m.Payload).Order(StringComparer.Ordinal));
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.8), $"60 pipelined QoS 1 publishes with MaxPublishRatePerClient=20 were all acknowledged within {clock.ElapsedMilliseconds} ms");
    }

    private static string Payload(int i) => i.ToString(System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task Packet_over_MaxPacketSize_closes_only_that_connection()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.MaxPacketSize = 256);
        await using MqttNetClient other = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient otherPublisher = await MqttNetClient.ConnectAsync(broker.Port);

        RawMqttClient raw = await RawMqttClient.ConnectMqttAsync(broker.Port, "big");
        await using (raw)
        {
            await raw.SendAsync(new PublishPacket { Topic = "big/t", Payload = new byte[1024], Qos = 0 });
            await raw.AssertClosedAsync();
        }

        Assert.Null(broker.Broker.Sessions.Find("big"));
        await AssertWorksAsync(other, otherPublisher);
    }

    [Fact]
    public async Task Socket_without_connect_is_closed_after_ConnectTimeout()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o =>
        {
            o.ConnectTimeout = TimeSpan.FromMilliseconds(300);
            o.TimeoutCheckInterval = TimeSpan.FromMilliseconds(50);
        });
        await using RawMqttClient idle = await RawMqttClient.ConnectAsync(broker.Port);
        var clock = Stopwatch.StartNew();
        await idle.AssertClosedAsync(TimeSpan.FromSeconds(5));
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(200), $"closed after {clock.ElapsedMilliseconds} ms");
    }
}
