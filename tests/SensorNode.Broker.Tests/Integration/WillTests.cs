using System.Diagnostics;
using System.Text;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>
/// Will messages (MQTT 3.1.1 §3.1.2.5–3.1.2.7). Connections that must end without DISCONNECT are raw sockets
/// (MQTTnet always says goodbye); the wills are received by MQTTnet subscribers.
/// </summary>
public sealed class WillTests
{
    private static WillMessage Will(string topic, string payload, byte qos = 0, bool retain = false) =>
        new() { Topic = topic, Payload = Encoding.UTF8.GetBytes(payload), Qos = qos, Retain = retain };

    // [MQTT-3.1.2-8] the will is published when the network connection closes without DISCONNECT
    // (§3.1.2.5: "the Client closes the Network Connection without first sending a DISCONNECT").
    [Fact]
    public async Task Will_is_published_when_the_connection_is_cut_without_DISCONNECT_MQTT_3_1_2_8()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("will/cut", MqttQualityOfServiceLevel.AtLeastOnce);
        RawMqttClient dying = await RawMqttClient.ConnectMqttAsync(broker.Port, "will-cut", will: Will("will/cut", "gone"));

        dying.Abort();

        ReceivedMessage will = await subscriber.NextAsync();
        Assert.Equal(("will/cut", "gone"), (will.Topic, will.Payload));
        Assert.Equal(MqttQualityOfServiceLevel.AtMostOnce, will.Qos);
        Assert.False(will.Retain);
    }

    /// <summary>
    /// $SYS/ belongs to the broker: a PUBLISH there is refused, and so is a will there (a retained will forged a
    /// bridge's state, kept across restarts). The CONNECT is refused as for a will the ACL does not allow.
    /// </summary>
    [Fact]
    public async Task A_will_on_a_SYS_topic_is_refused_at_CONNECT()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient forger = await RawMqttClient.ConnectAsync(broker.Port);
        await forger.SendAsync(new ConnectPacket { ClientId = "forger", CleanSession = true, KeepAliveSeconds = 60, Will = Will("$SYS/broker/bridge/hub/state", "connected", retain: true) });

        var connAck = Assert.IsType<ConnAckPacket>(await forger.ReceiveAsync());
        Assert.Equal(ConnectReturnCode.NotAuthorized, connAck.ReturnCode);
        await forger.AssertClosedAsync();
        Assert.Null(broker.Broker.Retained.Find("$SYS/broker/bridge/hub/state"));
    }

    // [MQTT-3.1.2-8] also when the client half-closes / closes gracefully at TCP level but never sent DISCONNECT.
    [Fact]
    public async Task Will_is_published_when_the_socket_is_closed_without_DISCONNECT_MQTT_3_1_2_8()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("will/closed", MqttQualityOfServiceLevel.AtLeastOnce);
        RawMqttClient dying = await RawMqttClient.ConnectMqttAsync(broker.Port, "will-closed", will: Will("will/closed", "closed"));

        await dying.DisposeAsync();

        ReceivedMessage will = await subscriber.NextAsync();
        Assert.Equal(("will/closed", "closed"), (will.Topic, will.Payload));
    }

    // §3.1.2.6 the will is published with its Will QoS (delivered at min(will QoS, granted) [MQTT-3.8.4-6]);
    // [MQTT-3.1.2-17] Will Retain=1 publishes it as a retained message: live subscribers get RETAIN=0
    // [MQTT-3.3.1-9], a later subscriber gets the retained will with RETAIN=1 [MQTT-3.3.1-6].
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Will_keeps_its_qos_and_a_retained_will_is_seen_by_a_later_subscriber_MQTT_3_1_2_17(byte willQos)
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("will/retained", MqttQualityOfServiceLevel.ExactlyOnce);
        RawMqttClient dying = await RawMqttClient.ConnectMqttAsync(broker.Port, "will-retained", will: Will("will/retained", "last words", willQos, retain: true));

        dying.Abort();

        ReceivedMessage live = await subscriber.NextAsync();
        Assert.Equal("last words", live.Payload);
        Assert.Equal((MqttQualityOfServiceLevel)willQos, live.Qos);
        Assert.False(live.Retain);

        await using MqttNetClient late = await MqttNetClient.ConnectAsync(broker.Port);
        await late.SubscribeAsync("will/retained", MqttQualityOfServiceLevel.ExactlyOnce);
        ReceivedMessage retained = await late.NextAsync();
        Assert.Equal("last words", retained.Payload);
        Assert.Equal((MqttQualityOfServiceLevel)willQos, retained.Qos);
        Assert.True(retained.Retain);
    }

    // [MQTT-3.1.2-16] Will Retain=0: the will is not retained.
    [Fact]
    public async Task Will_without_retain_is_not_retained_MQTT_3_1_2_16()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("will/plain", MqttQualityOfServiceLevel.AtLeastOnce);
        RawMqttClient dying = await RawMqttClient.ConnectMqttAsync(broker.Port, "will-plain", will: Will("will/plain", "bye", 1));

        dying.Abort();
        Assert.Equal("bye", (await subscriber.NextAsync()).Payload);

        await using MqttNetClient late = await MqttNetClient.ConnectAsync(broker.Port);
        await late.SubscribeAsync("will/plain", MqttQualityOfServiceLevel.AtLeastOnce);
        await late.AssertNothingReceivedAsync(subscriber);
        Assert.Equal(0, broker.Broker.Retained.Count);
    }

    // [MQTT-3.14.4-3] [MQTT-3.1.2-10] after DISCONNECT the will is discarded and never published. The broker closing
    // the socket proves it finished with the connection; the marker proves nothing was queued before.
    [Fact]
    public async Task Will_is_not_published_after_a_normal_DISCONNECT_MQTT_3_14_4_3()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("will/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await using RawMqttClient leaving = await RawMqttClient.ConnectMqttAsync(broker.Port, "will-polite", will: Will("will/polite", "should not appear", 1, retain: true));

        await leaving.SendAsync(EmptyPacket.Disconnect);
        await leaving.AssertClosedAsync();

        await subscriber.AssertNothingReceivedAsync(publisher);
        Assert.Equal(0, broker.Broker.Retained.Count);
    }

    // §3.1.2.5 / [MQTT-3.1.4-2]: a takeover closes the previous connection without its DISCONNECT, so its will
    // (encoded by MQTTnet here) is published.
    [Fact]
    public async Task Will_is_published_on_takeover_by_a_new_connection_with_the_same_client_id_MQTT_3_1_4_2()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("will/takeover", MqttQualityOfServiceLevel.AtLeastOnce);
        await using MqttNetClient first = await MqttNetClient.ConnectAsync(broker.Port, "will-takeover", configure: b => b
            .WithWillTopic("will/takeover")
            .WithWillPayload("taken over")
            .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce));

        await using MqttNetClient second = await MqttNetClient.ConnectAsync(broker.Port, "will-takeover");

        ReceivedMessage will = await subscriber.NextAsync();
        Assert.Equal(("will/takeover", "taken over", MqttQualityOfServiceLevel.AtLeastOnce), (will.Topic, will.Payload, will.Qos));
        await first.WaitForDisconnectedAsync();
        Assert.True(second.Client.IsConnected);
    }

    // [MQTT-3.1.2-24] keep-alive expiry closes the connection, and §3.1.2.5 the will is published then.
    [Fact]
    public async Task Will_is_published_on_keep_alive_expiry_MQTT_3_1_2_24()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.TimeoutCheckInterval = TimeSpan.FromMilliseconds(50));
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("will/silent", MqttQualityOfServiceLevel.AtLeastOnce);
        await using RawMqttClient silent = await RawMqttClient.ConnectMqttAsync(broker.Port, "will-silent", keepAlive: 1, will: Will("will/silent", "timed out", 1));
        var clock = Stopwatch.StartNew();

        ReceivedMessage will = await subscriber.NextAsync();

        Assert.Equal(("will/silent", "timed out"), (will.Topic, will.Payload));
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1), $"will published after only {clock.Elapsed}");
        await silent.AssertClosedAsync();
    }

    // §3.1.2.5: the server closing the connection because of a protocol error (here a second CONNECT [MQTT-3.1.0-2])
    // publishes the will.
    [Fact]
    public async Task Will_is_published_when_the_server_closes_on_a_protocol_error_MQTT_3_1_0_2()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("will/error", MqttQualityOfServiceLevel.AtLeastOnce);
        await using RawMqttClient offender = await RawMqttClient.ConnectMqttAsync(broker.Port, "will-error", will: Will("will/error", "broken"));

        await offender.SendAsync(new ConnectPacket { ClientId = "will-error", KeepAliveSeconds = 60 });
        await offender.AssertClosedAsync();

        Assert.Equal("broken", (await subscriber.NextAsync()).Payload);
    }
}
