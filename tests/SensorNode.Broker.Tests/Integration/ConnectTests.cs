using System.Text;
using MQTTnet;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Sessions;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>CONNECT / CONNACK (MQTT 3.1.1 §3.1, §3.2) seen through MQTTnet, with raw sockets for exact bytes.</summary>
public sealed class ConnectTests
{
    // [MQTT-3.2.0-1] the first packet from the server is CONNACK; return code 0x00 accepts the connection.
    [Fact]
    public async Task Connect_is_accepted_with_CONNACK_0x00_MQTT_3_2_0_1()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient client = await MqttNetClient.ConnectAsync(broker.Port, "accepted-client");

        Assert.NotNull(client.ConnectResult);
        Assert.Equal(MqttClientConnectResultCode.Success, client.ConnectResult!.ResultCode);
        Assert.True(client.Client.IsConnected);
        Session? session = broker.Broker.Sessions.Find("accepted-client");
        Assert.NotNull(session);
        Assert.True(session!.IsConnected);
    }

    // [MQTT-3.1.3-6] an empty client id with CleanSession=1 is accepted and the server assigns a unique id.
    [Fact]
    public async Task Empty_client_id_with_clean_session_gets_an_assigned_id_and_works_MQTT_3_1_3_6()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient first = await MqttNetClient.ConnectAsync(broker.Port, clientId: string.Empty, cleanSession: true);
        await using MqttNetClient second = await MqttNetClient.ConnectAsync(broker.Port, clientId: string.Empty, cleanSession: true);

        Assert.Equal(MqttClientConnectResultCode.Success, first.ConnectResult!.ResultCode);
        Assert.Equal(MqttClientConnectResultCode.Success, second.ConnectResult!.ResultCode);

        // Two anonymous clients get two distinct, non-empty identifiers (neither took the other over).
        string[] ids = [.. broker.Broker.Sessions.Sessions.Select(s => s.ClientId)];
        Assert.Equal(2, ids.Length);
        Assert.All(ids, id => Assert.False(string.IsNullOrEmpty(id)));
        Assert.NotEqual(ids[0], ids[1]);
        Assert.True(first.Client.IsConnected);

        // And the connections are usable: pub/sub between the two anonymous clients.
        await first.SubscribeAsync("anon/topic", MqttQualityOfServiceLevel.AtLeastOnce);
        await second.PublishAsync("anon/topic", "hello", MqttQualityOfServiceLevel.AtLeastOnce);
        ReceivedMessage received = await first.NextAsync();
        Assert.Equal("anon/topic", received.Topic);
        Assert.Equal("hello", received.Payload);
    }

    // [MQTT-3.1.3-8] empty client id with CleanSession=0: CONNACK 0x02 (identifier rejected), session present 0
    // [MQTT-3.2.2-4], then the socket closes [MQTT-3.2.2-5]. A raw socket: MQTTnet 5 refuses to even encode such a
    // CONNECT (it throws MqttProtocolViolationException "CleanSession must be set if ClientId is empty" client-side).
    [Fact]
    public async Task Empty_client_id_without_clean_session_gets_0x02_session_present_0_and_close_MQTT_3_2_2_4_and_5()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient raw = await RawMqttClient.ConnectAsync(broker.Port);

        await raw.SendAsync(new ConnectPacket { ClientId = string.Empty, CleanSession = false, KeepAliveSeconds = 60 });

        var connAck = Assert.IsType<ConnAckPacket>(await raw.ReceiveAsync());
        Assert.Equal(ConnectReturnCode.IdentifierRejected, connAck.ReturnCode);
        Assert.False(connAck.SessionPresent);
        await raw.AssertClosedAsync();
    }

    // [MQTT-3.1.4-2] a second connection with the same client id disconnects the first.
    [Fact]
    public async Task Second_connection_with_same_client_id_takes_over_and_first_is_closed_MQTT_3_1_4_2()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient first = await MqttNetClient.ConnectAsync(broker.Port, "same-id");
        await using MqttNetClient second = await MqttNetClient.ConnectAsync(broker.Port, "same-id");

        Assert.Equal(MqttClientConnectResultCode.Success, second.ConnectResult!.ResultCode);
        await first.WaitForDisconnectedAsync();
        Assert.False(first.Client.IsConnected);

        // The new connection owns the client id and works.
        await second.SubscribeAsync("takeover/t", MqttQualityOfServiceLevel.AtLeastOnce);
        await second.PublishAsync("takeover/t", "mine", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal("mine", (await second.NextAsync()).Payload);
        Assert.True(second.Client.IsConnected);
        Assert.Equal(1, broker.Broker.Sessions.Count);
    }

    // [MQTT-3.1.4-2] also with raw sockets: the first connection sees EOF/reset with nothing else sent.
    [Fact]
    public async Task Takeover_closes_the_previous_raw_connection_MQTT_3_1_4_2()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient first = await RawMqttClient.ConnectMqttAsync(broker.Port, "raw-same-id");
        await using MqttNetClient second = await MqttNetClient.ConnectAsync(broker.Port, "raw-same-id");

        await first.AssertClosedAsync();
        Assert.True(second.Client.IsConnected);
    }

    // [MQTT-3.2.2-1] CleanSession=1: session present 0 (even when a persistent session existed [MQTT-3.1.2-6]).
    [Fact]
    public async Task Session_present_is_0_for_clean_session_MQTT_3_2_2_1()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using (MqttNetClient persistent = await MqttNetClient.ConnectAsync(broker.Port, "sp-clean", cleanSession: false))
        {
            await persistent.SubscribeAsync("sp/clean", MqttQualityOfServiceLevel.AtLeastOnce);
        }

        await using MqttNetClient clean = await MqttNetClient.ConnectAsync(broker.Port, "sp-clean", cleanSession: true);
        Assert.Equal(MqttClientConnectResultCode.Success, clean.ConnectResult!.ResultCode);
        Assert.False(clean.ConnectResult.IsSessionPresent);
    }

    // [MQTT-3.2.2-3] CleanSession=0 with no stored session: session present 0.
    // [MQTT-3.2.2-2] CleanSession=0 resuming a stored session: session present 1.
    [Fact]
    public async Task Session_present_is_0_for_new_and_1_for_resumed_persistent_session_MQTT_3_2_2_2_and_3()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using (MqttNetClient fresh = await MqttNetClient.ConnectAsync(broker.Port, "sp-persistent", cleanSession: false))
        {
            Assert.False(fresh.ConnectResult!.IsSessionPresent);
            await fresh.SubscribeAsync("sp/persistent", MqttQualityOfServiceLevel.AtLeastOnce);
        }

        await using MqttNetClient resumed = await MqttNetClient.ConnectAsync(broker.Port, "sp-persistent", cleanSession: false);
        Assert.Equal(MqttClientConnectResultCode.Success, resumed.ConnectResult!.ResultCode);
        Assert.True(resumed.ConnectResult.IsSessionPresent);
    }

    // [MQTT-3.2.2-2] session present 1 also when the persistent session is taken over while still connected.
    [Fact]
    public async Task Session_present_is_1_when_taking_over_a_connected_persistent_session_MQTT_3_2_2_2()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient first = await MqttNetClient.ConnectAsync(broker.Port, "sp-takeover", cleanSession: false);
        await using MqttNetClient second = await MqttNetClient.ConnectAsync(broker.Port, "sp-takeover", cleanSession: false);

        Assert.True(second.ConnectResult!.IsSessionPresent);
        await first.WaitForDisconnectedAsync();
    }

    // §3.2.2.3: an authenticator refusing the credentials answers 0x04 (bad user name or password) or
    // 0x05 (not authorized); MQTTnet reports those as BadUserNameOrPassword / NotAuthorized.
    [Theory]
    [InlineData(ConnectReturnCode.BadUserNameOrPassword, MqttClientConnectResultCode.BadUserNameOrPassword)]
    [InlineData(ConnectReturnCode.NotAuthorized, MqttClientConnectResultCode.NotAuthorized)]
    public async Task Authenticator_refusal_is_reported_with_its_return_code_MQTT_3_2_2_5(ConnectReturnCode verdict, MqttClientConnectResultCode expected)
    {
        string? seenUser = null;
        string? seenPassword = null;
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.Authenticator = connect =>
        {
            seenUser = connect.UserName;
            seenPassword = connect.Password is null ? null : Encoding.UTF8.GetString(connect.Password);
            return connect.UserName == "alice" && seenPassword == "secret" ? ConnectReturnCode.Accepted : verdict;
        });

        // MQTTnet 5 does not throw on a refusing CONNACK: ConnectAsync returns the result with its code.
        await using MqttNetClient refused = await MqttNetClient.ConnectAsync(broker.Port, "auth-refused", configure: b => b.WithCredentials("mallory", "guess"));
        Assert.Equal(expected, refused.ConnectResult!.ResultCode);
        Assert.False(refused.ConnectResult.IsSessionPresent);
        Assert.False(refused.Client.IsConnected);
        Assert.Equal("mallory", seenUser);
        Assert.Equal("guess", seenPassword);
        Assert.Null(broker.Broker.Sessions.Find("auth-refused"));

        // The same authenticator lets good credentials in.
        await using MqttNetClient ok = await MqttNetClient.ConnectAsync(broker.Port, "auth-ok", configure: b => b.WithCredentials("alice", "secret"));
        Assert.Equal(MqttClientConnectResultCode.Success, ok.ConnectResult!.ResultCode);
    }

    // [MQTT-3.2.2-4] [MQTT-3.2.2-5] refused by the authenticator: exact return codes on the wire, session present 0, then close.
    [Theory]
    [InlineData(ConnectReturnCode.BadUserNameOrPassword)]
    [InlineData(ConnectReturnCode.NotAuthorized)]
    public async Task Authenticator_refusal_sends_exact_return_code_and_closes_MQTT_3_2_2_5(ConnectReturnCode verdict)
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.Authenticator = _ => verdict);
        await using RawMqttClient raw = await RawMqttClient.ConnectAsync(broker.Port);

        await raw.SendAsync(new ConnectPacket { ClientId = "raw-auth", UserName = "u", Password = "p"u8.ToArray(), KeepAliveSeconds = 60 });

        var connAck = Assert.IsType<ConnAckPacket>(await raw.ReceiveAsync());
        Assert.Equal(verdict, connAck.ReturnCode);
        Assert.False(connAck.SessionPresent);
        await raw.AssertClosedAsync();
    }
}
