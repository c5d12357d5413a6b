using System.Diagnostics;
using System.Text;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>
/// MQTT 5.0 wills: Will Delay Interval (§3.1.3.2.2), will properties, and DISCONNECT reason codes (§3.14.2.1). The
/// dying clients are raw (MQTTnet always says goodbye); the wills are received by MQTTnet 5 subscribers.
/// </summary>
public sealed class V5WillTests
{
    private static Action<ConnectPacket> WithWill(string topic, uint sessionExpiry, uint? willDelay, bool cleanStart = true) => c =>
    {
        c.CleanStart = cleanStart;
        c.Properties = new MqttProperties { SessionExpiryInterval = sessionExpiry };
        c.Will = new WillMessage
        {
            Topic = topic,
            Payload = Encoding.UTF8.GetBytes("gone"),
            Qos = 1,
            Properties = new MqttProperties { WillDelayInterval = willDelay, ContentType = "text/plain" }
                .AddUserProperty("k", "1").AddUserProperty("a", "2"),
        };
    };

    // [MQTT-3.1.2-8] with a Will Delay Interval the will is published once the delay has elapsed, not at once;
    // [MQTT-3.1.3-10] its properties (user properties in order) go with it.
    [Fact]
    public async Task V5_will_is_published_after_the_will_delay_MQTT_3_1_2_8()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("will/delayed");
        RawMqttClient dying = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "will-delay", WithWill("will/delayed", sessionExpiry: 60, willDelay: 1));

        var cut = Stopwatch.StartNew();
        dying.Abort();

        V5Message will = await subscriber.NextAsync();
        Assert.True(cut.Elapsed >= TimeSpan.FromSeconds(1), $"will published {cut.Elapsed} after the connection was cut, before its 1 s delay");
        Assert.Equal(("will/delayed", "gone"), (will.Topic, will.Payload));
        Assert.Equal("text/plain", will.ContentType);
        Assert.Equal([("k", "1"), ("a", "2")], will.UserProperties);
    }

    // [MQTT-3.1.3-9] a new network connection to the session before the Will Delay Interval has passed: the will is
    // not sent. [MQTT-3.1.2-8] says so of "a new Network Connection for the ClientID", so a Clean Start that
    // discards the session does not send it either: the client is back (as Mosquitto). Time must pass beyond the 1 s
    // delay before "not sent" can be checked.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task V5_will_is_cancelled_when_the_client_reconnects_within_the_delay_MQTT_3_1_3_9(bool cleanStart)
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("will/cancelled");
        RawMqttClient dying = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "will-cancel", WithWill("will/cancelled", sessionExpiry: 60, willDelay: 1, cleanStart: false));

        var cut = Stopwatch.StartNew();
        dying.Abort();
        await Eventually.AssertAsync(() => broker.Broker.Sessions.Find("will-cancel") is { IsConnected: false }, "the broker saw the connection end");
        await using RawMqttClient back = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "will-cancel", c =>
        {
            c.CleanStart = cleanStart;
            c.Properties = new MqttProperties { SessionExpiryInterval = 60 };
        });

        await Eventually.AssertAsync(() => cut.Elapsed > TimeSpan.FromMilliseconds(1500), "the will delay has passed", TimeSpan.FromSeconds(5));
        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);
        Assert.Empty(await subscriber.ReceiveUntilMarkerAsync(publisher));
    }

    // [MQTT-3.1.3-9] a takeover is also a new network connection to the session before the delay has passed, so the
    // replaced connection's delayed will is not sent: with Clean Start 0 the session continues, and with Clean Start 1
    // [MQTT-3.1.2-8]'s "new Network Connection for the ClientID" came in time all the same.
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task V5_delayed_will_is_not_sent_when_the_session_is_taken_over_MQTT_3_1_3_9(bool cleanStart)
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("will/takeover");
        await using RawMqttClient first = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "will-takeover", WithWill("will/takeover", sessionExpiry: 60, willDelay: 1, cleanStart: false));

        var start = Stopwatch.StartNew();
        await using RawMqttClient second = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "will-takeover", c =>
        {
            c.CleanStart = cleanStart;
            c.Properties = new MqttProperties { SessionExpiryInterval = 60 };
        });
        Assert.IsType<DisconnectPacket>(await first.ReceiveAsync());

        await Eventually.AssertAsync(() => start.Elapsed > TimeSpan.FromMilliseconds(1500), "the will delay has passed", TimeSpan.FromSeconds(5));
        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);
        Assert.Empty(await subscriber.ReceiveUntilMarkerAsync(publisher));
    }

    // [MQTT-3.1.2-8] the will is published when the delay elapses "or the Session ends", whichever is first: with
    // Session Expiry 0 the session ends with the connection, so a long will delay does not hold the will back.
    [Fact]
    public async Task V5_will_is_published_at_once_when_the_session_ends_first_MQTT_3_1_2_8()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("will/session-end");
        RawMqttClient dying = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "will-session-end", WithWill("will/session-end", sessionExpiry: 0, willDelay: 3600));

        dying.Abort();

        V5Message will = await subscriber.NextAsync(TimeSpan.FromSeconds(5));
        Assert.Equal("gone", will.Payload);
    }

    // Table 3-10 (§3.14.2.1): DISCONNECT with 0x04 (Disconnect with Will Message): the client disconnects but wants
    // its will published.
    [Fact]
    public async Task V5_DISCONNECT_0x04_publishes_the_will()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("will/0x04");
        await using RawMqttClient leaving = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "will-0x04", WithWill("will/0x04", sessionExpiry: 0, willDelay: null));

        await leaving.SendAsync(new DisconnectPacket(ReasonCode.DisconnectWithWillMessage));

        V5Message will = await subscriber.NextAsync();
        Assert.Equal(("will/0x04", "gone"), (will.Topic, will.Payload));
    }

    // [MQTT-3.14.4-3] only 0x00 discards the will; a client that leaves with an error code has not disconnected
    // normally, so its will is published [MQTT-3.1.2-8] (§3.1.2.5).
    [Theory]
    [InlineData(ReasonCode.UnspecifiedError)]
    [InlineData(ReasonCode.ImplementationSpecificError)]
    public async Task V5_DISCONNECT_with_an_error_code_publishes_the_will_MQTT_3_14_4_3(ReasonCode reason)
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("will/error");
        await using RawMqttClient leaving = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "will-error", WithWill("will/error", sessionExpiry: 0, willDelay: null));

        await leaving.SendAsync(new DisconnectPacket(reason));

        V5Message will = await subscriber.NextAsync();
        Assert.Equal(("will/error", "gone"), (will.Topic, will.Payload));
    }

    // [MQTT-3.14.4-3] [MQTT-3.1.2-10] DISCONNECT with 0x00 (Normal disconnection): the will is discarded unpublished.
    [Fact]
    public async Task V5_normal_DISCONNECT_discards_the_will_MQTT_3_14_4_3()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync("will/normal");
        RawMqttClient leaving = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "will-normal", WithWill("will/normal", sessionExpiry: 0, willDelay: null));

        await leaving.SendAsync(new DisconnectPacket(ReasonCode.NormalDisconnection));
        await leaving.AssertClosedAsync();
        await leaving.DisposeAsync();
        await Eventually.AssertAsync(() => broker.Broker.Sessions.Find("will-normal") is null, "the session ended");

        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);
        Assert.Empty(await subscriber.ReceiveUntilMarkerAsync(publisher));
    }
}
