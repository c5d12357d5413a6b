using System.Buffers;
using Microsoft.Extensions.Logging;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.V5;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Bridging;

/// <summary>What goes up: the local session's queue drained in order under its packet identifiers, renamed by the rules.</summary>
public sealed partial class Bridge
{
    private async Task<string> WriteLoopAsync(UpstreamLink link, CancellationToken token)
    {
        var batch = new List<OutboundPacket>(MaxBatch);
        Session session = _session!;

        // The drain rate paces the backlog this connection found (what queued during the outage), not live traffic
        // after it: a site publishing faster than the rate would otherwise fall behind for good and shed messages.
        long backlog = session.QueuedCount + session.InflightCount;
        long sent = 0;
        SignalOutput();
        while (await _output.Reader.WaitToReadAsync(token))
        {
            _output.Reader.TryRead(out _);
            for (int round = 0; round < 1_000_000; round++)
            {
                batch.Clear();
                bool paced = Options.DrainRatePerSecond > 0 && sent < backlog;
                int max = paced ? Math.Clamp(Options.DrainRatePerSecond / 10, 1, MaxBatch) : MaxBatch;
                if (session.DrainOutbound(this, batch, max))
                {
                    // A stored QoS 2 message's packet identifier is durable before its PUBLISH goes out.
                    await _broker.Store.FlushAsync();
                }

                if (batch.Count == 0)
                {
                    break;
                }

                int published = 0;
                await link.WriteAsync(output => published = WriteBatch(output, link, batch), token);
                Interlocked.Add(ref _forwarded, published);
                sent += published;
                if (paced && published > 0)
                {
                    // A paced drain: a backlog goes up at the configured rate, leaving room for live traffic upstream.
                    Interlocked.Increment(ref _pacedPauses);
                    await Task.Delay(TimeSpan.FromMilliseconds(published * 1000.0 / Options.DrainRatePerSecond), token);
                }
            }
        }

        return "stopped";
    }

    private int WriteBatch(IBufferWriter<byte> output, UpstreamLink link, List<OutboundPacket> batch)
    {
        int published = 0;
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        foreach (OutboundPacket packet in batch)
        {
            switch (packet.Type)
            {
                case PacketType.Publish:
                    if (WritePublish(output, link, packet, now))
                    {
                        published++;
                    }

                    break;
                case PacketType.PubRel:
                    MqttPacketWriter.WriteAck(output, PacketType.PubRel, packet.PacketId);
                    break;
                default:
                    // The CONNACK a session queues on attach, and nothing else, is meant for a client.
                    break;
            }
        }

        return published;
    }

    private bool WritePublish(IBufferWriter<byte> output, UpstreamLink link, in OutboundPacket packet, long now)
    {
        ApplicationMessage message = packet.Message!;
        BridgeTopicRule? rule = OutboundRuleFor(message.Topic);
        if (rule is null)
        {
            // Queued under a rule that is no longer configured.
            if (packet.Qos > 0)
            {
                _session!.Abandon(packet.PacketId);
            }

            Interlocked.Increment(ref _dropped);
            return false;
        }

        string remote = TopicMapper.Map(message.Topic, rule.Local, rule.RemoteFilter);
        MqttProperties? properties = link.IsV5 ? ForwardedProperties(message, now) : null;
        long limit = Options.MaxPacketSize > 0 ? Math.Min(Options.MaxPacketSize, link.MaximumPacketSize) : link.MaximumPacketSize;
        bool topicTooLong = !TopicMapper.Fits(remote);
        if (topicTooLong || PublishSize(link, remote, message, Math.Min(packet.Qos, link.MaximumQos), properties) > limit)
        {
            // Larger than the upstream takes [MQTT-3.1.2-24], or a topic the prefix made too long for any packet: sending
            // it would end the connection, again on every reconnect.
            if (topicTooLong)
            {
                _logger.LogWarning("Bridge {Name}: dropping a message: its topic, mapped for {Upstream}, is longer than 65,535 bytes", Name, link.Address);
            }
            else
            {
                _logger.LogWarning("Bridge {Name}: dropping a message on '{Topic}' ({Bytes} bytes): larger than {Upstream}'s Maximum Packet Size {Max}", Name, message.Topic, message.PayloadSpan.Length, link.Address, limit);
            }

            if (packet.Qos > 0)
            {
                _session!.Abandon(packet.PacketId);
            }

            Interlocked.Increment(ref _dropped);
            return false;
        }

        bool retain = packet.Retain && rule.Retain == BridgeRetainMode.Keep && link.RetainAvailable;
        byte qos = packet.Qos;
        if (qos > link.MaximumQos && qos > 0)
        {
            // An MQTT 5 upstream that takes at most QoS 1 (CONNACK Maximum QoS) gets QoS 1 [MQTT-3.2.2-11]; its PUBACK
            // completes the message. A QoS 0-only upstream gets QoS 0 and the message is complete once written.
            qos = link.MaximumQos;
            if (qos == 1)
            {
                _downgraded[packet.PacketId] = 0;
            }
        }

        ApplicationMessage upstream = remote == message.Topic ? message : ApplicationMessage.Create(remote, message.PayloadSpan, qos, retain);
        if (link.IsV5)
        {
            MqttPacketWriter.WritePublish(output, upstream, qos, retain, packet.Dup && qos > 0, qos == 0 ? (ushort)0 : packet.PacketId, properties);
        }
        else
        {
            MqttPacketWriter.WritePublish(output, upstream, qos, retain, packet.Dup, packet.PacketId);
        }

        if (qos == 0 && packet.Qos > 0)
        {
            _session!.Abandon(packet.PacketId);
        }

        return true;
    }

    /// <summary>The first outbound rule matching <paramref name="topic"/> (a loop: this runs for every message sent up).</summary>
    private BridgeTopicRule? OutboundRuleFor(string topic)
    {
        foreach (BridgeTopicRule rule in Options.Topics)
        {
            if (rule.IsOut && TopicMapper.Matches(rule.Local, topic))
            {
                return rule;
            }
        }

        return null;
    }

    private static long PublishSize(UpstreamLink link, string topic, ApplicationMessage message, byte qos, MqttProperties? properties)
    {
        int propertyBytes = properties is null ? 0 : MqttPropertiesWriter.MeasureContent(properties);
        long remaining = 2L + System.Text.Encoding.UTF8.GetByteCount(topic) + (qos > 0 ? 2 : 0) + message.PayloadSpan.Length
            + (link.IsV5 ? MqttFrameReader.VariableByteIntegerSize(propertyBytes) + propertyBytes : 0);
        return 1 + MqttFrameReader.VariableByteIntegerSize((int)Math.Min(remaining, int.MaxValue)) + remaining;
    }

    /// <summary>The message's MQTT 5 properties with what is left of its expiry interval [MQTT-3.3.2-6].</summary>
    private static MqttProperties? ForwardedProperties(ApplicationMessage message, long now)
    {
        if (message.Properties is not { } kept)
        {
            return null;
        }

        return new MqttProperties
        {
            PayloadFormatIndicator = kept.PayloadFormatIndicator,
            ContentType = kept.ContentType,
            ResponseTopic = kept.ResponseTopic,
            CorrelationData = kept.CorrelationData,
            UserProperties = kept.UserProperties,
            MessageExpiryInterval = message.ExpiresAtUnixMs != 0 ? message.RemainingExpirySeconds(now) : null,
        };
    }
}
