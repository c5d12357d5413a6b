using System.Text;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;
using SensorNode.Broker.Security;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>MQTT 5 enhanced authentication (§4.12) through a test mechanism plugged into the broker.</summary>
public sealed class V5EnhancedAuthenticationTests
{
    private const string Method = "TEST-CHALLENGE";

    /// <summary>Challenge-response: the client must answer "answer:{challenge}".</summary>
    private sealed class ChallengeAuthenticator : IEnhancedAuthenticator
    {
        public string Method => V5EnhancedAuthenticationTests.Method;

        public IAuthExchange Begin(string clientId, string? userName) => new Exchange();

        private sealed class Exchange : IAuthExchange
        {
            private readonly string _challenge = "challenge-" + Guid.NewGuid().ToString("N")[..6];
            private bool _challenged;

            public AuthStep Next(byte[]? clientData)
            {
                if (!_challenged)
                {
                    _challenged = true;
                    return AuthStep.Continue(Encoding.UTF8.GetBytes(_challenge));
                }

                return Encoding.UTF8.GetString(clientData ?? []) == "answer:" + _challenge
                    ? AuthStep.Success(Encoding.UTF8.GetBytes("welcome"))
                    : AuthStep.Fail(ReasonCode.NotAuthorized);
            }
        }
    }

    /// <summary>A bare 5.0 client: the shared raw client, encoding and decoding with the 5.0 rules.</summary>
    private static async Task<RawMqttClient> ConnectV5SocketAsync(int port)
    {
        RawMqttClient client = await RawMqttClient.ConnectAsync(port);
        client.Level = ProtocolLevel.V500;
        return client;
    }

    private static Task<BrokerServer> StartAsync() => TestBroker.StartAsync(o => o.EnhancedAuthenticators.Add(new ChallengeAuthenticator()));

    private static ConnectPacket Connect(string method, string data) => new()
    {
        ProtocolLevel = ProtocolLevel.V500,
        ClientId = "auth-client",
        KeepAliveSeconds = 60,
        Properties = new MqttProperties { AuthenticationMethod = method, AuthenticationData = Encoding.UTF8.GetBytes(data) },
    };

    private static AuthPacket Answer(string method, string data, ReasonCode reason = ReasonCode.ContinueAuthentication) =>
        new(reason, new MqttProperties { AuthenticationMethod = method, AuthenticationData = Encoding.UTF8.GetBytes(data) });

    [Fact]
    public async Task Challenge_answered_correctly_completes_with_connack_carrying_the_method_and_final_data()
    {
        // [MQTT-4.12.0-2]: the server answers a CONNECT with an Authentication Method with AUTH 0x18 or CONNACK.
        await using BrokerServer broker = await StartAsync();
        await using RawMqttClient client = await ConnectV5SocketAsync(broker.Port);

        await client.SendAsync(Connect(Method, "hello"));
        var challenge = Assert.IsType<AuthPacket>(await client.ReceiveAsync());
        Assert.Equal(ReasonCode.ContinueAuthentication, challenge.ReasonCode);
        Assert.Equal(Method, challenge.Properties!.AuthenticationMethod);
        string nonce = Encoding.UTF8.GetString(challenge.Properties.AuthenticationData!);

        await client.SendAsync(Answer(Method, "answer:" + nonce));

        var connAck = Assert.IsType<ConnAckPacket>(await client.ReceiveAsync());
        Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
        Assert.Equal(Method, connAck.Properties!.AuthenticationMethod);
        Assert.Equal("welcome", Encoding.UTF8.GetString(connAck.Properties.AuthenticationData!));
        await client.SendAsync(EmptyPacket.PingReq);
        Assert.Equal(PacketType.PingResp, (await client.ReceiveAsync())!.Type);
    }

    [Fact]
    public async Task Wrong_answer_is_refused_with_connack_0x87_then_close()
    {
        await using BrokerServer broker = await StartAsync();
        await using RawMqttClient client = await ConnectV5SocketAsync(broker.Port);

        await client.SendAsync(Connect(Method, "hello"));
        Assert.IsType<AuthPacket>(await client.ReceiveAsync());
        await client.SendAsync(Answer(Method, "answer:guess"));

        var connAck = Assert.IsType<ConnAckPacket>(await client.ReceiveAsync());
        Assert.Equal(ReasonCode.NotAuthorized, connAck.ReasonCode);
        Assert.Null(await client.ReceiveAsync());
        Assert.Null(broker.Broker.Sessions.Find("auth-client"));
    }

    [Fact]
    public async Task Unknown_authentication_method_is_refused_with_connack_0x8C()
    {
        await using BrokerServer broker = await StartAsync();
        await using RawMqttClient client = await ConnectV5SocketAsync(broker.Port);

        await client.SendAsync(Connect("KERBEROS", "ticket"));

        var connAck = Assert.IsType<ConnAckPacket>(await client.ReceiveAsync());
        Assert.Equal(ReasonCode.BadAuthenticationMethod, connAck.ReasonCode);
        Assert.Null(await client.ReceiveAsync());
    }

    [Fact]
    public async Task Client_re_authenticates_on_a_live_connection()
    {
        // §4.12.1: AUTH 0x19 with the same method starts a new exchange, answered by AUTH 0x18 / 0x00.
        await using BrokerServer broker = await StartAsync();
        await using RawMqttClient client = await ConnectV5SocketAsync(broker.Port);
        await client.SendAsync(Connect(Method, "hello"));
        var first = Assert.IsType<AuthPacket>(await client.ReceiveAsync());
        await client.SendAsync(Answer(Method, "answer:" + Encoding.UTF8.GetString(first.Properties!.AuthenticationData!)));
        Assert.IsType<ConnAckPacket>(await client.ReceiveAsync());

        await client.SendAsync(Answer(Method, "again", ReasonCode.ReAuthenticate));
        var challenge = Assert.IsType<AuthPacket>(await client.ReceiveAsync());
        Assert.Equal(ReasonCode.ContinueAuthentication, challenge.ReasonCode);
        await client.SendAsync(Answer(Method, "answer:" + Encoding.UTF8.GetString(challenge.Properties!.AuthenticationData!)));

        var done = Assert.IsType<AuthPacket>(await client.ReceiveAsync());
        Assert.Equal(ReasonCode.Success, done.ReasonCode);
        Assert.Equal("welcome", Encoding.UTF8.GetString(done.Properties!.AuthenticationData!));
    }

    [Fact]
    public async Task Failed_re_authentication_disconnects_with_0x87()
    {
        await using BrokerServer broker = await StartAsync();
        await using RawMqttClient client = await ConnectV5SocketAsync(broker.Port);
        await client.SendAsync(Connect(Method, "hello"));
        var first = Assert.IsType<AuthPacket>(await client.ReceiveAsync());
        await client.SendAsync(Answer(Method, "answer:" + Encoding.UTF8.GetString(first.Properties!.AuthenticationData!)));
        Assert.IsType<ConnAckPacket>(await client.ReceiveAsync());

        await client.SendAsync(Answer(Method, "again", ReasonCode.ReAuthenticate));
        Assert.IsType<AuthPacket>(await client.ReceiveAsync());
        await client.SendAsync(Answer(Method, "answer:wrong"));

        var disconnect = Assert.IsType<DisconnectPacket>(await client.ReceiveAsync());
        Assert.Equal(ReasonCode.NotAuthorized, disconnect.ReasonCode);
        Assert.Null(await client.ReceiveAsync());
    }

    [Fact]
    public async Task Auth_packet_without_a_method_in_connect_is_a_protocol_error()
    {
        // [MQTT-4.12.0-1]
        await using BrokerServer broker = await StartAsync();
        await using RawMqttClient client = await ConnectV5SocketAsync(broker.Port);
        await client.SendAsync(new ConnectPacket { ProtocolLevel = ProtocolLevel.V500, ClientId = "plain", KeepAliveSeconds = 60 });
        Assert.IsType<ConnAckPacket>(await client.ReceiveAsync());

        await client.SendAsync(Answer(Method, "x", ReasonCode.ReAuthenticate));

        var disconnect = Assert.IsType<DisconnectPacket>(await client.ReceiveAsync());
        Assert.Equal(ReasonCode.ProtocolError, disconnect.ReasonCode);
    }
}
