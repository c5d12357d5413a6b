using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;
using SensorNode.Broker.Security;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Transport;

/// <summary>What only MQTT 5.0 connections have: CONNECT/CONNACK properties and topic aliases in both directions.</summary>
internal sealed partial class MqttConnection
{
    private (string Topic, byte[] Utf8)?[]? _inboundAliases;
    private Dictionary<string, ushort>? _outboundAliases;
    private ushort _clientTopicAliasMaximum;
    private PendingAuthentication? _pendingAuth;
    private IAuthExchange? _reauthentication;
    private string? _authenticationMethod;
    private uint _clientMaximumPacketSize;

    /// <summary>Checks what a 5.0 CONNECT asks for that the broker cannot give.</summary>
    private bool AcceptV5Connect(ConnectPacket connect, out ReasonCode refusal, out string why)
    {
        MqttProperties? properties = connect.Properties;
        if (properties?.AuthenticationMethod is { } method && FindAuthenticator(method) is null)
        {
            refusal = ReasonCode.BadAuthenticationMethod;
            why = $"authentication method '{method}' is not supported";
            return false;
        }

        if (connect.Will is { Properties.PayloadFormatIndicator: 1 } will && !System.Text.Unicode.Utf8.IsValid(will.Payload))
        {
            refusal = ReasonCode.PayloadFormatInvalid;
            why = "will payload is not the UTF-8 its Payload Format Indicator says [MQTT-3.1.3-11]";
            return false;
        }

        _clientTopicAliasMaximum = properties?.TopicAliasMaximum ?? 0;
        _clientMaximumPacketSize = properties?.MaximumPacketSize ?? 0;
        refusal = ReasonCode.Success;
        why = string.Empty;
        return true;
    }

    /// <summary>
    /// The Server Keep Alive a 5.0 client is told [MQTT-3.2.2-21]: the configured one, else <c>maxKeepAlive</c> when the
    /// client asked for more or for none (which caps a configured one too); null leaves the client's own.
    /// </summary>
    private ushort? ServerKeepAlive(ConnectPacket connect)
    {
        BrokerOptions options = _broker.Options;
        ushort keepAlive = options.ServerKeepAlive ?? connect.KeepAliveSeconds;
        if (options.MaxKeepAlive is { } max && (keepAlive == 0 || keepAlive > max))
        {
            return max;
        }

        return options.ServerKeepAlive;
    }

    /// <summary>The Session Expiry Interval granted: the client's, capped by the broker's limit for persistent sessions.</summary>
    private uint EffectiveSessionExpiry(ConnectPacket connect)
    {
        uint asked = connect.Properties?.SessionExpiryInterval ?? 0;
        if (asked != 0 && _broker.Options.Sessions.PersistentSessionExpiry is { } maximum && asked > maximum.TotalSeconds)
        {
            return (uint)Math.Min(uint.MaxValue - 1, maximum.TotalSeconds);
        }

        return asked;
    }

    /// <summary>CONNACK properties (§3.2.2.3): what the broker allows and what it decided for this client.</summary>
    private MqttProperties BuildConnAckProperties(ConnectPacket connect, string? assignedClientId, uint? grantedExpiry, ushort? serverKeepAlive)
    {
        BrokerOptions options = _broker.Options;
        var properties = new MqttProperties
        {
            AssignedClientIdentifier = assignedClientId,
            TopicAliasMaximum = options.TopicAliasMaximum == 0 ? null : options.TopicAliasMaximum,
            MaximumPacketSize = (uint)options.MaxPacketSize,
            RetainAvailable = options.RetainAvailable,
            MaximumQos = options.MaximumQos < 2 ? options.MaximumQos : null,
            WildcardSubscriptionAvailable = true,
            SubscriptionIdentifiersAvailable = true,
            SharedSubscriptionAvailable = true,
            ServerKeepAlive = serverKeepAlive,
        };
        if (options.ReceiveMaximum != ushort.MaxValue)
        {
            properties.ReceiveMaximum = options.ReceiveMaximum;
        }

        if (grantedExpiry is { } granted && granted != (connect.Properties?.SessionExpiryInterval ?? 0))
        {
            properties.SessionExpiryInterval = granted;
        }

        return properties;
    }

    /// <summary>
    /// Nothing may exceed the client's Maximum Packet Size, the CONNACK included [MQTT-3.1.2-24]: what absent means the
    /// same goes first (these four are "available" when absent, so a Retain Available of 0 stays), then the aliases it
    /// may not use. False when even that does not fit.
    /// </summary>
    private static bool FitConnAck(MqttProperties properties, uint limit)
    {
        if (ConnAckSize(properties) > limit)
        {
            properties.RetainAvailable = properties.RetainAvailable == true ? null : properties.RetainAvailable;
            properties.WildcardSubscriptionAvailable = null;
            properties.SubscriptionIdentifiersAvailable = null;
            properties.SharedSubscriptionAvailable = null;
        }

        if (ConnAckSize(properties) > limit)
        {
            properties.TopicAliasMaximum = null;
        }

        return ConnAckSize(properties) <= limit;
    }

    private static long ConnAckSize(MqttProperties properties)
    {
        int content = MqttPropertiesWriter.MeasureContent(properties);
        int remaining = 2 + MqttFrameReader.VariableByteIntegerSize(content) + content;
        return 1 + MqttFrameReader.VariableByteIntegerSize(remaining) + remaining;
    }

    /// <summary>
    /// Resolves an inbound Topic Alias (§3.3.2.3.4): a topic with an alias sets it, an empty topic uses it. An
    /// alias of 0 or above the broker's Topic Alias Maximum is refused with 0x94 [MQTT-3.3.2-8] [MQTT-3.3.2-9].
    /// </summary>
    private (string Topic, byte[] Utf8) ResolveTopic(in PublishView publish, MqttProperties? properties)
    {
        ushort alias = properties!.TopicAlias!.Value;
        ushort maximum = _broker.Options.TopicAliasMaximum;
        if (alias == 0 || alias > maximum)
        {
            throw new MqttProtocolException(DisconnectReason.TopicAliasInvalid, $"topic alias {alias} is outside 1..{maximum}");
        }

        _inboundAliases ??= new (string, byte[])?[maximum + 1];
        if (publish.Topic.IsEmpty)
        {
            return _inboundAliases[alias] ?? throw MqttProtocolException.ProtocolError($"topic alias {alias} was never set on this connection");
        }

        (string, byte[]) entry = (Topics.GetOrAdd(publish.Topic), publish.Topic.ToArray());
        _inboundAliases[alias] = entry;
        return entry;
    }

    /// <summary>
    /// Outbound Topic Alias for a topic (writer thread only): the first topics of a connection get aliases up
    /// to the client's Topic Alias Maximum; later PUBLISHes on them leave the topic out [MQTT-3.3.2-7].
    /// </summary>
    /// <summary>The alias for <paramref name="topic"/>: one the client knows already, or the next free one (0: none left).</summary>
    private (ushort Alias, bool Known) OutboundAlias(string topic)
    {
        if (_clientTopicAliasMaximum == 0)
        {
            return (0, false);
        }

        _outboundAliases ??= new Dictionary<string, ushort>(StringComparer.Ordinal);
        if (_outboundAliases.TryGetValue(topic, out ushort alias))
        {
            return (alias, true);
        }

        return _outboundAliases.Count >= _clientTopicAliasMaximum ? ((ushort)0, false) : ((ushort)(_outboundAliases.Count + 1), false);
    }

    /// <summary>Writes a PUBLISH to a 5.0 client; false when it exceeds the client's Maximum Packet Size and is skipped.</summary>
    private bool WritePublishV5(in OutboundPacket packet, long nowUnixMs)
    {
        ApplicationMessage message = packet.Message!;
        (ushort alias, bool known) = OutboundAlias(message.Topic);
        if (_clientMaximumPacketSize != 0
            && PublishWriter.Measure(message, packet.Qos, omitTopic: known, alias, packet.SubscriptionIds, nowUnixMs) > _clientMaximumPacketSize)
        {
            // The alias property costs 3 bytes (more than a topic of one or two characters saves): without it, the
            // packet may fit. If it does not, the message is not sent, and not counted against the window: for this
            // subscriber it is discarded [MQTT-3.1.2-24] [MQTT-3.1.2-25].
            if (alias == 0 || PublishWriter.Measure(message, packet.Qos, omitTopic: false, 0, packet.SubscriptionIds, nowUnixMs) > _clientMaximumPacketSize)
            {
                return false;
            }

            (alias, known) = (0, false);
        }

        if (alias != 0 && !known)
        {
            // Taken only once it is sent: the client learns an alias from the PUBLISH that sets it.
            _outboundAliases![message.Topic] = alias;
        }

        PublishWriter.Write(_output, message, packet.Qos, packet.Retain, packet.Dup, packet.PacketId, omitTopic: known, alias, packet.SubscriptionIds, nowUnixMs);
        return true;
    }

    private IEnhancedAuthenticator? FindAuthenticator(string method)
    {
        foreach (IEnhancedAuthenticator authenticator in _broker.Options.EnhancedAuthenticators)
        {
            if (authenticator.Method == method)
            {
                return authenticator;
            }
        }

        return null;
    }

    /// <summary>CONNECT named an Authentication Method: run the mechanism's first step (§4.12).</summary>
    private bool BeginConnectAuthentication(ConnectPacket connect, string clientId, bool assigned)
    {
        string method = connect.Properties!.AuthenticationMethod!;
        IAuthExchange exchange = FindAuthenticator(method)!.Begin(clientId, connect.UserName);
        _pendingAuth = new PendingAuthentication(connect, clientId, assigned, method, exchange);
        return OnConnectAuthStep(exchange.Next(connect.Properties.AuthenticationData));
    }

    /// <summary>The client's AUTH answer during CONNECT: it must be 0x18 with the same method [MQTT-4.12.0-3] [MQTT-4.12.0-4].</summary>
    private bool ContinueConnectAuthentication(ReadOnlySpan<byte> body)
    {
        AuthPacket auth = MqttPacketDecoder.ReadAuth(body);
        PendingAuthentication pending = _pendingAuth!;
        if (auth.ReasonCode != ReasonCode.ContinueAuthentication || auth.Properties?.AuthenticationMethod != pending.Method)
        {
            throw MqttProtocolException.ProtocolError("AUTH during CONNECT must continue the same Authentication Method");
        }

        return OnConnectAuthStep(pending.Exchange.Next(auth.Properties.AuthenticationData));
    }

    private bool OnConnectAuthStep(AuthStep step)
    {
        PendingAuthentication pending = _pendingAuth!;
        switch (step.Outcome)
        {
            case AuthOutcome.Continue:
                MqttPacketWriter.WriteAuth(_output, ReasonCode.ContinueAuthentication, new MqttProperties { AuthenticationMethod = pending.Method, AuthenticationData = step.Data });
                _flushAfterRead = true;
                return true;
            case AuthOutcome.Success:
                _pendingAuth = null;
                return CompleteConnect(pending.Connect, pending.ClientId, pending.Assigned, new MqttProperties { AuthenticationMethod = pending.Method, AuthenticationData = step.Data });
            default:
                _pendingAuth = null;
                return RejectConnect(step.FailureReason, $"{pending.Method} authentication failed");
        }
    }

    /// <summary>
    /// Re-authentication on a live connection (§4.12.1): AUTH 0x19 with the CONNECT's method starts a new
    /// exchange; its failure ends the connection.
    /// </summary>
    private void Reauthenticate(Session session, ReadOnlySpan<byte> body)
    {
        AuthPacket auth = MqttPacketDecoder.ReadAuth(body);
        string? method = auth.Properties?.AuthenticationMethod;
        if (_authenticationMethod is null || method != _authenticationMethod)
        {
            throw MqttProtocolException.ProtocolError("AUTH must use the Authentication Method of CONNECT [MQTT-4.12.0-1] [MQTT-4.12.1-1]");
        }

        if (auth.ReasonCode == ReasonCode.ReAuthenticate)
        {
            _reauthentication = FindAuthenticator(method)!.Begin(session.ClientId, null);
        }
        else if (auth.ReasonCode != ReasonCode.ContinueAuthentication || _reauthentication is null)
        {
            throw MqttProtocolException.ProtocolError("AUTH with an unexpected reason code");
        }

        AuthStep step = _reauthentication.Next(auth.Properties!.AuthenticationData);
        switch (step.Outcome)
        {
            case AuthOutcome.Continue:
                session.EnqueueControl(OutboundPacket.Auth(ReasonCode.ContinueAuthentication, new MqttProperties { AuthenticationMethod = method, AuthenticationData = step.Data }));
                break;
            case AuthOutcome.Success:
                _reauthentication = null;
                session.EnqueueControl(OutboundPacket.Auth(ReasonCode.Success, new MqttProperties { AuthenticationMethod = method, AuthenticationData = step.Data }));
                break;
            default:
                throw new MqttProtocolException(DisconnectReason.NotAuthorized, $"re-authentication with {method} failed");
        }
    }

    private sealed record PendingAuthentication(ConnectPacket Connect, string ClientId, bool Assigned, string Method, IAuthExchange Exchange);
}
