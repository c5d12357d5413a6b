using System.Diagnostics;
using System.Text;
using MQTTnet;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>
/// MQTT 5.0 CONNECT / CONNACK (§3.1, §3.2) and the session lifetime they set (Session Expiry Interval,
/// §3.1.2.11.2; DISCONNECT, §3.14.2.2.2). CONNACK properties are read raw, where an absent property is visible.
/// </summary>
public sealed class V5ConnectTests
{
    // [MQTT-3.1.3-6] [MQTT-3.1.3-7] [MQTT-3.2.2-16] an empty ClientID gets a unique identifier, returned as
    // Assigned Client Identifier in the CONNACK, and not used by any other session.
    [Fact]
    public async Task V5_empty_client_id_gets_an_assigned_client_identifier_MQTT_3_2_2_16()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client first = await MqttNet5Client.ConnectAsync(broker.Port, clientId: string.Empty);
        await using MqttNet5Client second = await MqttNet5Client.ConnectAsync(broker.Port, clientId: string.Empty);

        Assert.Equal(MqttClientConnectResultCode.Success, first.ConnectResult.ResultCode);
        string assigned = first.ConnectResult.AssignedClientIdentifier;
        Assert.False(string.IsNullOrEmpty(assigned));
        Assert.False(string.IsNullOrEmpty(second.ConnectResult.AssignedClientIdentifier));
        Assert.NotEqual(assigned, second.ConnectResult.AssignedClientIdentifier);
        Assert.NotNull(broker.Broker.Sessions.Find(assigned));

        // The client works under that identifier.
        await first.SubscribeAsync("assigned/t");
        await second.PublishAsync("assigned/t", "hello");
        Assert.Equal("hello", (await first.NextAsync()).Payload);
    }

    // §3.2.2.3: CONNACK properties say what the broker allows: Topic Alias Maximum [MQTT-3.2.2-17], Maximum
    // Packet Size [MQTT-3.2.2-15], Retain / Wildcard / Subscription Identifier / Shared Subscription available,
    // Receive Maximum (§3.2.2.3.3) and Server Keep Alive [MQTT-3.2.2-21] when configured.
    // [MQTT-3.1.2-24] the CONNACK too stays within the client's Maximum Packet Size: a 20-byte limit got 24 bytes. The
    // properties whose absence means the same ("available") go first, then the topic aliases.
    [Fact]
    public async Task V5_CONNACK_fits_a_small_client_Maximum_Packet_Size_MQTT_3_1_2_24()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        (RawMqttClient client, ConnAckPacket connAck) = await RawMqttClient.ConnectV5Async(broker.Port, "tiny", c =>
            c.Properties = new MqttProperties { MaximumPacketSize = 20 });
        await using RawMqttClient _ = client;

        Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
        Assert.InRange(client.LastPacketSize, 5, 20);
        Assert.Null(connAck.Properties?.RetainAvailable);
        Assert.NotNull(connAck.Properties?.ReceiveMaximum);
    }

    // When even the trimmed CONNACK is too large (an Assigned Client Identifier must be sent [MQTT-3.2.2-16]), the
    // connection closes without one, as in Mosquitto: nothing larger than the client's limit is sent [MQTT-3.1.2-24].
    [Theory]
    [InlineData("tiny-limit", 8u)]
    [InlineData("", 20u)]
    public async Task V5_a_CONNACK_that_cannot_fit_the_client_Maximum_Packet_Size_is_not_sent_MQTT_3_1_2_24(string clientId, uint limit)
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient client = await RawMqttClient.ConnectAsync(broker.Port);
        client.Level = ProtocolLevel.V500;
        await client.SendAsync(new ConnectPacket { ProtocolLevel = ProtocolLevel.V500, ClientId = clientId, CleanStart = true, KeepAliveSeconds = 60, Properties = new MqttProperties { MaximumPacketSize = limit } });

        await client.AssertClosedAsync();
    }

    [Fact]
    public async Task V5_CONNACK_carries_the_configured_properties_MQTT_3_2_2_21()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o =>
        {
            o.TopicAliasMaximum = 12;
            o.MaxPacketSize = 4096;
            o.ReceiveMaximum = 20;
            o.ServerKeepAlive = 45;
        });
        (RawMqttClient client, ConnAckPacket connAck) = await RawMqttClient.ConnectV5Async(broker.Port, "connack-props");
        await using RawMqttClient _ = client;

        Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
        Assert.False(connAck.SessionPresent);
        MqttProperties properties = Assert.IsType<MqttProperties>(connAck.Properties);
        Assert.Equal((ushort)12, properties.TopicAliasMaximum);
        Assert.Equal(4096u, properties.MaximumPacketSize);
        Assert.Equal((ushort)20, properties.ReceiveMaximum);
        Assert.Equal((ushort)45, properties.ServerKeepAlive);
        Assert.True(properties.RetainAvailable ?? true);
        Assert.True(properties.WildcardSubscriptionAvailable ?? true);
        Assert.True(properties.SubscriptionIdentifiersAvailable ?? true);
        Assert.True(properties.SharedSubscriptionAvailable ?? true);
        Assert.Null(properties.AssignedClientIdentifier);
    }

    // §3.2.2.3.3 / §3.2.2.3.14: without configuration the broker announces its default Receive Maximum (1,024) and
    // no Server Keep Alive (the client's Keep Alive applies [MQTT-3.2.2-22]); MQTTnet sees the availability flags.
    [Fact]
    public async Task V5_CONNACK_defaults_announce_receive_maximum_and_omit_server_keep_alive_MQTT_3_2_2_22()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        (RawMqttClient client, ConnAckPacket connAck) = await RawMqttClient.ConnectV5Async(broker.Port, "connack-defaults");
        await using RawMqttClient _ = client;
        Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
        Assert.Equal((ushort)1024, connAck.Properties?.ReceiveMaximum);
        Assert.Null(connAck.Properties?.ServerKeepAlive);

        await using MqttNet5Client mqttnet = await MqttNet5Client.ConnectAsync(broker.Port);
        MqttClientConnectResult result = mqttnet.ConnectResult;
        Assert.True(result.RetainAvailable);
        Assert.True(result.WildcardSubscriptionAvailable);
        Assert.True(result.SubscriptionIdentifiersAvailable);
        Assert.True(result.SharedSubscriptionAvailable);
        Assert.Equal((ushort)64, result.TopicAliasMaximum);
    }

    // [MQTT-3.1.2-23] the session outlives the connection for its Session Expiry Interval; [MQTT-4.1.0-2] it is
    // discarded once the interval has passed. [MQTT-3.2.2-3] resuming it within the interval gives Session Present 1
    // and the messages queued meanwhile; after expiry Session Present is 0 and nothing is left.
    [Fact]
    public async Task V5_session_survives_for_its_expiry_interval_and_is_discarded_after_MQTT_4_1_0_2()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        const string clientId = "expiry-2s";
        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);

        // Within the interval: present, with the queued message.
        MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(broker.Port, clientId, o => o.WithCleanStart(false).WithSessionExpiryInterval(2));
        await subscriber.SubscribeAsync("expiry/t");
        await subscriber.DisposeAsync();
        await Eventually.AssertAsync(() => broker.Broker.Sessions.Find(clientId) is { IsConnected: false }, "the session is offline");
        await publisher.PublishAsync("expiry/t", "while away");
        broker.Broker.Housekeeping();
        Assert.NotNull(broker.Broker.Sessions.Find(clientId));

        subscriber = await MqttNet5Client.ConnectAsync(broker.Port, clientId, o => o.WithCleanStart(false).WithSessionExpiryInterval(2));
        Assert.True(subscriber.ConnectResult.IsSessionPresent);
        Assert.Equal("while away", (await subscriber.NextAsync()).Payload);

        // Then away for longer than the interval: discarded, not before.
        var offline = Stopwatch.StartNew();
        await subscriber.DisposeAsync();
        await Eventually.AssertAsync(() => broker.Broker.Sessions.Find(clientId) is { IsConnected: false }, "the session is offline");
        await publisher.PublishAsync("expiry/t", "too late");
        bool discarded = await Eventually.TrueAsync(
            () =>
            {
                broker.Broker.Housekeeping();
                return broker.Broker.Sessions.Find(clientId) is null;
            },
            TimeSpan.FromSeconds(6));
        Assert.True(discarded, "the session was not discarded after its 2 s expiry interval");
        Assert.True(offline.Elapsed >= TimeSpan.FromSeconds(2), $"the session was discarded after {offline.Elapsed}, before its 2 s interval");

        await using MqttNet5Client back = await MqttNet5Client.ConnectAsync(broker.Port, clientId, o => o.WithCleanStart(false).WithSessionExpiryInterval(2));
        Assert.False(back.ConnectResult.IsSessionPresent);
        Assert.Empty(await back.ReceiveUntilMarkerAsync(publisher));
    }

    [Fact]
    public async Task V5_a_session_past_its_expiry_is_not_resumed_even_before_the_expiry_sweep_MQTT_4_1_0_2()
    {
        // The sweep that discards expired sessions runs every few seconds; a client that comes back after its
        // interval but before the next sweep must still start afresh (found by the Eclipse Paho suite's
        // test_session_expiry, which failed now and then).
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.HousekeepingInterval = TimeSpan.FromHours(1));
        const string clientId = "expiry-before-sweep";
        MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(broker.Port, clientId, o => o.WithCleanStart(false).WithSessionExpiryInterval(1));
        await subscriber.SubscribeAsync("expiry/t");
        await subscriber.DisposeAsync();
        await Eventually.AssertAsync(() => broker.Broker.Sessions.Find(clientId) is { IsConnected: false }, "the session is offline");

        // The passing of the interval is what is tested: nothing to wait on but the clock.
        await Task.Delay(TimeSpan.FromMilliseconds(1200));

        await using MqttNet5Client back = await MqttNet5Client.ConnectAsync(broker.Port, clientId, o => o.WithCleanStart(false).WithSessionExpiryInterval(1));
        Assert.False(back.ConnectResult.IsSessionPresent);
        Assert.Equal(1, broker.Broker.Metrics.SessionsExpired);
    }

    // §3.1.2.11.2: an absent Session Expiry Interval is 0: the session ends when the network connection closes,
    // even with Clean Start 0; reconnecting finds no session [MQTT-3.2.2-3] (Session Present 0).
    [Fact]
    public async Task V5_session_expiry_zero_ends_the_session_at_disconnect_MQTT_3_2_2_3()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        const string clientId = "expiry-zero";
        MqttNet5Client client = await MqttNet5Client.ConnectAsync(broker.Port, clientId, o => o.WithCleanStart(false));
        await client.SubscribeAsync("zero/t");
        await client.DisposeAsync();

        await Eventually.AssertAsync(() => broker.Broker.Sessions.Find(clientId) is null, "the session ends with its connection");
        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);
        await publisher.PublishAsync("zero/t", "nobody");
        await using MqttNet5Client back = await MqttNet5Client.ConnectAsync(broker.Port, clientId, o => o.WithCleanStart(false));
        Assert.False(back.ConnectResult.IsSessionPresent);
        Assert.Empty(await back.ReceiveUntilMarkerAsync(publisher));
    }

    // [MQTT-3.1.2-4] [MQTT-3.2.2-2] Clean Start 1 discards an existing session and CONNACK says Session Present 0;
    // [MQTT-3.1.2-5] [MQTT-3.2.2-3] Clean Start 0 with a stored session resumes it with Session Present 1.
    [Fact]
    public async Task V5_session_present_follows_clean_start_and_stored_state_MQTT_3_2_2_2()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        const string clientId = "present-flags";
        Action<MqttClientOptionsBuilder> resume = o => o.WithCleanStart(false).WithSessionExpiryInterval(300);

        MqttNet5Client first = await MqttNet5Client.ConnectAsync(broker.Port, clientId, resume);
        Assert.False(first.ConnectResult.IsSessionPresent);
        await first.SubscribeAsync("present/t");
        await first.DisposeAsync();
        await Eventually.AssertAsync(() => broker.Broker.Sessions.Find(clientId) is { IsConnected: false }, "the session is offline");

        MqttNet5Client resumed = await MqttNet5Client.ConnectAsync(broker.Port, clientId, resume);
        Assert.True(resumed.ConnectResult.IsSessionPresent);
        await resumed.DisposeAsync();
        await Eventually.AssertAsync(() => broker.Broker.Sessions.Find(clientId) is { IsConnected: false }, "the session is offline");

        await using MqttNet5Client clean = await MqttNet5Client.ConnectAsync(broker.Port, clientId, o => o.WithCleanStart(true).WithSessionExpiryInterval(300));
        Assert.False(clean.ConnectResult.IsSessionPresent);
        Assert.Empty(broker.Broker.Sessions.Find(clientId)!.GetSubscriptions());
    }

    // §3.14.2.2.2: DISCONNECT may change the Session Expiry Interval: to 0 the session ends with the connection.
    [Fact]
    public async Task V5_DISCONNECT_with_session_expiry_zero_ends_the_session_MQTT_3_1_2_23()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        RawMqttClient client = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "disc-zero", c =>
        {
            c.CleanStart = false;
            c.Properties = new MqttProperties { SessionExpiryInterval = 600 };
        });
        await client.SendAsync(new DisconnectPacket(ReasonCode.NormalDisconnection, new MqttProperties { SessionExpiryInterval = 0 }));
        await client.AssertClosedAsync();
        await client.DisposeAsync();

        await Eventually.AssertAsync(() => broker.Broker.Sessions.Find("disc-zero") is null, "the session ends at DISCONNECT");
    }

    // §3.14.2.2.2: DISCONNECT may also lengthen a non-zero Session Expiry Interval; the session keeps the new value.
    [Fact]
    public async Task V5_DISCONNECT_can_change_a_non_zero_session_expiry_MQTT_3_1_2_23()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        RawMqttClient client = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "disc-longer", c =>
        {
            c.CleanStart = false;
            c.Properties = new MqttProperties { SessionExpiryInterval = 1 };
        });
        await client.SendAsync(new DisconnectPacket(ReasonCode.NormalDisconnection, new MqttProperties { SessionExpiryInterval = 3600 }));
        await client.AssertClosedAsync();
        await client.DisposeAsync();

        await Eventually.AssertAsync(() => broker.Broker.Sessions.Find("disc-longer") is { IsConnected: false }, "the session is offline");
        Assert.Equal(3600u, broker.Broker.Sessions.Find("disc-longer")!.ExpiryInterval);
    }

    // §3.14.2.2.2: "If the Session Expiry Interval in the CONNECT packet was zero, then it is a Protocol Error to set a
    // non-zero Session Expiry Interval in the DISCONNECT packet ... The Server uses DISCONNECT with Reason Code 0x82".
    // The session, which was to end with the connection, is not kept.
    [Fact]
    public async Task V5_DISCONNECT_setting_expiry_after_CONNECT_zero_is_answered_with_DISCONNECT_0x82()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient client = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "disc-bad-expiry");
        await client.SendAsync(new DisconnectPacket(ReasonCode.NormalDisconnection, new MqttProperties { SessionExpiryInterval = 60 }));

        var disconnect = Assert.IsType<DisconnectPacket>(await client.ReceiveAsync());
        Assert.Equal(ReasonCode.ProtocolError, disconnect.ReasonCode);
        await client.AssertClosedAsync();
        await Eventually.AssertAsync(() => broker.Broker.Sessions.Find("disc-bad-expiry") is null, "the session ends with its connection");
    }

    // [MQTT-4.12.0-1] an Authentication Method the server does not support: CONNACK 0x8C (Bad authentication
    // method), Session Present 0 [MQTT-3.2.2-6], then the connection is closed [MQTT-3.2.2-7].
    [Fact]
    public async Task V5_unsupported_authentication_method_is_refused_with_0x8C_MQTT_4_12_0_1()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        (RawMqttClient client, ConnAckPacket connAck) = await RawMqttClient.ConnectV5Async(broker.Port, "auth-method", c =>
            c.Properties = new MqttProperties { AuthenticationMethod = "NO-SUCH-MECHANISM" });
        await using RawMqttClient _ = client;

        Assert.Equal(ReasonCode.BadAuthenticationMethod, connAck.ReasonCode);
        Assert.False(connAck.SessionPresent);
        await client.AssertClosedAsync();
        Assert.Null(broker.Broker.Sessions.Find("auth-method"));
    }

    // §3.1.3.2.3: a Will Payload Format Indicator of 1 with a payload that is not UTF-8 may be refused with CONNACK
    // 0x99 (Payload format invalid); a refusing CONNACK is followed by closing the connection [MQTT-3.2.2-7].
    [Fact]
    public async Task V5_will_with_invalid_UTF8_payload_is_refused_with_0x99_MQTT_3_2_2_7()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        (RawMqttClient client, ConnAckPacket connAck) = await RawMqttClient.ConnectV5Async(broker.Port, "will-format", c =>
            c.Will = new WillMessage
            {
                Topic = "will/format",
                Payload = [0xC3, 0x28, 0xFF],
                Properties = new MqttProperties { PayloadFormatIndicator = 1 },
            });
        await using RawMqttClient _ = client;

        Assert.Equal(ReasonCode.PayloadFormatInvalid, connAck.ReasonCode);
        Assert.False(connAck.SessionPresent);
        await client.AssertClosedAsync();
    }

    // The same will with a valid UTF-8 payload is accepted (control for the test above).
    [Fact]
    public async Task V5_will_with_valid_UTF8_payload_and_format_indicator_is_accepted()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient client = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "will-format-ok", c =>
            c.Will = new WillMessage
            {
                Topic = "will/format",
                Payload = Encoding.UTF8.GetBytes("grüße"),
                Properties = new MqttProperties { PayloadFormatIndicator = 1 },
            });
    }
}
