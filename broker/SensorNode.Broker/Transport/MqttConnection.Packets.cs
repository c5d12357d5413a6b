using System.Buffers;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using SensorNode.Broker.Persistence;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
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
    private readonly TopicNameCache _topics = new();
    private readonly List<RouteTarget> _targets = [];
    private readonly List<StoreOperation> _operations = [];
    private int _awaitingDurable;
    private Session? _session;
    private WillMessage? _will;
    private ProtocolLevel _level;

    /// <summary>Handles one packet; returns false when the connection must stop reading.</summary>
    private bool HandlePacket(byte header, in ReadOnlySequence<byte> body)
    {
        PacketType type = MqttPacketDecoder.TypeOf(header);
        ReadOnlySpan<byte> span = Linearize(body);
        Session? session = _session;
        if (session is null)
        {
            return HandleConnect(span);
        }

        switch (type)
        {
            case PacketType.Publish:
                HandlePublish(session, header, span);
                return true;
            case PacketType.PubAck:
                session.OnPubAck(MqttPacketDecoder.ReadPacketId(type, span));
                return true;
            case PacketType.PubRec:
                session.OnPubRec(MqttPacketDecoder.ReadPacketId(type, span));
                return true;
            case PacketType.PubComp:
                session.OnPubComp(MqttPacketDecoder.ReadPacketId(type, span));
                return true;
            case PacketType.PubRel:
                {
                    ushort packetId = MqttPacketDecoder.ReadPacketId(type, span);
                    _operations.Clear();
                    if (session.ReleaseInboundQos2(packetId) is { } forget)
                    {
                        _operations.Add(forget);
                    }

                    RespondWhenDurable(session, OutboundPacket.Control(PacketType.PubComp, packetId));
                    return true;
                }

            case PacketType.Subscribe:
                HandleSubscribe(session, span);
                return true;
            case PacketType.Unsubscribe:
                {
                    UnsubscribePacket unsubscribe = MqttPacketDecoder.ReadUnsubscribe(span);
                    _operations.Clear();
                    foreach (string filter in unsubscribe.Filters)
                    {
                        _broker.Unsubscribe(session, filter, _operations);
                    }

                    // UNSUBACK even when no filter matched [MQTT-3.10.4-5].
                    RespondWhenDurable(session, OutboundPacket.Control(PacketType.UnsubAck, unsubscribe.PacketId));
                    return true;
                }

            case PacketType.PingReq:
                MqttPacketDecoder.ExpectEmpty(type, span);
                session.EnqueueControl(OutboundPacket.Control(PacketType.PingResp));
                return true;
            case PacketType.Disconnect:
                MqttPacketDecoder.ExpectEmpty(type, span);

                // The will is discarded on DISCONNECT [MQTT-3.14.4-3].
                _will = null;
                SetCloseReason(DisconnectReason.NormalDisconnection);
                return false;
            case PacketType.Connect:
                throw MqttProtocolException.ProtocolError("second CONNECT on a connection [MQTT-3.1.0-2]");
            default:
                throw MqttProtocolException.ProtocolError($"{type} is not a packet a client sends in MQTT 3.1.1");
        }
    }

    private bool HandleConnect(ReadOnlySpan<byte> body)
    {
        (string name, byte level) = MqttPacketDecoder.ReadConnectProtocol(body);
        bool supported = (name == "MQTT" && level == (byte)ProtocolLevel.V311) || (name == "MQIsdp" && level == (byte)ProtocolLevel.V310);
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
        string clientId = connect.ClientId;
        if (clientId.Length == 0)
        {
            if (_level == ProtocolLevel.V310)
            {
                return RejectConnect(ConnectReturnCode.IdentifierRejected, "MQTT 3.1 requires a client identifier of 1 to 23 characters");
            }

            if (!connect.CleanSession)
            {
                return RejectConnect(ConnectReturnCode.IdentifierRejected, "empty client identifier requires clean session [MQTT-3.1.3-8]");
            }

            // The broker assigns a unique identifier [MQTT-3.1.3-6].
            clientId = "auto-" + Guid.NewGuid().ToString("N");
        }

        if (_broker.IsShuttingDown)
        {
            return RejectConnect(ConnectReturnCode.ServerUnavailable, "broker is shutting down");
        }

        if (_broker.Options.Authenticator is { } authenticate)
        {
            ConnectReturnCode verdict = authenticate(connect);
            if (verdict != ConnectReturnCode.Accepted)
            {
                return RejectConnect(verdict, $"authentication of '{connect.UserName}' refused");
            }
        }

        _will = connect.Will;
        Volatile.Write(ref _keepAliveLimitMs, connect.KeepAliveSeconds * 1500L);

        // Attaching queues the CONNACK; MQTT 3.1's CONNACK has no session present flag (its first byte is reserved).
        SessionOpenResult opened = _broker.Sessions.Open(clientId, connect.CleanSession, this, reportSessionPresent: _level == ProtocolLevel.V311);
        _session = opened.Session;
        StartWriter();
        if (opened.TakenOver is { } previous)
        {
            _logger.LogInformation("Client {ClientId} connected again from {Remote}; closing its previous connection", clientId, RemoteEndPoint);
            previous.Close(DisconnectReason.SessionTakenOver);
        }

        if (opened.Discarded is { } discarded)
        {
            _broker.DiscardSession(discarded);
        }

        if (opened.Session.IsStored)
        {
            _broker.Store.Submit(StoreOperation.PutSession(clientId, opened.Session.ExpiryInterval));
        }

        _broker.Metrics.CountClientConnected(1);
        _logger.LogInformation(
            "Client {ClientId} connected from {Remote} (MQTT {Level}, clean session {Clean}, keep alive {KeepAlive}s, session present {Present})",
            clientId, RemoteEndPoint, _level == ProtocolLevel.V311 ? "3.1.1" : "3.1", connect.CleanSession, connect.KeepAliveSeconds, opened.SessionPresent);
        return true;
    }

    /// <summary>Answers a refused CONNECT with its return code and closes [MQTT-3.2.2-5].</summary>
    private bool RejectConnect(ConnectReturnCode code, string why)
    {
        _logger.LogInformation("Refused CONNECT from {Remote}: {Code} ({Why})", RemoteEndPoint, code, why);
        MqttPacketWriter.WriteConnAck(_output, sessionPresent: false, code);
        _flushBeforeClose = true;
        SetCloseReason(DisconnectReason.NotAuthorized);
        return false;
    }

    private void HandlePublish(Session session, byte header, ReadOnlySpan<byte> body)
    {
        PublishView publish = MqttPacketDecoder.ReadPublish(header, body);
        _broker.Metrics.CountMessageReceived();
        _operations.Clear();
        OutboundPacket? ack = publish.Qos switch
        {
            1 => OutboundPacket.Control(PacketType.PubAck, publish.PacketId),
            2 => OutboundPacket.Control(PacketType.PubRec, publish.PacketId),
            _ => null,
        };

        // QoS 2 is delivered on first receipt; a re-sent PUBLISH with the same identifier before PUBREL is only
        // acknowledged again, never delivered twice (§4.3.3 method B).
        if (publish.Qos == 2 && !session.TryBeginInboundQos2(publish.PacketId))
        {
            RespondWhenDurable(session, ack!.Value);
            return;
        }

        ApplicationMessage message = ApplicationMessage.Create(_topics.GetOrAdd(publish.Topic), publish.Topic, publish.Payload, publish.Qos, publish.Retain);
        _targets.Clear();
        _broker.PreparePublish(message, _targets, _operations, session);
        if (publish.Qos == 2 && session.IsStored)
        {
            _operations.Add(StoreOperation.PutInbound(session.ClientId, publish.PacketId));
        }

        if (!MustWaitForStore)
        {
            _broker.Router.Deliver(message, CollectionsMarshal.AsSpan(_targets));
            if (ack is { } now)
            {
                session.EnqueueControl(now);
            }

            return;
        }

        RouteTarget[] targets = [.. _targets];
        WhenDurable(() =>
        {
            _broker.Router.Deliver(message, targets);
            if (ack is { } later)
            {
                session.EnqueueControl(later);
            }
        });
    }

    private void HandleSubscribe(Session session, ReadOnlySpan<byte> body)
    {
        SubscribePacket subscribe = MqttPacketDecoder.ReadSubscribe(body);
        _operations.Clear();
        var requests = new SubscriptionRequest[subscribe.Subscriptions.Count];
        for (int i = 0; i < requests.Length; i++)
        {
            requests[i] = new SubscriptionRequest(subscribe.Subscriptions[i].Filter, subscribe.Subscriptions[i].Qos);
        }

        var retainedDue = new List<Subscription>();
        byte[] codes = _broker.Subscribe(session, requests, _operations, mqtt5: false, retainedDue);
        WhenDurable(() =>
        {
            session.EnqueueControl(OutboundPacket.SubAck(subscribe.PacketId, codes));
            _broker.SendRetained(session, retainedDue);
        });
    }

    /// <summary>True when the pending <see cref="_operations"/> or an earlier packet of this connection still await the store.</summary>
    private bool MustWaitForStore => _operations.Count > 0 || Volatile.Read(ref _awaitingDurable) > 0;

    /// <summary>Submits <see cref="_operations"/> and runs <paramref name="effect"/> once they and everything before are durable.</summary>
    private void WhenDurable(Action effect)
    {
        if (!MustWaitForStore)
        {
            effect();
            return;
        }

        Interlocked.Increment(ref _awaitingDurable);
        _broker.Store.Submit(CollectionsMarshal.AsSpan(_operations), () =>
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
        _operations.Clear();
    }

    private void RespondWhenDurable(Session session, OutboundPacket packet)
    {
        if (!MustWaitForStore)
        {
            session.EnqueueControl(packet);
            return;
        }

        WhenDurable(() => session.EnqueueControl(packet));
    }

    /// <summary>Publishes the will unless DISCONNECT was received [MQTT-3.1.2-8], and ends a clean session.</summary>
    private void EndSession()
    {
        Session? session = _session;
        if (session is null)
        {
            return;
        }

        _broker.Metrics.CountClientConnected(-1);
        bool stillCurrent = session.Detach(this);
        DisconnectReason reason = CloseReason ?? DisconnectReason.UnspecifiedError;
        if (_will is { } will && reason != DisconnectReason.ServerShuttingDown)
        {
            // Through this connection's ordered path, so a will never overtakes the client's own last messages.
            ApplicationMessage message = ApplicationMessage.Create(will.Topic, will.Payload, will.Qos, will.Retain);
            _operations.Clear();
            _targets.Clear();
            _broker.PreparePublish(message, _targets, _operations, session);
            RouteTarget[] targets = [.. _targets];
            WhenDurable(() => _broker.Router.Deliver(message, targets));
        }

        if (stillCurrent && session.CleanSession)
        {
            _broker.Sessions.Remove(session);
            _broker.DiscardSession(session);
        }
        else if (stillCurrent && session.IsStored)
        {
            _broker.Store.Submit(StoreOperation.MarkSessionOffline(session.ClientId, session.OfflineSince ?? DateTimeOffset.UtcNow));
        }

        _logger.LogInformation("Client {ClientId} at {Remote} disconnected: {Reason}", session.ClientId, RemoteEndPoint, reason);
    }
}
