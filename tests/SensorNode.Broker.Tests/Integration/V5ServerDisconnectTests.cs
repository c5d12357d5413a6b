using MQTTnet;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>
/// Server-initiated DISCONNECT with a reason code (§3.14, §4.13): a 5.0 client is told why before the connection
/// closes [MQTT-4.13.2-1].
/// </summary>
public sealed class V5ServerDisconnectTests
{
    // [MQTT-3.1.4-3] a second connection with the same ClientID: the existing 5.0 connection gets DISCONNECT 0x8E
    // (Session taken over) and is closed; the new one is accepted.
    [Fact]
    public async Task V5_takeover_sends_DISCONNECT_0x8E_to_the_first_connection_MQTT_3_1_4_3()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient first = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "takeover-v5");

        await using MqttNet5Client second = await MqttNet5Client.ConnectAsync(broker.Port, "takeover-v5");
        Assert.Equal(MqttClientConnectResultCode.Success, second.ConnectResult.ResultCode);

        var disconnect = Assert.IsType<DisconnectPacket>(await first.ReceiveAsync());
        Assert.Equal(ReasonCode.SessionTakenOver, disconnect.ReasonCode);
        await first.AssertClosedAsync();
        Assert.True(second.Client.IsConnected);
    }

    // The same seen through MQTTnet: its disconnected event reports reason 0x8E.
    [Fact]
    public async Task V5_takeover_is_reported_to_an_MQTTnet_client_as_session_taken_over_MQTT_3_1_4_3()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client first = await MqttNet5Client.ConnectAsync(broker.Port, "takeover-mqttnet");
        await using MqttNet5Client second = await MqttNet5Client.ConnectAsync(broker.Port, "takeover-mqttnet");

        MqttClientDisconnectedEventArgs disconnected = await first.WaitForDisconnectedAsync();
        Assert.Equal(MqttClientDisconnectReason.SessionTakenOver, disconnected.Reason);
    }

    // [MQTT-3.1.2-22] no packet within 1.5 × Keep Alive: the broker closes the connection, telling a 5.0 client with
    // DISCONNECT 0x8D (Keep Alive timeout).
    [Fact]
    public async Task V5_keep_alive_timeout_sends_DISCONNECT_0x8D_MQTT_3_1_2_22()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.TimeoutCheckInterval = TimeSpan.FromMilliseconds(50));
        await using RawMqttClient client = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "keepalive-v5", c => c.KeepAliveSeconds = 1);

        var disconnect = Assert.IsType<DisconnectPacket>(await client.ReceiveAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(ReasonCode.KeepAliveTimeout, disconnect.ReasonCode);
        await client.AssertClosedAsync();
    }

    // [MQTT-3.2.2-21] [MQTT-3.1.2-22] a Server Keep Alive in CONNACK replaces the client's Keep Alive, on the broker's
    // side too: a client that asked for 60 s but was told 1 s is disconnected with 0x8D after 1.5 s of silence.
    [Fact]
    public async Task V5_server_keep_alive_replaces_the_clients_keep_alive_MQTT_3_2_2_21()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o =>
        {
            o.ServerKeepAlive = 1;
            o.TimeoutCheckInterval = TimeSpan.FromMilliseconds(50);
        });
        (RawMqttClient client, ConnAckPacket connAck) = await RawMqttClient.ConnectV5Async(broker.Port, "server-keepalive", c => c.KeepAliveSeconds = 60);
        await using RawMqttClient _ = client;
        Assert.Equal((ushort)1, connAck.Properties?.ServerKeepAlive);

        var disconnect = Assert.IsType<DisconnectPacket>(await client.ReceiveAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(ReasonCode.KeepAliveTimeout, disconnect.ReasonCode);
    }

    // [MQTT-4.13.1-1] a Malformed Packet after CONNECT: DISCONNECT 0x81 (Malformed Packet), then the connection closes.
    // Here a PINGREQ with a non-zero remaining length (§3.12.1).
    [Fact]
    public async Task V5_malformed_packet_after_CONNECT_gets_DISCONNECT_0x81_MQTT_4_13_1_1()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient client = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "malformed-v5");

        await client.SendAsync([0xC0, 0x01, 0x00]);

        var disconnect = Assert.IsType<DisconnectPacket>(await client.ReceiveAsync());
        Assert.Equal(ReasonCode.MalformedPacket, disconnect.ReasonCode);
        await client.AssertClosedAsync();
    }

    // [MQTT-3.8.1-1] [MQTT-4.13.1-1] reserved fixed header flags on SUBSCRIBE are malformed: DISCONNECT 0x81.
    [Fact]
    public async Task V5_subscribe_with_wrong_fixed_header_flags_gets_DISCONNECT_0x81_MQTT_3_8_1_1()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient client = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "malformed-sub");
        byte[] subscribe = MqttPacketWriter.ToArray(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("a", 0)] }, ProtocolLevel.V500);
        subscribe[0] = 0x80;

        await client.SendAsync(subscribe);

        var disconnect = Assert.IsType<DisconnectPacket>(await client.ReceiveAsync());
        Assert.Equal(ReasonCode.MalformedPacket, disconnect.ReasonCode);
        await client.AssertClosedAsync();
    }
}
