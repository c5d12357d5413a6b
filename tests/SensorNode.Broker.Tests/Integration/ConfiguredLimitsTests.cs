using MQTTnet;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>
/// <c>maximumQos</c>, <c>retainAvailable</c> and <c>maxKeepAlive</c> (Mosquitto's <c>max_qos</c>,
/// <c>retain_available</c> and <c>max_keepalive</c>): announced to MQTT 5 clients in CONNACK (§3.2.2.3) and enforced
/// for every client.
/// </summary>
public sealed class ConfiguredLimitsTests
{
    private static Task<BrokerServer> StartLimitedAsync() => TestBroker.StartAsync(o =>
    {
        o.MaximumQos = 1;
        o.RetainAvailable = false;
    });

    // [MQTT-3.2.2-9] a broker without QoS 2 says so with Maximum QoS; §3.2.2.3.5 Retain Available 0. Seen by MQTTnet.
    [Fact]
    public async Task CONNACK_announces_maximum_qos_and_retain_unavailable_MQTT_3_2_2_9()
    {
        await using BrokerServer broker = await StartLimitedAsync();
        await using MqttNet5Client client = await MqttNet5Client.ConnectAsync(broker.Port);

        Assert.Equal(MqttQualityOfServiceLevel.AtLeastOnce, client.ConnectResult.MaximumQoS);
        Assert.False(client.ConnectResult.RetainAvailable);
    }

    // Without configuration neither is limited: no Maximum QoS property (QoS 2 allowed) and Retain Available.
    [Fact]
    public async Task CONNACK_without_limits_allows_qos_2_and_retain()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        (RawMqttClient client, ConnAckPacket connAck) = await RawMqttClient.ConnectV5Async(broker.Port, "no-limits");
        await using RawMqttClient _ = client;

        Assert.Null(connAck.Properties?.MaximumQos);
        Assert.True(connAck.Properties?.RetainAvailable ?? true);
    }

    // [MQTT-3.2.2-10] the broker still accepts a SUBSCRIBE asking for QoS 2 and grants at most its maximum.
    [Fact]
    public async Task Subscribe_at_qos_2_is_granted_the_maximum_qos_MQTT_3_2_2_10()
    {
        await using BrokerServer broker = await StartLimitedAsync();
        await using MqttNetClient client = await MqttNetClient.ConnectAsync(broker.Port);

        MqttClientSubscribeResult result = await client.SubscribeAsync("limits/#", MqttQualityOfServiceLevel.ExactlyOnce);

        Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, result.Items.Single().ResultCode);
    }

    // §3.3.1.2: a PUBLISH above the Maximum QoS ends the connection with DISCONNECT 0x9B, and is not delivered.
    [Fact]
    public async Task Publish_above_maximum_qos_is_disconnected_with_0x9B_and_not_delivered()
    {
        await using BrokerServer broker = await StartLimitedAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("limits/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await using RawMqttClient publisher = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "qos2-publisher");

        await publisher.SendAsync(new PublishPacket { Topic = "limits/q2", Payload = "refused"u8.ToArray(), Qos = 2, PacketId = 1 });

        var disconnect = Assert.IsType<DisconnectPacket>(await publisher.ReceiveAsync());
        Assert.Equal(ReasonCode.QosNotSupported, disconnect.ReasonCode);
        await publisher.AssertClosedAsync();
        await using MqttNetClient marker = await MqttNetClient.ConnectAsync(broker.Port);
        Assert.Empty(await subscriber.ReceiveUntilMarkerAsync(marker));
    }

    // §3.3.1.3: a retained PUBLISH to a broker without retained messages ends the connection with DISCONNECT 0x9A; an
    // MQTT 3.1.1 client, which cannot be told, is closed. Nothing is retained.
    [Fact]
    public async Task Retained_publish_without_retain_available_is_refused_and_not_retained()
    {
        await using BrokerServer broker = await StartLimitedAsync();
        await using (RawMqttClient v5 = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "retain-v5"))
        {
            await v5.SendAsync(new PublishPacket { Topic = "limits/r5", Payload = "refused"u8.ToArray(), Retain = true });
            var disconnect = Assert.IsType<DisconnectPacket>(await v5.ReceiveAsync());
            Assert.Equal(ReasonCode.RetainNotSupported, disconnect.ReasonCode);
            await v5.AssertClosedAsync();
        }

        await using (RawMqttClient v311 = await RawMqttClient.ConnectMqttAsync(broker.Port, "retain-v311"))
        {
            await v311.SendAsync(new PublishPacket { Topic = "limits/r3", Payload = "refused"u8.ToArray(), Qos = 1, PacketId = 1, Retain = true });
            Assert.Null(await v311.ReceiveAsync());
        }

        Assert.Equal(0, broker.Broker.Retained.Count);
    }

    // [MQTT-3.2.2-12] [MQTT-3.2.2-13] a will the broker could not publish is refused in CONNACK (0x9B / 0x9A) for 5.0;
    // 3.1.1 has no code for it and is closed without a CONNACK, as Mosquitto does.
    [Fact]
    public async Task Will_above_the_limits_is_refused_at_connect_MQTT_3_2_2_12()
    {
        await using BrokerServer broker = await StartLimitedAsync();
        (RawMqttClient qos, ConnAckPacket qosAck) = await RawMqttClient.ConnectV5Async(broker.Port, "will-qos2", c => c.Will = new WillMessage { Topic = "limits/will", Payload = "gone"u8.ToArray(), Qos = 2 });
        await using (qos)
        {
            Assert.Equal(ReasonCode.QosNotSupported, qosAck.ReasonCode);
        }

        (RawMqttClient retain, ConnAckPacket retainAck) = await RawMqttClient.ConnectV5Async(broker.Port, "will-retain", c => c.Will = new WillMessage { Topic = "limits/will", Payload = "gone"u8.ToArray(), Qos = 1, Retain = true });
        await using (retain)
        {
            Assert.Equal(ReasonCode.RetainNotSupported, retainAck.ReasonCode);
        }

        await using RawMqttClient v311 = await RawMqttClient.ConnectAsync(broker.Port);
        await v311.SendAsync(new ConnectPacket { ClientId = "will-v311", CleanSession = true, KeepAliveSeconds = 60, Will = new WillMessage { Topic = "limits/will", Payload = "gone"u8.ToArray(), Qos = 2 } });
        Assert.Null(await v311.ReceiveAsync());
        Assert.Null(broker.Broker.Sessions.Find("will-v311"));
    }

    // maxKeepAlive: a 5.0 client asking for more (or for 0, never checked) is given the maximum as Server Keep Alive
    // [MQTT-3.2.2-21]; one within it keeps its own. A 3.1.1 client cannot be told and is refused with 0x02.
    [Fact]
    public async Task Max_keep_alive_caps_v5_clients_and_refuses_v311_clients_beyond_it()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.MaxKeepAlive = 30);

        foreach (ushort asked in new ushort[] { 0, 31, 600 })
        {
            (RawMqttClient client, ConnAckPacket connAck) = await RawMqttClient.ConnectV5Async(broker.Port, $"v5-keepalive-{asked}", c => c.KeepAliveSeconds = asked);
            await using RawMqttClient _ = client;
            Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
            Assert.Equal((ushort)30, connAck.Properties?.ServerKeepAlive);
        }

        (RawMqttClient within, ConnAckPacket withinAck) = await RawMqttClient.ConnectV5Async(broker.Port, "v5-keepalive-20", c => c.KeepAliveSeconds = 20);
        await using (within)
        {
            Assert.Null(withinAck.Properties?.ServerKeepAlive);
        }

        foreach (ushort asked in new ushort[] { 0, 31 })
        {
            await using RawMqttClient v311 = await RawMqttClient.ConnectAsync(broker.Port);
            await v311.SendAsync(new ConnectPacket { ClientId = $"v311-keepalive-{asked}", CleanSession = true, KeepAliveSeconds = asked });
            Assert.Equal(ConnectReturnCode.IdentifierRejected, Assert.IsType<ConnAckPacket>(await v311.ReceiveAsync()).ReturnCode);
            await v311.AssertClosedAsync();
        }

        await using RawMqttClient accepted = await RawMqttClient.ConnectMqttAsync(broker.Port, "v311-keepalive-30", keepAlive: 30);
    }

    // The cap is the keep alive the broker then holds the client to [MQTT-3.1.2-22]: told 1 s, silent for longer, it is
    // disconnected with 0x8D. A configured serverKeepAlive above maxKeepAlive is capped as well.
    [Fact]
    public async Task Max_keep_alive_is_enforced_and_caps_a_configured_server_keep_alive()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o =>
        {
            o.MaxKeepAlive = 1;
            o.TimeoutCheckInterval = TimeSpan.FromMilliseconds(50);
        });
        (RawMqttClient client, ConnAckPacket connAck) = await RawMqttClient.ConnectV5Async(broker.Port, "capped-to-1s", c => c.KeepAliveSeconds = 60);
        await using RawMqttClient _ = client;
        Assert.Equal((ushort)1, connAck.Properties?.ServerKeepAlive);
        var disconnect = Assert.IsType<DisconnectPacket>(await client.ReceiveAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(ReasonCode.KeepAliveTimeout, disconnect.ReasonCode);

        await using BrokerServer both = await TestBroker.StartAsync(o =>
        {
            o.ServerKeepAlive = 120;
            o.MaxKeepAlive = 30;
        });
        (RawMqttClient capped, ConnAckPacket cappedAck) = await RawMqttClient.ConnectV5Async(both.Port, "server-keep-alive-capped");
        await using RawMqttClient __ = capped;
        Assert.Equal((ushort)30, cappedAck.Properties?.ServerKeepAlive);
    }

    // allowZeroLengthClientId false (Mosquitto's allow_zero_length_clientid): an empty client id is refused rather
    // than assigned [MQTT-3.1.3-7] (a Server MAY allow it), by MQTT 3.1.1 (0x02) and 5.0 (0x85); named clients connect.
    [Fact]
    public async Task Empty_client_ids_can_be_refused()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.AllowZeroLengthClientId = false);

        await using RawMqttClient v311 = await RawMqttClient.ConnectAsync(broker.Port);
        await v311.SendAsync(new ConnectPacket { ClientId = "", CleanSession = true, KeepAliveSeconds = 60 });
        Assert.Equal(ConnectReturnCode.IdentifierRejected, (await v311.ExpectAsync<ConnAckPacket>()).ReturnCode);

        (RawMqttClient v5, ConnAckPacket v5Ack) = await RawMqttClient.ConnectV5Async(broker.Port, "");
        await using (v5)
        {
            Assert.Equal(ReasonCode.ClientIdentifierNotValid, v5Ack.ReasonCode);
        }

        await using RawMqttClient named = await RawMqttClient.ConnectMqttAsync(broker.Port, "named");
    }
}
