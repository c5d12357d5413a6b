using System.Buffers;
using System.Buffers.Binary;

namespace SensorNode.Broker.Protocol.V5;

/// <summary>
/// Writes an MQTT 5.0 PUBLISH for one subscriber from the message's shared buffers: the message's encoded
/// properties are copied as they are, and only what differs per subscriber is produced here: the remaining
/// Message Expiry Interval, a Topic Alias, and the Subscription Identifiers (§3.3.2).
/// </summary>
public static class PublishWriter
{
    /// <summary>Bytes the PUBLISH takes on the wire, to hold it against the client's Maximum Packet Size.</summary>
    public static int Measure(ApplicationMessage message, byte qos, bool omitTopic, ushort topicAlias, uint[]? subscriptionIds, long nowUnixMs)
    {
        int properties = MeasureProperties(message, topicAlias, subscriptionIds, nowUnixMs);
        int remaining = (omitTopic ? 2 : message.EncodedTopic.Length) + (qos > 0 ? 2 : 0)
            + MqttFrameReader.VariableByteIntegerSize(properties) + properties + message.PayloadSpan.Length;
        return 1 + MqttFrameReader.VariableByteIntegerSize(remaining) + remaining;
    }

    public static void Write(IBufferWriter<byte> output, ApplicationMessage message, byte qos, bool retain, bool dup, ushort packetId, bool omitTopic, ushort topicAlias, uint[]? subscriptionIds, long nowUnixMs)
    {
        int properties = MeasureProperties(message, topicAlias, subscriptionIds, nowUnixMs);
        ReadOnlySpan<byte> topic = omitTopic ? [0, 0] : message.EncodedTopic;
        int remaining = topic.Length + (qos > 0 ? 2 : 0) + MqttFrameReader.VariableByteIntegerSize(properties) + properties + message.PayloadSpan.Length;
        int headLength = 1 + MqttFrameReader.VariableByteIntegerSize(remaining) + topic.Length + 2 + 5 + properties;
        Span<byte> span = output.GetSpan(headLength);
        span[0] = (byte)(((int)PacketType.Publish << 4) | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0));
        int i = 1 + MqttFrameReader.WriteVariableByteInteger(span[1..], remaining);
        topic.CopyTo(span[i..]);
        i += topic.Length;
        if (qos > 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(span[i..], packetId);
            i += 2;
        }

        i += MqttFrameReader.WriteVariableByteInteger(span[i..], properties);
        if (message.ExpiresAtUnixMs != 0)
        {
            span[i++] = (byte)PropertyId.MessageExpiryInterval;
            BinaryPrimitives.WriteUInt32BigEndian(span[i..], message.RemainingExpirySeconds(nowUnixMs));
            i += 4;
        }

        message.EncodedProperties.CopyTo(span[i..]);
        i += message.EncodedProperties.Length;
        if (topicAlias != 0)
        {
            span[i++] = (byte)PropertyId.TopicAlias;
            BinaryPrimitives.WriteUInt16BigEndian(span[i..], topicAlias);
            i += 2;
        }

        if (subscriptionIds is not null)
        {
            foreach (uint id in subscriptionIds)
            {
                span[i++] = (byte)PropertyId.SubscriptionIdentifier;
                i += MqttFrameReader.WriteVariableByteInteger(span[i..], (int)id);
            }
        }

        output.Advance(i);
        output.Write(message.PayloadSpan);
    }

    private static int MeasureProperties(ApplicationMessage message, ushort topicAlias, uint[]? subscriptionIds, long nowUnixMs)
    {
        _ = nowUnixMs;
        int size = message.EncodedProperties.Length + (message.ExpiresAtUnixMs != 0 ? 5 : 0) + (topicAlias != 0 ? 3 : 0);
        if (subscriptionIds is not null)
        {
            foreach (uint id in subscriptionIds)
            {
                size += 1 + MqttFrameReader.VariableByteIntegerSize((int)id);
            }
        }

        return size;
    }
}
