using System.Buffers;
using Microsoft.Extensions.Logging;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Transport;

/// <summary>What each control packet from a client does (MQTT 3.1 / 3.1.1).</summary>
internal sealed partial class MqttConnection
{
    private readonly TopicNameCache _topics = new();
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
                    session.ReleaseInboundQos2(packetId);
                    session.EnqueueControl(OutboundPacket.Control(PacketType.PubComp, packetId));
                    return true;
                }

            case PacketType.Subscribe:
                HandleSubscribe(session, span);
                return true;
            case PacketType.Unsubscribe:
                {
                    UnsubscribePacket unsubscribe = MqttPacketDecoder.ReadUnsubscribe(span);
                    foreach (string filter in unsubscribe.Filters)
                    {
                        _broker.Unsubscribe(session, filter);
                    }

                    // UNSUBACK even when no filter matched [MQTT-3.10.4-5].
                    session.EnqueueControl(OutboundPacket.Control(PacketType.UnsubAck, unsubscribe.PacketId));
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
        switch (publish.Qos)
        {
            case 0:
                _broker.Router.Publish(CreateMessage(publish));
                break;
            case 1:
                _broker.Router.Publish(CreateMessage(publish));
                session.EnqueueControl(OutboundPacket.Control(PacketType.PubAck, publish.PacketId));
                break;
            default:
                // Delivered on first receipt; a re-sent PUBLISH with the same identifier before PUBREL is only
                // acknowledged again, never delivered twice (§4.3.3 method B).
                if (session.TryBeginInboundQos2(publish.PacketId))
                {
                    _broker.Router.Publish(CreateMessage(publish));
                }

                session.EnqueueControl(OutboundPacket.Control(PacketType.PubRec, publish.PacketId));
                break;
        }
    }

    private ApplicationMessage CreateMessage(in PublishView publish) =>
        ApplicationMessage.Create(_topics.GetOrAdd(publish.Topic), publish.Topic, publish.Payload, publish.Qos, publish.Retain);

    private void HandleSubscribe(Session session, ReadOnlySpan<byte> body)
    {
        SubscribePacket subscribe = MqttPacketDecoder.ReadSubscribe(body);
        byte[] codes = _broker.Subscribe(session, subscribe.Subscriptions);
        session.EnqueueControl(OutboundPacket.SubAck(subscribe.PacketId, codes));
        _broker.SendRetained(session, subscribe.Subscriptions, codes);
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
            _broker.Publish(ApplicationMessage.Create(will.Topic, will.Payload, will.Qos, will.Retain));
        }

        if (stillCurrent && session.CleanSession)
        {
            _broker.Sessions.Remove(session);
            _broker.DiscardSession(session);
        }

        _logger.LogInformation("Client {ClientId} at {Remote} disconnected: {Reason}", session.ClientId, RemoteEndPoint, reason);
    }
}
