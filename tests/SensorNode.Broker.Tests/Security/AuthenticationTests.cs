using System.Diagnostics;
using MQTTnet;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Security;
using SensorNode.Broker.Tests.Infrastructure;
using static SensorNode.Broker.Tests.Security.SecurityTestSupport;

namespace SensorNode.Broker.Tests.Security;

/// <summary>Users file logins, the anonymous policy, failed-login delay, counting and throttling, and what reaches the logs.</summary>
public sealed class AuthenticationTests
{
    private static Task<BrokerServer> StartWithUsersAsync(Action<SecurityOptions>? configure = null, bool? allowAnonymous = false)
    {
        string users = WriteUsers(TestBroker.NewDataDirectory(), ("alice", "alice-pw"), ("bob", "bob-pw"));
        return TestBroker.StartAsync(o =>
        {
            o.Security.PasswordFile = users;
            o.Security.AllowAnonymous = allowAnonymous;
            o.Security.FailedLoginDelay = TimeSpan.FromMilliseconds(20);
            configure?.Invoke(o.Security);
        });
    }

    [Fact]
    public async Task Users_file_login_is_accepted_with_the_right_password_v311_and_v5()
    {
        await using BrokerServer broker = await StartWithUsersAsync();

        await using MqttNetClient v311 = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials("alice", "alice-pw"));
        await using MqttNetClient v5 = await ConnectV5Async(broker.Port, configure: b => b.WithCredentials("bob", "bob-pw"));
        Assert.Equal(MqttClientConnectResultCode.Success, v311.ConnectResult!.ResultCode);
        Assert.Equal(MqttClientConnectResultCode.Success, v5.ConnectResult!.ResultCode);

        // Logged-in clients work normally.
        await v311.SubscribeAsync("sensors/#");
        await v5.PublishAsync("sensors/t", "21.5");
        Assert.Equal("21.5", (await v311.NextAsync()).Payload);
        Assert.Equal(0, broker.Broker.Security.AuthFailures);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_fire_and_forget_publisher_that_logs_in_is_served_in_full(bool epoll)
    {
        // CONNECT (with a password, so the login is checked on the pool), PUBLISH and DISCONNECT in one write, then the
        // client's end of the stream: the PUBLISH is delivered and the DISCONNECT discards the will [MQTT-3.1.2-10].
        string users = WriteUsers(TestBroker.NewDataDirectory(), ("alice", "alice-pw"), ("bob", "bob-pw"));
        await using BrokerServer broker = await TestBroker.StartAsync(o =>
        {
            o.Security.PasswordFile = users;
            o.Security.AllowAnonymous = false;
            o.UseEpollTransport = epoll;
        });
        await using MqttNetClient observer = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials("alice", "alice-pw"));
        await observer.SubscribeAsync("ff/#");

        byte[] burst = FireAndForgetBurst();
        await using RawMqttClient raw = await RawMqttClient.ConnectAsync(broker.Port);
        await raw.SendAsync(burst);
        raw.ShutdownSend();

        Assert.IsType<ConnAckPacket>(await raw.ReceiveAsync());
        await raw.AssertClosedAsync();
        ReceivedMessage delivered = await observer.NextAsync();
        Assert.Equal(("ff/t", "21.5"), (delivered.Topic, delivered.Payload));
        await observer.PublishAsync("ff/marker", "m");
        Assert.Equal("ff/marker", (await observer.NextAsync()).Topic);
        Assert.Equal(0, broker.Broker.Security.AuthFailures);
    }

    [Fact]
    public async Task A_login_read_together_with_the_end_of_the_stream_still_serves_what_follows_the_CONNECT()
    {
        // The same burst, handed to the connection already complete (a pipe's reader can see the last bytes and the
        // end of the stream in one read): the login on the pool must not end the connection before the PUBLISH and
        // DISCONNECT behind the CONNECT are handled.
        string users = WriteUsers(TestBroker.NewDataDirectory(), ("alice", "alice-pw"), ("bob", "bob-pw"));
        await using BrokerServer broker = await TestBroker.StartAsync(o =>
        {
            o.Security.PasswordFile = users;
            o.Security.AllowAnonymous = false;
        });
        await using MqttNetClient observer = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials("alice", "alice-pw"));
        await observer.SubscribeAsync("ff/#");

        var toBroker = new System.IO.Pipelines.Pipe();
        var fromBroker = new System.IO.Pipelines.Pipe();
        await toBroker.Writer.WriteAsync(FireAndForgetBurst());
        await toBroker.Writer.CompleteAsync();
        var context = new Microsoft.AspNetCore.Connections.DefaultConnectionContext(
            "in-memory", new DuplexPipe(toBroker.Reader, fromBroker.Writer), new DuplexPipe(fromBroker.Reader, toBroker.Writer));

        Task run = new SensorNode.Broker.Transport.MqttConnection(context, broker.Broker).RunAsync();
        await run.WaitAsync(TestBroker.Timeout);

        ReceivedMessage delivered = await observer.NextAsync();
        Assert.Equal(("ff/t", "21.5"), (delivered.Topic, delivered.Payload));
        await observer.PublishAsync("ff/marker", "m");
        Assert.Equal("ff/marker", (await observer.NextAsync()).Topic);
    }

    private sealed record DuplexPipe(System.IO.Pipelines.PipeReader Input, System.IO.Pipelines.PipeWriter Output) : System.IO.Pipelines.IDuplexPipe;

    /// <summary>CONNECT with a password and a will, PUBLISH QoS 0 and DISCONNECT, as one write.</summary>
    private static byte[] FireAndForgetBurst() =>
    [
        .. MqttPacketWriter.ToArray(new ConnectPacket
        {
            ClientId = "fire-and-forget",
            UserName = "bob",
            Password = "bob-pw"u8.ToArray(),
            Will = new WillMessage { Topic = "ff/will", Payload = "gone"u8.ToArray() },
        }, ProtocolLevel.V311),
        .. MqttPacketWriter.ToArray(new PublishPacket { Topic = "ff/t", Payload = "21.5"u8.ToArray() }, ProtocolLevel.V311),
        .. MqttPacketWriter.ToArray(EmptyPacket.Disconnect, ProtocolLevel.V311),
    ];

    [Theory]
    [InlineData("alice", "wrong")]
    [InlineData("alice", "")]
    [InlineData("alice", "bob-pw")]
    [InlineData("Alice", "alice-pw")]
    [InlineData("mallory", "alice-pw")]
    public async Task Wrong_password_or_unknown_user_gets_0x04_on_the_wire_and_the_socket_closes(string user, string password)
    {
        await using BrokerServer broker = await StartWithUsersAsync();

        (RawMqttClient raw, ConnAckPacket? connAck) = await RawConnectAsync(broker.Port, "raw-bad", user, password);
        await using (raw)
        {
            Assert.NotNull(connAck);
            Assert.Equal(ConnectReturnCode.BadUserNameOrPassword, connAck.ReturnCode);
            Assert.False(connAck.SessionPresent);
            await raw.AssertClosedAsync();
        }

        Assert.Null(broker.Broker.Sessions.Find("raw-bad"));
        Assert.Equal(1, broker.Broker.Security.AuthFailures);
    }

    [Fact]
    public async Task User_name_without_password_gets_0x04()
    {
        await using BrokerServer broker = await StartWithUsersAsync();
        (RawMqttClient raw, ConnAckPacket? connAck) = await RawConnectAsync(broker.Port, "raw-nopw", "alice", password: null);
        await using (raw)
        {
            Assert.Equal(ConnectReturnCode.BadUserNameOrPassword, connAck?.ReturnCode);
        }
    }

    [Theory]
    [InlineData("alice", "wrong")]
    [InlineData("mallory", "x")]
    public async Task Wrong_password_or_unknown_user_gets_0x86_with_mqtt5(string user, string password)
    {
        await using BrokerServer broker = await StartWithUsersAsync();

        await using MqttNetClient refused = await ConnectV5Async(broker.Port, configure: b => b.WithCredentials(user, password));
        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, refused.ConnectResult!.ResultCode);
        Assert.False(refused.Client.IsConnected);
    }

    [Fact]
    public async Task Anonymous_client_is_refused_with_0x05_when_anonymous_access_is_off()
    {
        await using BrokerServer broker = await StartWithUsersAsync(allowAnonymous: false);

        (RawMqttClient raw, ConnAckPacket? connAck) = await RawConnectAsync(broker.Port, "raw-anon");
        await using (raw)
        {
            Assert.Equal(ConnectReturnCode.NotAuthorized, connAck?.ReturnCode);
            await raw.AssertClosedAsync();
        }

        await using MqttNetClient v5 = await ConnectV5Async(broker.Port);
        Assert.Equal(MqttClientConnectResultCode.NotAuthorized, v5.ConnectResult!.ResultCode);

        // A known user still gets in.
        await using MqttNetClient alice = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials("alice", "alice-pw"));
        Assert.Equal(MqttClientConnectResultCode.Success, alice.ConnectResult!.ResultCode);
    }

    [Fact]
    public async Task Anonymous_clients_are_allowed_by_default_on_loopback()
    {
        // No AllowAnonymous setting: the broker decides by exposure; the test broker binds 127.0.0.1 only.
        await using BrokerServer broker = await StartWithUsersAsync(allowAnonymous: null);
        Assert.True(broker.Broker.Security.AllowAnonymous);

        await using MqttNetClient anonymous = await MqttNetClient.ConnectAsync(broker.Port);
        Assert.Equal(MqttClientConnectResultCode.Success, anonymous.ConnectResult!.ResultCode);

        // Named users must still prove who they are.
        await using MqttNetClient wrong = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials("alice", "nope"));
        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, wrong.ConnectResult!.ResultCode);
    }

    [Theory]
    [InlineData(false, null, true)]
    [InlineData(true, null, false)]
    [InlineData(true, true, true)]
    [InlineData(false, false, false)]
    public void Anonymous_policy_follows_exposure_unless_set(bool exposedToNetwork, bool? allowAnonymous, bool expected)
    {
        using var manager = new SecurityManager(new SecurityOptions { AllowAnonymous = allowAnonymous }, exposedToNetwork, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Assert.Equal(expected, manager.AllowAnonymous);
        Assert.Equal(expected ? LoginVerdict.Accepted : LoginVerdict.NotAuthorized, manager.Login(null, null, System.Net.IPAddress.Loopback));
    }

    // MQTT's anonymous policy follows the MQTT listeners, the dashboard's the listeners that serve it: an HTTP
    // listener opened for Prometheus asks the dashboard's visitors to log in without refusing the anonymous MQTT
    // clients of a broker that stays on loopback. A WebSocket listener carries both. Set, the option decides both.
    [Theory]
    [InlineData(ListenerKind.Http, null, true, false)]
    [InlineData(ListenerKind.WebSocket, null, false, false)]
    [InlineData(ListenerKind.Mqtt, null, false, false)] // the dashboard is never more open than MQTT
    [InlineData(ListenerKind.Http, true, true, true)]
    [InlineData(ListenerKind.Http, false, false, false)]
    public void Anonymous_policies_follow_the_listeners_open_to_the_network(ListenerKind open, bool? allowAnonymous, bool mqtt, bool dashboard)
    {
        var options = new BrokerOptions { Security = { AllowAnonymous = allowAnonymous } };
        options.Listeners.Add(new ListenerOptions { Kind = ListenerKind.Mqtt, BindAddress = "127.0.0.1" });
        options.Listeners.Add(new ListenerOptions { Kind = ListenerKind.Http, BindAddress = "localhost", Port = 9883 });
        options.Listeners.Add(new ListenerOptions { Kind = open, BindAddress = "192.0.2.10", Port = 9999 });

        using var manager = new SecurityManager(
            options.Security,
            BrokerServer.IsExposed(options, BrokerServer.CarriesMqtt),
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance,
            dashboardExposed: BrokerServer.IsExposed(options, BrokerServer.ServesHttp));

        Assert.Equal((mqtt, dashboard), (manager.AllowAnonymous, manager.DashboardAllowsAnonymous));
    }

    [Theory]
    [InlineData("localhost", true)]
    [InlineData("127.0.0.1", true)]
    [InlineData("::1", true)]
    [InlineData("[::1]", true)]
    [InlineData("any", false)]
    [InlineData("0.0.0.0", false)]
    [InlineData("::", false)]
    [InlineData("192.168.1.10", false)]
    public void Only_loopback_bind_addresses_count_as_not_exposed(string bindAddress, bool loopbackOnly)
    {
        Assert.Equal(loopbackOnly, BrokerServer.IsLoopbackOnly(bindAddress));
    }

    [Fact]
    public async Task Failed_login_refusal_is_delayed_by_FailedLoginDelay()
    {
        await using BrokerServer broker = await StartWithUsersAsync(s => s.FailedLoginDelay = TimeSpan.FromMilliseconds(400));

        var clock = Stopwatch.StartNew();
        (RawMqttClient raw, ConnAckPacket? connAck) = await RawConnectAsync(broker.Port, "slow", "alice", "wrong");
        clock.Stop();
        await using (raw)
        {
            Assert.Equal(ConnectReturnCode.BadUserNameOrPassword, connAck?.ReturnCode);
        }

        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(380), $"refusal came after {clock.ElapsedMilliseconds} ms, expected at least the 400 ms delay");
    }

    [Fact]
    public async Task Brute_force_on_one_user_from_one_address_is_throttled_while_another_user_still_connects()
    {
        await using BrokerServer broker = await StartWithUsersAsync(s =>
        {
            s.MaxFailedLoginsPerMinute = 5;
            s.LoginThrottle = TimeSpan.FromMinutes(1);
        });

        // Five guesses: each is checked and refused as a bad password.
        for (int i = 0; i < 5; i++)
        {
            (RawMqttClient raw, ConnAckPacket? connAck) = await RawConnectAsync(broker.Port, $"guess-{i}", "alice", $"guess-{i}");
            await using (raw)
            {
                Assert.Equal(ConnectReturnCode.BadUserNameOrPassword, connAck?.ReturnCode);
            }
        }

        Assert.Equal(5, broker.Broker.Security.AuthFailures);

        // Over the threshold even the right password is refused, unchecked: 0x05 (3.1.1), 0x9F Connection rate exceeded (5.0).
        (RawMqttClient right, ConnAckPacket? throttled) = await RawConnectAsync(broker.Port, "right-pw", "alice", "alice-pw");
        await using (right)
        {
            Assert.Equal(ConnectReturnCode.NotAuthorized, throttled?.ReturnCode);
            await right.AssertClosedAsync();
        }

        await using (MqttNetClient v5 = await ConnectV5Async(broker.Port, configure: b => b.WithCredentials("alice", "alice-pw")))
        {
            Assert.Equal(MqttClientConnectResultCode.ConnectionRateExceeded, v5.ConnectResult!.ResultCode);
        }

        Assert.Equal(7, broker.Broker.Security.AuthFailures);

        // Another user from the same address is not affected.
        await using MqttNetClient bob = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials("bob", "bob-pw"));
        Assert.Equal(MqttClientConnectResultCode.Success, bob.ConnectResult!.ResultCode);
        await bob.SubscribeAsync("still/working");
        await bob.PublishAsync("still/working", "yes");
        Assert.Equal("yes", (await bob.NextAsync()).Payload);
        Assert.Equal(7, broker.Broker.Security.AuthFailures);
    }

    [Fact]
    public async Task A_throttle_ends_after_LoginThrottle()
    {
        await using BrokerServer broker = await StartWithUsersAsync(s =>
        {
            s.MaxFailedLoginsPerMinute = 2;
            s.LoginThrottle = TimeSpan.FromMilliseconds(500);
        });

        for (int i = 0; i < 2; i++)
        {
            (RawMqttClient raw, _) = await RawConnectAsync(broker.Port, $"g{i}", "alice", "nope");
            await raw.DisposeAsync();
        }

        var blockedAt = Stopwatch.StartNew();
        await using (MqttNetClient blocked = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials("alice", "alice-pw")))
        {
            Assert.Equal(MqttClientConnectResultCode.NotAuthorized, blocked.ConnectResult!.ResultCode);
        }

        // Time that must pass: a bounded loop until the throttle has run out.
        MqttClientConnectResultCode last = MqttClientConnectResultCode.NotAuthorized;
        while (blockedAt.Elapsed < TimeSpan.FromSeconds(5) && last != MqttClientConnectResultCode.Success)
        {
            await Task.Delay(100);
            await using MqttNetClient again = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials("alice", "alice-pw"));
            last = again.ConnectResult!.ResultCode;
        }

        Assert.Equal(MqttClientConnectResultCode.Success, last);
    }

    [Fact]
    public async Task Passwords_and_payloads_never_reach_the_logs()
    {
        var logs = new CapturingLoggerProvider();
        string users = WriteUsers(TestBroker.NewDataDirectory(), ("alice", "Alice-Good-Pw-7781"));
        string acl = WriteAcl(TestBroker.NewDataDirectory(), "user alice\ntopic readwrite alice/#\n");
        await using BrokerServer broker = await StartWithLogsAsync(logs, o =>
        {
            o.Security.PasswordFile = users;
            o.Security.AclFile = acl;
            o.Security.AllowAnonymous = false;
            o.Security.FailedLoginDelay = TimeSpan.FromMilliseconds(10);
            o.Security.MaxFailedLoginsPerMinute = 3;
        });

        // Good and bad logins (3.1.1 and 5.0, up to throttling), a denied publish, an oversized topic.
        await using (MqttNetClient good = await MqttNetClient.ConnectAsync(broker.Port, configure: b => b.WithCredentials("alice", "Alice-Good-Pw-7781")))
        {
            await good.PublishAsync("forbidden/topic", "Payload-Secret-5521", MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce);
        }

        foreach (string guess in new[] { "Guess-Pw-1111", "Guess-Pw-2222", "Guess-Pw-3333", "Alice-Good-Pw-7781" })
        {
            await using MqttNetClient bad = await ConnectV5Async(broker.Port, configure: b => b.WithCredentials("alice", guess));
        }

        (RawMqttClient raw, _) = await RawConnectAsync(broker.Port, "raw-log", "nobody", "Raw-Pw-9090");
        await raw.DisposeAsync();

        IReadOnlyList<string> lines = logs.Lines;
        Assert.Contains(lines, l => l.Contains("Login refused for user 'alice'", StringComparison.Ordinal));
        foreach (string secret in new[] { "Alice-Good-Pw-7781", "Guess-Pw-1111", "Guess-Pw-2222", "Guess-Pw-3333", "Raw-Pw-9090", "Payload-Secret-5521" })
        {
            Assert.DoesNotContain(lines, l => l.Contains(secret, StringComparison.Ordinal));
        }
    }

    /// <summary>
    /// Refused logins cost an attacker nothing, so what the throttle keeps about them is bounded: 2,000 failures with
    /// 60 KB user names grew the broker by 300 MB that never went. Entries are capped in number and user names in length.
    /// </summary>
    [Fact]
    public void What_failed_logins_leave_behind_is_bounded()
    {
        using var manager = new SecurityManager(new SecurityOptions { AllowAnonymous = false }, exposedToNetwork: true, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        string longName = new('u', 60_000);
        for (int i = 0; i < SecurityManager.MaxTrackedFailures + 500; i++)
        {
            Assert.NotEqual(LoginVerdict.Accepted, manager.Login(longName + i, "wrong"u8.ToArray(), System.Net.IPAddress.Loopback));
        }

        Assert.Equal(SecurityManager.MaxTrackedFailures, manager.TrackedFailures);
    }
}
