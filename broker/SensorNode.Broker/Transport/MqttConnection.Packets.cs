using System.Buffers;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using SensorNode.Broker.Persistence;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;
using SensorNode.Broker.Routing;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Transport;

/// <summary>
/// What each control packet from a client does (MQTT 3.1 / 3.1.1). Effects that need the store (a message
/// queued for a persistent session, a retained message, a persistent subscription) take place, and are
/// acknowledged, only once durable; everything else from the same connection waits its turn behind them,
/// so acknowledgements and deliveries keep the order the packets came in [MQTT-4.6.0-2] [MQTT-4.6.0-3].
/// </summary>
internal sealed partial class MqttConnection
{
    private TopicNameCache? _topicCache;

    /// <summary>Created on the first PUBLISH: a subscriber-only connection never needs it.</summary>
    private TopicNameCache Topics => _topicCache ??= new TopicNameCache();

    // Created with the first packet that needs them (a connection that only pings never does).
    private List<RouteTarget>? _targets;
    private List<StoreOperation>? _operations;

    private List<RouteTarget> Targets => _targets ??= [];

    private List<StoreOperation> Operations => _operations ??= [];

    private int _awaitingDurable;
    private int _inboundUnacknowledged;
    private uint _connectSessionExpiry;
    private bool _expiryChangedOnDisconnect;
    private bool _isBridge;
    private Session? _session;
    private WillMessage? _will;
    private Security.ClientAccess? _access;
    private ProtocolLevel _level;

    private bool IsV5 => _level == ProtocolLevel.V500;

    /// <summary>Handles one packet; returns false when the connection must stop reading.</summary>
    private bool HandlePacket(byte header, in ReadOnlySequence<byte> body)
    {
        PacketType type = MqttPacketDecoder.TypeOf(header);
        ReadOnlySpan<byte> span = Linearize(body);
        Session? session = _session;
        if (session is null)
        {
            return _pendingAuth is null ? HandleConnect(span)
                : type == PacketType.Auth ? ContinueConnectAuthentication(span)
                : throw MqttProtocolException.ProtocolError($"{type} during enhanced authentication [MQTT-4.12.0-5]");
        }

        switch (type)
        {
            case PacketType.Publish:
                HandlePublish(session, header, span);
                return true;
            case PacketType.PubAck:
                session.OnPubAck(ReadAck(type, span, out _));
                return true;
            case PacketType.PubRec:
                {
                    ushort packetId = ReadAck(type, span, out ReasonCode reason);
                    if (reason.IsError())
                    {
                        // The client refuses the message: the exchange ends here, no PUBREL (MQTT 5 §4.3.3).
                        session.Abandon(packetId);
                    }
                    else
                    {
                        session.OnPubRec(packetId);
                    }

                    return true;
                }

            case PacketType.PubComp:
                session.OnPubComp(ReadAck(type, span, out _));
                return true;
            case PacketType.PubRel:
                {
                    ushort packetId = ReadAck(type, span, out _);
                    _operations?.Clear();
                    if (session.ReleaseInboundQos2(packetId, out bool known) is { } forget)
                    {
                        Operations.Add(forget);
                    }

                    if (known)
                    {
                        Interlocked.Decrement(ref _inboundUnacknowledged);
                    }

                    RespondWhenDurable(session, OutboundPacket.Ack(PacketType.PubComp, packetId, known || !IsV5 ? ReasonCode.Success : ReasonCode.PacketIdentifierNotFound));
                    return true;
                }

            case PacketType.Subscribe:
                HandleSubscribe(session, span);
                return true;
            case PacketType.Unsubscribe:
                HandleUnsubscribe(session, span);
                return true;
            case PacketType.PingReq:
                MqttPacketDecoder.ExpectEmpty(type, span);
                session.EnqueueControl(OutboundPacket.Control(PacketType.PingResp));
                return true;
            case PacketType.Disconnect:
                return HandleDisconnect(session, span);
            case PacketType.Auth when IsV5:
                Reauthenticate(session, span);
                return true;
            case PacketType.Connect:
                throw MqttProtocolException.ProtocolError("second CONNECT on a connection [MQTT-3.1.0-2]");
            default:
                throw MqttProtocolException.ProtocolError($"{type} is not a packet a client sends");
        }
    }

    private ushort ReadAck(PacketType type, ReadOnlySpan<byte> body, out ReasonCode reason)
    {
        if (!IsV5)
        {
            reason = ReasonCode.Success;
            return MqttPacketDecoder.ReadPacketId(type, body);
        }

        return MqttPacketDecoder.ReadPacketId(type, body, ProtocolLevel.V500, out reason, out _);
    }

    private bool HandleDisconnect(Session session, ReadOnlySpan<byte> body)
    {
        if (!IsV5)
        {
            MqttPacketDecoder.ExpectEmpty(PacketType.Disconnect, body);

            // The will is discarded on DISCONNECT [MQTT-3.14.4-3].
            _will = null;
            SetCloseReason(DisconnectReason.NormalDisconnection);
            return false;
        }

        DisconnectPacket disconnect = MqttPacketDecoder.ReadDisconnect(body);
        if (disconnect.Properties?.SessionExpiryInterval is { } expiry)
        {
            if (_connectSessionExpiry == 0 && expiry != 0)
            {
                throw MqttProtocolException.ProtocolError("DISCONNECT sets a Session Expiry Interval after CONNECT had 0 [MQTT-3.14.2-2]");
            }

            _expiryChangedOnDisconnect = session.ExpiryInterval != expiry;
            session.ExpiryInterval = expiry;
        }

        // Only 0x00 discards the will [MQTT-3.14.4-3] [MQTT-3.1.2-10]: 0x04 asks for it, and a client that leaves with
        // an error code has not disconnected normally, so its will is published (§3.1.2.5).
        if (disconnect.ReasonCode == ReasonCode.NormalDisconnection)
        {
            _will = null;
        }

        SetCloseReason(DisconnectReason.NormalDisconnection);
        return false;
    }

    private bool HandleConnect(ReadOnlySpan<byte> body)
    {
        (string name, byte level) = MqttPacketDecoder.ReadConnectProtocol(body);
        bool supported = (name == "MQTT" && level is (byte)ProtocolLevel.V311 or (byte)ProtocolLevel.V500 or 0x84) || (name == "MQIsdp" && level is (byte)ProtocolLevel.V310 or 0x83);
        if (!supported)
        {
            if (name is not ("MQTT" or "MQIsdp"))
            {
                // Not MQTT at all: close without CONNACK [MQTT-3.1.2-1].
                throw MqttProtocolException.ProtocolError($"unknown protocol name '{name}'");
            }

            return RejectConnect(ConnectReturnCode.UnacceptableProtocolVersion, $"protocol level {level} is not supported [MQTT-3.1.2-2]");
        }

        ConnectPacket connect = MqttPacketDecoder.ReadConnect(body);
        _level = connect.ProtocolLevel;
        _isBridge = connect.IsBridge;
        string clientId = connect.ClientId;
        bool assigned = false;
        if (clientId.Length == 0)
        {
            if (_level == ProtocolLevel.V310)
            {
                return RejectConnect(ConnectReturnCode.IdentifierRejected, "MQTT 3.1 requires a client identifier of 1 to 23 characters");
            }

            if (!connect.CleanSession && !IsV5)
            {
                return RejectConnect(ConnectReturnCode.IdentifierRejected, "empty client identifier requires clean session [MQTT-3.1.3-8]");
            }

            if (!_broker.Options.AllowZeroLengthClientId)
            {
                return RejectConnect(ConnectReturnCode.IdentifierRejected, "empty client identifier, and allowZeroLengthClientId is false [MQTT-3.1.3-7]");
            }

            // The broker assigns a unique identifier [MQTT-3.1.3-6], and tells a 5.0 client [MQTT-3.2.2-16].
            clientId = "auto-" + Guid.NewGuid().ToString("N");
            assigned = true;
        }

        if (_broker.IsShuttingDown)
        {
            return RejectConnect(ConnectReturnCode.ServerUnavailable, "broker is shutting down");
        }

        if (_refusal is { } refusal0)
        {
            // Over the connection limits: 3.1.1 can only say "server unavailable"; 5.0 says which limit.
            return IsV5
                ? RejectConnect((ReasonCode)(byte)refusal0, $"connection limit reached ({refusal0})")
                : RejectConnect(ConnectReturnCode.ServerUnavailable, $"connection limit reached ({refusal0})");
        }

        if (clientId.StartsWith(Bridging.BridgeManager.SessionPrefix, StringComparison.Ordinal))
        {
            // Reserved for the local sessions of bridges: a client taking one over would steal their queues.
            return RejectConnect(ConnectReturnCode.IdentifierRejected, "client identifiers starting with '$bridge/' are reserved for bridges");
        }

        if (clientId.Length > _broker.Options.MaxClientIdLength)
        {
            return RejectConnect(ConnectReturnCode.IdentifierRejected, $"client identifier longer than {_broker.Options.MaxClientIdLength}");
        }

        if (IsV5 && !AcceptV5Connect(connect, out ReasonCode refusal, out string why))
        {
            return RejectConnect(refusal, why);
        }

        if (!WithinConfiguredLimits(connect, out bool refusedByLimit))
        {
            return refusedByLimit;
        }

        if (connect.Properties?.AuthenticationMethod is not null)
        {
            return BeginConnectAuthentication(connect, clientId, assigned);
        }

        return CompleteConnect(connect, clientId, assigned, authentication: null);
    }

    /// <summary>
    /// The will and keep alive against <c>maximumQos</c>, <c>retainAvailable</c> and <c>maxKeepAlive</c>. A will the
    /// broker could not publish is refused [MQTT-3.2.2-12] [MQTT-3.2.2-13]: 5.0 is told why in its CONNACK, 3.x has no
    /// code for it and is closed without one, as Mosquitto does. A 3.x keep alive over the limit (or 0, never checked)
    /// is refused with 0x02, since only 5.0 can be given a Server Keep Alive instead.
    /// </summary>
    private bool WithinConfiguredLimits(ConnectPacket connect, out bool refused)
    {
        BrokerOptions options = _broker.Options;
        refused = false;
        if (connect.Will is { } will && (will.Qos > options.MaximumQos || (will.Retain && !options.RetainAvailable)))
        {
            bool qos = will.Qos > options.MaximumQos;
            string why = qos
                ? $"will QoS {will.Qos} is above the broker's maximumQos {options.MaximumQos} [MQTT-3.2.2-12]"
                : "retained will while the broker's retainAvailable is false [MQTT-3.2.2-13]";
            if (!IsV5)
            {
                throw MqttProtocolException.ProtocolError(why);
            }

            refused = RejectConnect(qos ? ReasonCode.QosNotSupported : ReasonCode.RetainNotSupported, why);
            return false;
        }

        if (!IsV5 && options.MaxKeepAlive is { } max && (connect.KeepAliveSeconds == 0 || connect.KeepAliveSeconds > max))
        {
            refused = RejectConnect(ConnectReturnCode.IdentifierRejected, $"keep alive {connect.KeepAliveSeconds}s is outside the broker's maxKeepAlive 1..{max}s");
            return false;
        }

        return true;
    }

    /// <summary>Accepts a CONNECT whose credentials (and any enhanced authentication) have passed.</summary>
    private bool CompleteConnect(ConnectPacket connect, string clientId, bool assigned, MqttProperties? authentication)
    {
        if (_broker.Options.Authenticator is { } authenticate)
        {
            ConnectReturnCode verdict = authenticate(connect);
            if (verdict != ConnectReturnCode.Accepted)
            {
                return RejectConnect(verdict, $"authentication of '{connect.UserName}' refused");
            }
        }
        else if (!Login(connect, clientId, out bool refused))
        {
            return refused;
        }

        _will = connect.Will;
        _authenticationMethod = authentication?.AuthenticationMethod;
        ushort? serverKeepAlive = IsV5 ? ServerKeepAlive(connect) : null;
        ushort keepAlive = serverKeepAlive ?? connect.KeepAliveSeconds;
        Volatile.Write(ref _keepAliveLimitMs, keepAlive * 1500L);

        uint? expiry = IsV5 ? EffectiveSessionExpiry(connect) : null;
        _connectSessionExpiry = expiry ?? (connect.CleanSession ? 0u : Session.NeverExpires);
        MqttProperties? connAckProperties = IsV5 ? BuildConnAckProperties(connect, assigned ? clientId : null, expiry, serverKeepAlive) : null;
        if (connAckProperties is not null && authentication is not null)
        {
            connAckProperties.AuthenticationMethod = authentication.AuthenticationMethod;
            connAckProperties.AuthenticationData = authentication.AuthenticationData;
        }

        if (connAckProperties is not null && connect.Properties?.MaximumPacketSize is { } limit && !FitConnAck(connAckProperties, limit))
        {
            // What is left cannot go (an Assigned Client Identifier must be sent [MQTT-3.2.2-16]): as Mosquitto, the
            // connection closes without a CONNACK rather than send more than the client takes [MQTT-3.1.2-24].
            throw new MqttProtocolException(DisconnectReason.PacketTooLarge, $"its CONNACK ({ConnAckSize(connAckProperties)} bytes) would exceed its Maximum Packet Size {limit} [MQTT-3.1.2-24]");
        }

        _broker.ExpireBeforeResuming(clientId);

        // Attaching queues the CONNACK; MQTT 3.1's CONNACK has no session present flag (its first byte is reserved).
        SessionOpenResult opened = _broker.Sessions.Open(
            clientId,
            connect.CleanSession,
            this,
            reportSessionPresent: _level != ProtocolLevel.V310,
            expiryInterval: expiry,
            connAckProperties,
            inflightWindow: connect.Properties?.ReceiveMaximum ?? ushort.MaxValue,
            holdOutputWhenReplacingStored: true);
        _session = opened.Session;
        opened.Session.UseAccess(_access);
        StartWriter();
        if (opened.TakenOver is { } previous)
        {
            _logger.LogInformation("Client {ClientId} connected again from {Remote}; closing its previous connection", clientId, RemoteEndPoint);
            SettleReplacedWill(previous, opened);
            previous.Close(DisconnectReason.SessionTakenOver);
        }

        // Back within the will delay, the previous connection's will is not published [MQTT-3.1.3-9], even when a
        // Clean Start discards the session: a new connection for the client id came in time [MQTT-3.1.2-8] (as Mosquitto).
        if (opened.Discarded is { } discarded)
        {
            _broker.CancelDelayedWill(discarded);
            _broker.DiscardSession(discarded);
        }

        if (opened.SessionPresent)
        {
            _broker.CancelDelayedWill(opened.Session);
        }

        if (opened.Session.IsStored)
        {
            _broker.Store.Submit(StoreOperation.PutSession(clientId, opened.Session.ExpiryInterval));
        }

        // From the packet, not _will: a CONNECT taking this one over may already have taken that.
        if (ReferenceEquals(opened.Session.Connection, this))
        {
            _broker.RecordConnectedWill(clientId, connect.Will is null ? null : WillMessageOf(connect.Will), connect.Will?.Properties?.WillDelayInterval ?? 0);
        }

        if (opened.OutputHeld)
        {
            // CONNACK (Session Present 0) once the old session's deletion is committed [MQTT-3.1.2-4].
            _broker.Store.Submit([], opened.Session.ReleaseOutput);
        }

        _broker.Metrics.CountClientConnected(1);

        // Checked first: the arguments (boxed values, the formatted address kept for later lines) cost every connect.
        if (_logger.IsEnabled(LogLevel.Information))
        {
            _logger.LogInformation(
                "Client {ClientId} connected from {Remote} (MQTT {Level}, clean {Clean}, session expiry {Expiry}, keep alive {KeepAlive}s, session present {Present})",
                clientId, RemoteEndPoint, _level switch { ProtocolLevel.V500 => "5.0", ProtocolLevel.V311 => "3.1.1", _ => "3.1" },
                connect.CleanSession, opened.Session.ExpiryInterval, keepAlive, opened.SessionPresent);
        }
        return true;
    }

    /// <summary>
    /// Checks the CONNECT's credentials (a TLS client certificate's Common Name stands for the user name when
    /// configured) and the will's topic against the ACL; on refusal answers and returns false.
    /// </summary>
    private bool Login(ConnectPacket connect, string clientId, out bool result)
    {
        string? user = connect.UserName;
        bool fromCertificate = false;
        // A listener asked for it only if it was told to (the command line's TLS listener, or a configured one).
        if (_broker.Options.Tls?.CertificateCommonNameAsUserName != false
            && _context.Features.Get<Microsoft.AspNetCore.Http.Features.ITlsConnectionFeature>()?.ClientCertificate is { } certificate)
        {
            // The Common Name only (as Mosquitto's use_identity_as_username): SimpleName would fall back to the email
            // address or the organisation of a certificate without one, and log that in as a user.
            user = CommonNameOf(certificate);
            if (user is null)
            {
                _broker.Metrics.CountAuthFailure();
                _logger.LogWarning("Login refused from {Remote}: its client certificate ({Subject}) has no Common Name to take as the user name", RemoteEndPoint, certificate.Subject);
                result = RejectConnect(ConnectReturnCode.NotAuthorized, "client certificate without a Common Name");
                return false;
            }

            fromCertificate = true;
        }

        long loginStarted = System.Diagnostics.Stopwatch.GetTimestamp();
        Security.LoginVerdict verdict = _broker.Security.Login(user, connect.Password, RemoteAddress, fromCertificate);
        if (verdict != Security.LoginVerdict.Accepted)
        {
            _broker.Metrics.CountAuthFailure();
            // Never the password in the log: the user name and the verdict only.
            // The refusal goes out a fixed time after the check began, however long the hash took: a known user with a
            // fast (Mosquitto) hash and an unknown one, checked against a slow dummy hash, look the same.
            TimeSpan spent = System.Diagnostics.Stopwatch.GetElapsedTime(loginStarted);
            _delayRefusal = spent < _broker.Options.Security.FailedLoginDelay ? _broker.Options.Security.FailedLoginDelay - spent : TimeSpan.Zero;
            _logger.LogWarning("Login refused for user '{User}' from {Remote}: {Verdict}", user ?? "(anonymous)", RemoteEndPoint, verdict);
            result = verdict switch
            {
                Security.LoginVerdict.BadCredentials => RejectConnect(ConnectReturnCode.BadUserNameOrPassword, "bad user name or password"),
                Security.LoginVerdict.Throttled when IsV5 => RejectConnect(ReasonCode.ConnectionRateExceeded, "too many failed logins"),
                _ => RejectConnect(ConnectReturnCode.NotAuthorized, verdict.ToString()),
            };
            return false;
        }

        _access = _broker.Security.HasAcl ? new Security.ClientAccess(_broker.Security, user, clientId) : null;

        // A will is a PUBLISH made later on the client's behalf: the same rules, $SYS/ belonging to the broker included
        // (a will there forged the state of a bridge, retained across restarts).
        if (connect.Will is { } will && (IsBrokerOwned(will.Topic) || (_access is not null && !_access.Rules.CanPublish(will.Topic))))
        {
            _broker.Metrics.CountAclDenied();
            result = RejectConnect(ConnectReturnCode.NotAuthorized, $"the will topic '{will.Topic}' is not writable for this client");
            return false;
        }

        result = true;
        return true;
    }

    /// <summary>Answers a refused CONNECT with its return code and closes [MQTT-3.2.2-5].</summary>
    private bool RejectConnect(ConnectReturnCode code, string why) =>
        IsV5 ? RejectConnect(ReasonCodes.FromConnectReturnCode(code), why) : Refuse(code, why);

    private bool Refuse(ConnectReturnCode code, string why)
    {
        _logger.LogInformation("Refused CONNECT from {Remote}: {Code} ({Why})", RemoteEndPoint, code, why);
        MqttPacketWriter.WriteConnAck(_output, sessionPresent: false, code);
        _flushBeforeClose = true;
        SetCloseReason(DisconnectReason.NotAuthorized);
        return false;
    }

    /// <summary>A refused 5.0 CONNECT: CONNACK with the reason code, Session Present 0, then close [MQTT-3.2.2-6] [MQTT-3.2.2-7].</summary>
    private bool RejectConnect(ReasonCode reason, string why)
    {
        _logger.LogInformation("Refused CONNECT from {Remote}: {Reason} ({Why})", RemoteEndPoint, reason, why);
        MqttPacketWriter.WriteConnAck(_output, sessionPresent: false, reason, properties: null);
        _flushBeforeClose = true;
        SetCloseReason(DisconnectReason.NotAuthorized);
        return false;
    }

    private void HandlePublish(Session session, byte header, ReadOnlySpan<byte> body)
    {
        PublishView publish = MqttPacketDecoder.ReadPublish(header, body, _level, out MqttProperties? properties);
        if (publish.Qos > _broker.Options.MaximumQos || (publish.Retain && !_broker.Options.RetainAvailable))
        {
            RefuseBeyondLimits(publish);
        }

        _broker.Metrics.CountMessageReceived(publish.Qos);
        _operations?.Clear();
        PacketType ackType = publish.Qos == 2 ? PacketType.PubRec : PacketType.PubAck;

        // QoS 2 is delivered on first receipt; a re-sent PUBLISH with the same identifier before PUBREL is only
        // acknowledged again, never delivered twice (§4.3.3 method B).
        if (publish.Qos == 2 && !session.TryBeginInboundQos2(publish.PacketId))
        {
            RespondWhenDurable(session, OutboundPacket.Ack(ackType, publish.PacketId, ReasonCode.Success));
            return;
        }

        int receiveMaximum = IsV5 ? _broker.Options.ReceiveMaximum : ushort.MaxValue;
        if (publish.Qos > 0 && Interlocked.Increment(ref _inboundUnacknowledged) > receiveMaximum)
        {
            throw new MqttProtocolException(DisconnectReason.ReceiveMaximumExceeded, $"more than Receive Maximum {receiveMaximum} unacknowledged PUBLISHes [MQTT-3.3.4-7]");
        }

        string topic;
        ReadOnlySpan<byte> topicUtf8;
        if (properties?.TopicAlias is not null)
        {
            (topic, byte[] aliased) = ResolveTopic(publish, properties);
            topicUtf8 = aliased;
        }
        else
        {
            topic = Topics.GetOrAdd(publish.Topic);
            topicUtf8 = publish.Topic;
        }

        _publishesThisSecond++;
        if (topic.Length > _broker.Options.MaxTopicLength || topic.AsSpan().Count('/') + 1 > _broker.Options.MaxTopicLevels)
        {
            throw new MqttProtocolException(DisconnectReason.TopicNameInvalid, $"topic longer than {_broker.Options.MaxTopicLength} characters or {_broker.Options.MaxTopicLevels} levels");
        }

        // $SYS/ belongs to the broker (as in Mosquitto); otherwise the ACL decides.
        if (IsBrokerOwned(topic) || (_access is not null && !_access.Rules.CanPublish(topic)))
        {
            // Not allowed: 5.0 is told (0x87); 3.1.1 gets its acknowledgement, as the spec allows, and the message
            // goes nowhere.
            _broker.Metrics.CountAclDenied();
            if (publish.Qos > 0)
            {
                if (publish.Qos == 2 && IsV5)
                {
                    session.ReleaseInboundQos2(publish.PacketId);
                }

                if (publish.Qos == 1 || IsV5)
                {
                    Interlocked.Decrement(ref _inboundUnacknowledged);
                }

                RespondWhenDurable(session, OutboundPacket.Ack(ackType, publish.PacketId, IsV5 ? ReasonCode.NotAuthorized : ReasonCode.Success));
            }

            return;
        }

        if (properties?.PayloadFormatIndicator == 1 && !System.Text.Unicode.Utf8.IsValid(publish.Payload))
        {
            // A payload that claims to be UTF-8 and is not: refused with 0x99 [MQTT-3.3.2-4] (QoS 0: DISCONNECT).
            if (publish.Qos == 0)
            {
                throw new MqttProtocolException(DisconnectReason.PayloadFormatInvalid, "payload is not the UTF-8 its Payload Format Indicator says");
            }

            if (publish.Qos == 2)
            {
                session.ReleaseInboundQos2(publish.PacketId);
            }

            Interlocked.Decrement(ref _inboundUnacknowledged);
            RespondWhenDurable(session, OutboundPacket.Ack(ackType, publish.PacketId, ReasonCode.PayloadFormatInvalid));
            return;
        }

        if (IsV5 && publish.Qos > 0 && _broker.Sessions.Budget.IsExceeded && !_broker.Sessions.Budget.TryReclaim())
        {
            // The broker-wide queue budget is spent and the largest queues could not give enough back: a 5.0
            // publisher is told (0x97) instead of its message being accepted and then dropped.
            if (publish.Qos == 2)
            {
                session.ReleaseInboundQos2(publish.PacketId);
            }

            Interlocked.Decrement(ref _inboundUnacknowledged);
            RespondWhenDurable(session, OutboundPacket.Ack(ackType, publish.PacketId, ReasonCode.QuotaExceeded));
            return;
        }

        ApplicationMessage message = properties is null
            ? ApplicationMessage.Create(topic, topicUtf8, publish.Payload, publish.Qos, publish.Retain)
            : ApplicationMessage.FromPublish(topic, topicUtf8, publish.Payload, publish.Qos, publish.Retain, properties, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        _targets?.Clear();
        long matchedAt = _broker.PreparePublish(message, Targets, Operations, session);
        if (publish.Qos == 2 && session.IsStored)
        {
            Operations.Add(StoreOperation.PutInbound(session.ClientId, publish.PacketId));
        }

        // MQTT 5 tells the publisher when nobody was listening (0x10), which is still a success; a retained message
        // is kept all the same (Mosquitto answers the same way).
        OutboundPacket? ack = publish.Qos == 0 ? null : OutboundPacket.Ack(
            ackType,
            publish.PacketId,
            IsV5 && Targets.Count == 0 ? ReasonCode.NoMatchingSubscribers : ReasonCode.Success);
        if (!MustWaitForStore)
        {
            _broker.Router.Deliver(message, CollectionsMarshal.AsSpan(Targets), matchedAt, session);
            Acknowledge(session, ack);
            return;
        }

        DeliverWhenDurable(session, message, [.. Targets], matchedAt, ack);
    }

    // Apart from HandlePublish: a lambda capturing its parameters would allocate its closure on every publish.
    private void DeliverWhenDurable(Session session, ApplicationMessage message, RouteTarget[] targets, long matchedAt, OutboundPacket? ack) =>
        WhenDurable(() =>
        {
            _broker.Router.Deliver(message, targets, matchedAt, session);
            Acknowledge(session, ack);
        });

    private void Acknowledge(Session session, OutboundPacket? ack)
    {
        if (ack is not { } packet)
        {
            return;
        }

        // A QoS 1 exchange ends with PUBACK; a QoS 2 one stays open until PUBREL.
        if (packet.Type == PacketType.PubAck)
        {
            Interlocked.Decrement(ref _inboundUnacknowledged);
        }

        session.EnqueueControl(packet);
    }

    // §3.3.1.2 / §3.3.1.3: a PUBLISH the CONNACK said not to send ends the connection with 0x9B / 0x9A.
    private void RefuseBeyondLimits(in PublishView publish)
    {
        if (publish.Qos > _broker.Options.MaximumQos)
        {
            throw new MqttProtocolException(DisconnectReason.QosNotSupported, $"PUBLISH with QoS {publish.Qos}, above the broker's maximumQos {_broker.Options.MaximumQos} [MQTT-3.2.2-11]");
        }

        throw new MqttProtocolException(DisconnectReason.RetainNotSupported, "retained PUBLISH while the broker's retainAvailable is false [MQTT-3.2.2-14]");
    }

    private void HandleSubscribe(Session session, ReadOnlySpan<byte> body)
    {
        SubscribePacket subscribe = MqttPacketDecoder.ReadSubscribe(body, _level);
        _operations?.Clear();
        uint identifier = subscribe.Properties?.SubscriptionIdentifiers is [uint id, ..] ? id : 0;
        var requests = new SubscriptionRequest[subscribe.Subscriptions.Count];
        for (int i = 0; i < requests.Length; i++)
        {
            TopicSubscription requested = subscribe.Subscriptions[i];
            // A Mosquitto-style bridge (protocol level 0x84) gets what MQTT 5 calls No Local and Retain As Published on
            // every subscription: its own messages do not echo back across the bridge, and retained ones stay retained.
            // A broker with a lower maximumQos still accepts any Requested QoS and grants at most its own [MQTT-3.2.2-10].
            requests[i] = new SubscriptionRequest(
                requested.Filter,
                Math.Min(requested.Qos, _broker.Options.MaximumQos),
                new SubscriptionOptions(requested.NoLocal || _isBridge, requested.RetainAsPublished || _isBridge, requested.RetainHandling, identifier));
        }

        var retainedDue = new List<Subscription>();
        byte[] codes = _broker.Subscribe(session, requests, Operations, IsV5, retainedDue);
        WhenDurable(() =>
        {
            session.EnqueueControl(OutboundPacket.SubAck(subscribe.PacketId, codes));
            _broker.SendRetained(session, retainedDue);
        });
    }

    private void HandleUnsubscribe(Session session, ReadOnlySpan<byte> body)
    {
        UnsubscribePacket unsubscribe = MqttPacketDecoder.ReadUnsubscribe(body, _level);
        _operations?.Clear();
        ReasonCode[] codes = new ReasonCode[unsubscribe.Filters.Count];
        for (int i = 0; i < codes.Length; i++)
        {
            codes[i] = _broker.Unsubscribe(session, unsubscribe.Filters[i], Operations) ? ReasonCode.Success : ReasonCode.NoSubscriptionExisted;
        }

        // UNSUBACK even when no filter matched [MQTT-3.10.4-5]; 5.0 says which did, per filter [MQTT-3.11.3-1].
        OutboundPacket unsubAck = OutboundPacket.Control(PacketType.UnsubAck, unsubscribe.PacketId);
        unsubAck.UnsubAckCodes = IsV5 ? codes : null;
        RespondWhenDurable(session, unsubAck);
    }

    /// <summary>True when the pending <see cref="_operations"/> or an earlier packet of this connection still await the store.</summary>
    private bool MustWaitForStore => (_operations?.Count ?? 0) > 0 || Volatile.Read(ref _awaitingDurable) > 0;

    /// <summary>Submits <see cref="_operations"/> and runs <paramref name="effect"/> once they and everything before are durable.</summary>
    private void WhenDurable(Action effect)
    {
        if (!MustWaitForStore)
        {
            effect();
            return;
        }

        Interlocked.Increment(ref _awaitingDurable);
        _broker.Store.Submit(CollectionsMarshal.AsSpan(Operations), () =>
        {
            try
            {
                effect();
            }
            finally
            {
                Interlocked.Decrement(ref _awaitingDurable);
            }
        });
        _operations?.Clear();
    }

    /// <summary>
    /// Topics no client may publish to, as in Mosquitto: $SYS is the broker's, except
    /// <c>$SYS/broker/connection/+/state</c>, where a Mosquitto bridge connecting in reports its own state (and sets its
    /// will); and a <c>$share/</c> topic could never reach anyone, since a filter spelt so is a shared subscription to
    /// another topic (MQTT 5 §4.8.2).
    /// </summary>
    private static bool IsBrokerOwned(string topic) =>
        (topic.StartsWith("$SYS", StringComparison.Ordinal) && !TopicRules.Matches("$SYS/broker/connection/+/state", topic))
        || topic.StartsWith("$share/", StringComparison.Ordinal);

    private static string? CommonNameOf(System.Security.Cryptography.X509Certificates.X509Certificate2 certificate)
    {
        foreach (System.Security.Cryptography.X509Certificates.X500RelativeDistinguishedName name in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            if (name.GetSingleElementType().Value == "2.5.4.3" && name.GetSingleElementValue() is { Length: > 0 } commonName)
            {
                return commonName;
            }
        }

        return null;
    }

    private static ApplicationMessage WillMessageOf(WillMessage will) => ApplicationMessage.FromPublish(
        will.Topic, System.Text.Encoding.UTF8.GetBytes(will.Topic), will.Payload, will.Qos, will.Retain, will.Properties, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

    private void RespondWhenDurable(Session session, OutboundPacket packet)
    {
        if (!MustWaitForStore)
        {
            session.EnqueueControl(packet);
            return;
        }

        EnqueueWhenDurable(session, packet);
    }

    // Apart so that the closure is allocated only when the response must wait (as DeliverWhenDurable).
    private void EnqueueWhenDurable(Session session, OutboundPacket packet) => WhenDurable(() => session.EnqueueControl(packet));

    /// <summary>
    /// Publishes the will unless DISCONNECT was received [MQTT-3.1.2-8], and ends a clean session. A broker shutting
    /// down closes the connection too, so the will goes out then as well (as Mosquitto does): a node whose broker
    /// restarts is reported offline until it is back, and one that never comes back is not left "online" for good.
    /// </summary>
    private void EndSession()
    {
        Session? session = _session;
        if (session is null)
        {
            return;
        }

        _broker.Metrics.CountClientConnected(-1);
        bool stillCurrent = session.Detach(this);

        // A takeover replaces this connection: it resumed the session (which is then no longer this connection's), or
        // it started a new session under the same client id. Either way the client id's stored rows (its will, its
        // session) are the new connection's now, and it settled this connection's will (SettleReplacedWill).
        bool replaced = !stillCurrent || !ReferenceEquals(_broker.Sessions.Find(session.ClientId), session);
        DisconnectReason reason = CloseReason ?? DisconnectReason.UnspecifiedError;
        if (!replaced)
        {
            // Dealt with below (published, waiting out its delay, or discarded by DISCONNECT): the stored copy goes.
            _broker.ForgetConnectedWill(session.ClientId);
        }

        if (TakeWill() is { } will)
        {
            ApplicationMessage message = WillMessageOf(will);

            // A 5.0 will waits for its Will Delay Interval, or until the session ends if that is sooner [MQTT-3.1.3-9].
            // A delayed will is stored, so it waits out a restart; without a store, the session ends with the broker.
            uint delay = will.Properties?.WillDelayInterval ?? 0;
            if (replaced)
            {
                // Only when this connection ended just before its replacement could take the will: the same rule.
                if (stillCurrent && delay == 0)
                {
                    PublishWill(message, session);
                }
            }
            else if (delay > 0 && !session.CleanSession && _broker.SessionsOutliveShutdown)
            {
                _broker.PublishWillLater(session, message, TimeSpan.FromSeconds(Math.Min(delay, session.ExpiryInterval)));
            }
            else
            {
                PublishWill(message, session);
            }
        }

        if (!replaced && session.CleanSession)
        {
            _broker.Sessions.Remove(session);
            _broker.DiscardSession(session);
        }
        else if (!replaced && session.IsStored)
        {
            if (_expiryChangedOnDisconnect)
            {
                // The interval DISCONNECT set [MQTT-3.14.2-2] holds across a restart as well.
                _broker.Store.Submit(StoreOperation.PutSession(session.ClientId, session.ExpiryInterval));
            }

            _broker.Store.Submit(StoreOperation.MarkSessionOffline(session.ClientId, session.OfflineSince ?? DateTimeOffset.UtcNow));
        }

        if (_logger.IsEnabled(LogLevel.Information))
        {
            _logger.LogInformation("Client {ClientId} at {Remote} disconnected: {Reason}", session.ClientId, RemoteEndPoint, reason);
        }
    }

    /// <summary>
    /// The will of a connection this CONNECT takes over is settled here, before anything this client sends next is
    /// read: published now if the old session ends with the takeover, so that a node's retained "offline" can never
    /// land after the "online" it publishes on reconnecting; dropped if the session continues, as Mosquitto does, and
    /// dropped if it has a Will Delay Interval, since a new connection for the client id came before that ran out
    /// [MQTT-3.1.2-8].
    /// </summary>
    private void SettleReplacedWill(ISessionConnection previous, SessionOpenResult opened)
    {
        if (previous is MqttConnection replaced && replaced.TakeWill() is { } will && !opened.SessionPresent && (will.Properties?.WillDelayInterval ?? 0) == 0)
        {
            PublishWill(WillMessageOf(will), opened.Discarded ?? opened.Session);
        }
    }

    /// <summary>Hands over the will, at most once: to the connection taking this one over, or to <see cref="EndSession"/>.</summary>
    private WillMessage? TakeWill() => Interlocked.Exchange(ref _will, null);

    // A method of its own: the closure would otherwise be created at the start of EndSession, for every disconnect.
    private void PublishWill(ApplicationMessage message, Session session)
    {
        // Through this connection's ordered path, so a will never overtakes the client's own last messages.
        _operations?.Clear();
        _targets?.Clear();
        long matchedAt = _broker.PreparePublish(message, Targets, Operations, session);
        RouteTarget[] targets = [.. Targets];
        WhenDurable(() => _broker.Router.Deliver(message, targets, matchedAt, session));
    }
}
