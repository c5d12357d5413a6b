using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using SensorNode.Broker.Persistence;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;
using SensorNode.Broker.Routing;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Bridging;

/// <summary>What the upstream sends: acknowledgements of what went up, and messages coming down.</summary>
public sealed partial class Bridge
{
    private async Task<string> ReadLoopAsync(UpstreamLink link, CancellationToken token)
    {
        Session session = _session!;
        for (long packets = 0; packets < long.MaxValue; packets++)
        {
            (byte Header, byte[] Body)? frame;
            try
            {
                frame = await link.ReadFrameAsync(token);
            }
            catch (MqttProtocolException ex)
            {
                return $"malformed data from {link.Address}: {ex.Message}";
            }

            if (frame is not { } packet)
            {
                return $"{link.Address} closed the connection";
            }

            Volatile.Write(ref _lastReceivedAt, Environment.TickCount64);
            try
            {
                if (Handle(link, session, packet.Header, packet.Body, token) is { } end)
                {
                    return end;
                }
            }
            catch (MqttProtocolException ex)
            {
                return $"protocol error from {link.Address}: {ex.Message}";
            }
        }

        return "stopped";
    }

    /// <summary>Handles one packet from the upstream; returns a reason when the connection must end.</summary>
    private string? Handle(UpstreamLink link, Session session, byte header, byte[] body, CancellationToken token)
    {
        PacketType type = MqttPacketDecoder.TypeOf(header);
        switch (type)
        {
            case PacketType.PubAck:
                {
                    ushort packetId = MqttPacketDecoder.ReadPacketId(type, body, link.Level, out ReasonCode reason, out _);
                    if ((byte)reason >= 0x80)
                    {
                        _logger.LogWarning("Bridge {Name}: {Upstream} refused message {PacketId}: {Reason}", Name, link.Address, packetId, reason);
                    }

                    if (_downgraded.TryRemove(packetId, out _))
                    {
                        session.OnDowngradedPubAck(packetId);
                    }
                    else
                    {
                        session.OnPubAck(packetId);
                    }

                    return null;
                }

            case PacketType.PubRec:
                {
                    ushort packetId = MqttPacketDecoder.ReadPacketId(type, body, link.Level, out ReasonCode reason, out _);
                    if ((byte)reason >= 0x80)
                    {
                        // Refused (MQTT 5 §4.3.3): the exchange ends here, no PUBREL.
                        _logger.LogWarning("Bridge {Name}: {Upstream} refused message {PacketId}: {Reason}", Name, link.Address, packetId, reason);
                        session.Abandon(packetId);
                    }
                    else
                    {
                        // The Released state is durable before PUBREL goes out; after a restart PUBREL is re-sent, never the PUBLISH.
                        session.OnPubRec(packetId);
                    }

                    return null;
                }

            case PacketType.PubComp:
                session.OnPubComp(MqttPacketDecoder.ReadPacketId(type, body, link.Level, out _, out _));
                return null;
            case PacketType.Publish:
                HandlePublish(link, session, header, body, token);
                return null;
            case PacketType.PubRel:
                {
                    ushort packetId = MqttPacketDecoder.ReadPacketId(type, body, link.Level, out _, out _);
                    StoreOperation? forget = session.ReleaseInboundQos2(packetId);
                    ReadOnlySpan<StoreOperation> operations = forget is { } op ? [op] : [];
                    _broker.Store.Submit(operations, () => Acknowledge(link, PacketType.PubComp, packetId, token));
                    return null;
                }

            case PacketType.SubAck:
                {
                    SubAckPacket subAck = MqttPacketDecoder.ReadSubAck(body, link.Level);
                    _subscribed.TrySetResult();
                    if (subAck.ReturnCodes.Any(c => c >= 0x80))
                    {
                        _logger.LogWarning("Bridge {Name}: {Upstream} refused a subscription (SUBACK {Codes})", Name, link.Address, Convert.ToHexString(subAck.ReturnCodes));
                    }

                    return null;
                }

            case PacketType.PingResp:
                return null;
            case PacketType.Disconnect:
                return link.IsV5 && body.Length > 0 ? $"{link.Address} sent DISCONNECT ({(ReasonCode)body[0]})" : $"{link.Address} sent DISCONNECT";
            default:
                return $"unexpected packet type {(int)type} from {link.Address}";
        }
    }

    private void HandlePublish(UpstreamLink link, Session session, byte header, byte[] body, CancellationToken token)
    {
        PublishView publish = MqttPacketDecoder.ReadPublish(header, body, link.Level, fromServer: true, out MqttProperties? properties);
        string remote = MqttUtf8.Decode(publish.Topic);
        byte qos = publish.Qos;
        ushort packetId = publish.PacketId;
        PacketType ackType = qos == 2 ? PacketType.PubRec : PacketType.PubAck;
        Interlocked.Increment(ref _received);

        BridgeTopicRule? rule = Options.Topics.FirstOrDefault(r => r.IsIn && TopicMapper.Matches(r.RemoteFilter, remote));
        string? local = rule is null ? null : TopicMapper.Map(remote, rule.RemoteFilter, rule.Local);
        if (rule is null || local is null || local.StartsWith('$') || !TopicMapper.Fits(local))
        {
            // Not ours to take (a subscription since removed, a '$' topic, or one a prefix made too long): acknowledged and dropped.
            _logger.LogDebug("Bridge {Name}: ignoring '{Topic}' from {Upstream}", Name, remote, link.Address);
            if (qos > 0)
            {
                Acknowledge(link, ackType, packetId, token);
            }

            return;
        }

        if (qos == 2 && !session.TryBeginInboundQos2(packetId))
        {
            // A re-sent PUBLISH before PUBREL: already taken, not delivered again [MQTT-4.3.3-2].
            _broker.Store.Submit([], () => Acknowledge(link, ackType, packetId, token));
            return;
        }

        bool retain = publish.Retain && rule.Retain == BridgeRetainMode.Keep;
        byte[] localUtf8 = System.Text.Encoding.UTF8.GetBytes(local);
        ApplicationMessage message = properties is null
            ? ApplicationMessage.Create(local, localUtf8, publish.Payload, qos, retain)
            : ApplicationMessage.FromPublish(local, localUtf8, publish.Payload, qos, retain, properties, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());

        // Published with the bridge's session as publisher: its No Local subscriptions leave it out, so nothing
        // brought in goes back up.
        var targets = new List<RouteTarget>();
        var operations = new List<StoreOperation>();
        long matchedAt = _broker.PreparePublish(message, targets, operations, session);
        if (qos == 2 && session.IsStored)
        {
            operations.Add(StoreOperation.PutInbound(session.ClientId, packetId));
        }

        RouteTarget[] captured = [.. targets];
        _broker.Store.Submit(CollectionsMarshal.AsSpan(operations), () =>
        {
            _broker.Router.Deliver(message, captured, matchedAt, session);

            // Acknowledged only once durable here: an upstream that gets no PUBACK sends it again.
            if (qos > 0)
            {
                Acknowledge(link, ackType, packetId, token);
            }
        });
    }

    private void Acknowledge(UpstreamLink link, PacketType type, ushort packetId, CancellationToken token) => _ = AcknowledgeAsync(link, type, packetId, token);

    private async Task AcknowledgeAsync(UpstreamLink link, PacketType type, ushort packetId, CancellationToken token)
    {
        try
        {
            await link.WriteAsync(output => MqttPacketWriter.WriteAck(output, type, packetId), token);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The connection is gone; the upstream re-sends after reconnecting.
        }
    }
}
