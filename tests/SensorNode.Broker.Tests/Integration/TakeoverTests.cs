using System.Text;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>
/// A CONNECT whose client id is already connected (3.1.1 §3.1.4, 5.0 §3.1.4): what becomes of the old session and of
/// the old connection's will. Both connections are raw sockets in either protocol version, so that the old one ends
/// only by the takeover; MQTTnet watches.
/// </summary>
public sealed class TakeoverTests
{
    private static readonly WillMessage Offline = new() { Topic = "takeover/status", Payload = "offline"u8.ToArray(), Qos = 1, Retain = true };

    private static async Task<(RawMqttClient Client, ConnAckPacket ConnAck)> ConnectAsync(int port, bool v5, string clientId, bool persistent, WillMessage? will = null, params MqttPacket[] after)
    {
        RawMqttClient client = await RawMqttClient.ConnectAsync(port);
        client.Level = v5 ? ProtocolLevel.V500 : ProtocolLevel.V311;
        var connect = new ConnectPacket
        {
            ProtocolLevel = client.Level,
            ClientId = clientId,
            CleanSession = !persistent,
            KeepAliveSeconds = 60,
            Will = will,
            Properties = v5 && persistent ? new MqttProperties { SessionExpiryInterval = 600 } : null,
        };

        // CONNECT and what follows in one write, as a client that does not wait for the CONNACK sends them.
        await client.SendAsync([.. MqttPacketWriter.ToArray(connect, client.Level), .. after.SelectMany(p => MqttPacketWriter.ToArray(p, client.Level))]);
        ConnAckPacket connAck = Assert.IsType<ConnAckPacket>(await client.ReceiveAsync());
        Assert.True(v5 ? connAck.ReasonCode == ReasonCode.Success : connAck.ReturnCode == ConnectReturnCode.Accepted);
        return (client, connAck);
    }

    // [MQTT-3.1.2-6] a clean session lasts as long as its connection and its state is never reused: a takeover with
    // CleanSession=0 (MQTT 5: Clean Start 0 after Session Expiry 0) starts a new session, Session Present 0
    // [MQTT-3.2.2-3], without the old subscriptions, and the old connection's will is published.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_clean_session_taken_over_with_CleanSession_0_is_not_resumed_MQTT_3_1_2_6(bool v5)
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient watcher = await MqttNetClient.ConnectAsync(broker.Port);
        await watcher.SubscribeAsync("takeover/status", MqttQualityOfServiceLevel.AtLeastOnce);
        (RawMqttClient first, _) = await ConnectAsync(broker.Port, v5, "takeover-clean", persistent: false, Offline);
        await using RawMqttClient firstClient = first;
        await first.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("takeover/data", 1)] });
        await first.ExpectAsync<SubAckPacket>();

        (RawMqttClient second, ConnAckPacket connAck) = await ConnectAsync(broker.Port, v5, "takeover-clean", persistent: true);
        await using RawMqttClient secondClient = second;

        Assert.False(connAck.SessionPresent);
        ReceivedMessage will = await watcher.NextAsync();
        Assert.Equal(("takeover/status", "offline"), (will.Topic, will.Payload));
        await watcher.PublishAsync("takeover/data", "for the old session", MqttQualityOfServiceLevel.AtLeastOnce);
        await second.SendAsync(EmptyPacket.PingReq);
        Assert.Equal(PacketType.PingResp, (await second.ReceiveAsync())?.Type);
    }

    // A persistent session taken over by CleanSession=0 continues with the new connection [MQTT-3.1.2-4]
    // [MQTT-3.2.2-2]; the client is still there, so its will is not published, as Mosquitto does (MQTT 5: the new
    // connection came before the Will Delay Interval ran out [MQTT-3.1.2-8]).
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_persistent_session_taken_over_with_CleanSession_0_continues_without_publishing_the_will(bool v5)
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient watcher = await MqttNetClient.ConnectAsync(broker.Port);
        await watcher.SubscribeAsync("takeover/status", MqttQualityOfServiceLevel.AtLeastOnce);
        (RawMqttClient first, _) = await ConnectAsync(broker.Port, v5, "takeover-persistent", persistent: true, Offline);
        await using RawMqttClient firstClient = first;
        await first.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("takeover/data", 1)] });
        await first.ExpectAsync<SubAckPacket>();

        (RawMqttClient second, ConnAckPacket connAck) = await ConnectAsync(broker.Port, v5, "takeover-persistent", persistent: true);
        await using RawMqttClient secondClient = second;

        Assert.True(connAck.SessionPresent);
        await Eventually.AssertAsync(() => broker.Broker.ConnectionCount == 2, "the replaced connection has ended");
        await watcher.AssertNothingReceivedAsync(watcher);
        Assert.Equal(0, broker.Broker.Retained.Count);
        await watcher.PublishAsync("takeover/data", "for the session", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal("takeover/data", Assert.IsType<PublishPacket>(await second.ReceiveAsync()).Topic);
    }

    // A node that reconnects while the broker still holds its old connection publishes "online" (retained) right
    // after CONNECT; the old connection's retained "offline" will must come before it, never after, or the node
    // would show offline while it is connected. Here the PUBLISH is in the CONNECT's own write.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_replaced_connection_s_will_is_published_before_the_new_connection_s_first_message(bool v5)
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient watcher = await MqttNetClient.ConnectAsync(broker.Port);
        await watcher.SubscribeAsync("takeover/status", MqttQualityOfServiceLevel.AtLeastOnce);
        (RawMqttClient first, _) = await ConnectAsync(broker.Port, v5, "takeover-node", persistent: false, Offline);
        await using RawMqttClient firstClient = first;

        var online = new PublishPacket { Topic = "takeover/status", Payload = "online"u8.ToArray(), Qos = 1, Retain = true, PacketId = 1 };
        (RawMqttClient second, _) = await ConnectAsync(broker.Port, v5, "takeover-node", persistent: false, Offline, online);
        await using RawMqttClient secondClient = second;
        Assert.Equal(PacketType.PubAck, (await second.ReceiveAsync())?.Type);

        Assert.Equal(["offline", "online"], (await watcher.NextManyAsync(2)).Select(m => m.Payload));
        await Eventually.AssertAsync(() => broker.Broker.ConnectionCount == 2, "the replaced connection has ended");
        await using MqttNetClient late = await MqttNetClient.ConnectAsync(broker.Port);
        await late.SubscribeAsync("takeover/status");
        Assert.Equal("online", (await late.NextAsync()).Payload);
    }
}
