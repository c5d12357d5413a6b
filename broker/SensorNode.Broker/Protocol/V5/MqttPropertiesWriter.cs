using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace SensorNode.Broker.Protocol.V5;

/// <summary>
/// Encodes an MQTT 5.0 property list (§2.2.2): the Variable Byte Integer length, then the properties in
/// identifier order; Subscription Identifiers and User Properties keep their list order [MQTT-3.3.2-18].
/// A null or empty set is written as a single 0x00 length byte [MQTT-2.2.2-1].
/// </summary>
public static class MqttPropertiesWriter
{
    /// <summary>Largest value a Variable Byte Integer holds (§1.5.5); also the Subscription Identifier limit.</summary>
    public const int MaxVariableByteInteger = 268_435_455;

    /// <summary>Bytes <see cref="Write(IBufferWriter{byte}, MqttProperties?)"/> produces: the length prefix plus the properties.</summary>
    public static int Measure(MqttProperties? properties)
    {
        int content = MeasureContent(properties);
        return MqttFrameReader.VariableByteIntegerSize(content) + content;
    }

    /// <summary>Bytes of the properties alone, without the length prefix (0 when there are none).</summary>
    public static int MeasureContent(MqttProperties? properties)
    {
        if (properties is null)
        {
            return 0;
        }

        long size = 0;
        foreach (PropertyId id in MqttPropertyRules.InOrder)
        {
            if (properties.Has(id))
            {
                size += MeasureProperty(properties, id);
            }
        }

        if (size > MaxVariableByteInteger)
        {
            throw new ArgumentException($"properties take {size} bytes, more than a Variable Byte Integer can count", nameof(properties));
        }

        return (int)size;
    }

    /// <summary>Writes the property length (Variable Byte Integer) and then the properties.</summary>
    public static void Write(IBufferWriter<byte> output, MqttProperties? properties)
    {
        int content = MeasureContent(properties);
        int total = MqttFrameReader.VariableByteIntegerSize(content) + content;
        Span<byte> span = output.GetSpan(total);
        int i = MqttFrameReader.WriteVariableByteInteger(span, content);
        if (properties is not null && content > 0)
        {
            foreach (PropertyId id in MqttPropertyRules.InOrder)
            {
                if (properties.Has(id))
                {
                    i += WriteProperty(span[i..], properties, id);
                }
            }
        }

        output.Advance(total);
    }

    /// <summary>
    /// Throws <see cref="ArgumentException"/> when the set could not be sent in <paramref name="context"/>: a
    /// property the packet does not carry (§2.2.2.2 Table 2-4), more than one Subscription Identifier outside a
    /// PUBLISH, or a value the spec forbids. The packet writer calls this before encoding.
    /// </summary>
    public static void Validate(MqttProperties? properties, PropertyContext context)
    {
        if (properties is null)
        {
            return;
        }

        foreach (PropertyId id in MqttPropertyRules.InOrder)
        {
            if (properties.Has(id) && !MqttPropertyRules.IsAllowed(id, context))
            {
                throw new ArgumentException($"property {id} is not allowed in {MqttPropertiesReader.ContextName(context)}", nameof(properties));
            }
        }

        Check(properties.PayloadFormatIndicator is null or 0 or 1, "Payload Format Indicator must be 0 or 1");
        Check(properties.MaximumQos is null or 0 or 1, "Maximum QoS must be 0 or 1");
        Check(properties.ReceiveMaximum is null or > 0, "Receive Maximum must not be 0");
        Check(properties.MaximumPacketSize is null or > 0, "Maximum Packet Size must not be 0");
        Check(properties.TopicAlias is null or > 0, "Topic Alias must not be 0 [MQTT-3.3.2-8]");
        Check(properties.ResponseTopic is null || TopicRules.IsValidTopicName(properties.ResponseTopic), "Response Topic must be a topic name without wildcards [MQTT-3.3.2-14]");
        Check(properties.AuthenticationData is null || properties.AuthenticationMethod is not null, "Authentication Data needs an Authentication Method (§3.1.2.11.10)");
        if (properties.SubscriptionIdentifiers is { } ids)
        {
            Check(context == PropertyContext.Publish || ids.Count <= 1, "only one Subscription Identifier is allowed outside PUBLISH (§3.8.2.1.2)");
            foreach (uint id in ids)
            {
                Check(id is > 0 and <= MaxVariableByteInteger, $"Subscription Identifier {id} is outside 1..268,435,455");
            }
        }
    }

    private static void Check(bool condition, string message)
    {
        if (!condition)
        {
            throw new ArgumentException(message);
        }
    }

    private static int StringSize(string value)
    {
        int n = Encoding.UTF8.GetByteCount(value);
        if (n > ushort.MaxValue)
        {
            throw new ArgumentException($"a string property of {n} bytes does not fit a 2-byte length (§1.5.4)");
        }

        if (value.Contains('\0'))
        {
            throw new ArgumentException("a UTF-8 string must not contain U+0000 [MQTT-1.5.4-2]");
        }

        return 2 + n;
    }

    private static int BinarySize(byte[] value) =>
        value.Length <= ushort.MaxValue ? 2 + value.Length : throw new ArgumentException($"binary data of {value.Length} bytes does not fit a 2-byte length (§1.5.6)");

    private static int SubscriptionIdSize(uint value) =>
        value is > 0 and <= MaxVariableByteInteger
            ? MqttFrameReader.VariableByteIntegerSize((int)value)
            : throw new ArgumentOutOfRangeException(nameof(value), value, "Subscription Identifier must be 1..268,435,455");

    private static long MeasureProperty(MqttProperties p, PropertyId id)
    {
        switch (id)
        {
            case PropertyId.SubscriptionIdentifier:
                {
                    long size = 0;
                    foreach (uint value in p.SubscriptionIdentifiers!)
                    {
                        size += 1 + SubscriptionIdSize(value);
                    }

                    return size;
                }

            case PropertyId.UserProperty:
                {
                    long size = 0;
                    foreach (MqttUserProperty pair in p.UserProperties!)
                    {
                        size += 1 + StringSize(pair.Name) + StringSize(pair.Value);
                    }

                    return size;
                }

            case PropertyId.CorrelationData:
                return 1 + BinarySize(p.CorrelationData!);
            case PropertyId.AuthenticationData:
                return 1 + BinarySize(p.AuthenticationData!);
        }

        return 1 + MqttPropertyRules.TypeOf(id) switch
        {
            PropertyType.Byte => 1,
            PropertyType.TwoByteInteger => 2,
            PropertyType.FourByteInteger => 4,
            PropertyType.Utf8String => StringSize(StringValue(p, id)),
            _ => throw new InvalidOperationException($"unexpected property {id}"),
        };
    }

    private static string StringValue(MqttProperties p, PropertyId id) => id switch
    {
        PropertyId.ContentType => p.ContentType!,
        PropertyId.ResponseTopic => p.ResponseTopic!,
        PropertyId.AssignedClientIdentifier => p.AssignedClientIdentifier!,
        PropertyId.AuthenticationMethod => p.AuthenticationMethod!,
        PropertyId.ResponseInformation => p.ResponseInformation!,
        PropertyId.ServerReference => p.ServerReference!,
        PropertyId.ReasonString => p.ReasonString!,
        _ => throw new InvalidOperationException($"{id} is not a string property"),
    };

    private static byte ByteValue(MqttProperties p, PropertyId id) => id switch
    {
        PropertyId.PayloadFormatIndicator => p.PayloadFormatIndicator!.Value,
        PropertyId.RequestProblemInformation => Bit(p.RequestProblemInformation),
        PropertyId.RequestResponseInformation => Bit(p.RequestResponseInformation),
        PropertyId.MaximumQos => p.MaximumQos!.Value,
        PropertyId.RetainAvailable => Bit(p.RetainAvailable),
        PropertyId.WildcardSubscriptionAvailable => Bit(p.WildcardSubscriptionAvailable),
        PropertyId.SubscriptionIdentifierAvailable => Bit(p.SubscriptionIdentifiersAvailable),
        PropertyId.SharedSubscriptionAvailable => Bit(p.SharedSubscriptionAvailable),
        _ => throw new InvalidOperationException($"{id} is not a byte property"),
    };

    private static byte Bit(bool? value) => value!.Value ? (byte)1 : (byte)0;

    private static ushort TwoByteValue(MqttProperties p, PropertyId id) => id switch
    {
        PropertyId.ServerKeepAlive => p.ServerKeepAlive!.Value,
        PropertyId.ReceiveMaximum => p.ReceiveMaximum!.Value,
        PropertyId.TopicAliasMaximum => p.TopicAliasMaximum!.Value,
        PropertyId.TopicAlias => p.TopicAlias!.Value,
        _ => throw new InvalidOperationException($"{id} is not a two byte integer property"),
    };

    private static uint FourByteValue(MqttProperties p, PropertyId id) => id switch
    {
        PropertyId.MessageExpiryInterval => p.MessageExpiryInterval!.Value,
        PropertyId.SessionExpiryInterval => p.SessionExpiryInterval!.Value,
        PropertyId.WillDelayInterval => p.WillDelayInterval!.Value,
        PropertyId.MaximumPacketSize => p.MaximumPacketSize!.Value,
        _ => throw new InvalidOperationException($"{id} is not a four byte integer property"),
    };

    private static int WriteString(Span<byte> span, string value)
    {
        int n = Encoding.UTF8.GetBytes(value, span[2..]);
        BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)n);
        return 2 + n;
    }

    private static int WriteBinary(Span<byte> span, byte[] value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(span, (ushort)value.Length);
        value.CopyTo(span[2..]);
        return 2 + value.Length;
    }

    private static int WriteProperty(Span<byte> span, MqttProperties p, PropertyId id)
    {
        int i = 0;
        switch (id)
        {
            case PropertyId.SubscriptionIdentifier:
                foreach (uint value in p.SubscriptionIdentifiers!)
                {
                    span[i++] = (byte)id;
                    i += MqttFrameReader.WriteVariableByteInteger(span[i..], (int)value);
                }

                return i;
            case PropertyId.UserProperty:
                foreach (MqttUserProperty pair in p.UserProperties!)
                {
                    span[i++] = (byte)id;
                    i += WriteString(span[i..], pair.Name);
                    i += WriteString(span[i..], pair.Value);
                }

                return i;
            case PropertyId.CorrelationData:
                span[0] = (byte)id;
                return 1 + WriteBinary(span[1..], p.CorrelationData!);
            case PropertyId.AuthenticationData:
                span[0] = (byte)id;
                return 1 + WriteBinary(span[1..], p.AuthenticationData!);
        }

        span[0] = (byte)id;
        switch (MqttPropertyRules.TypeOf(id))
        {
            case PropertyType.Byte:
                span[1] = ByteValue(p, id);
                return 2;
            case PropertyType.TwoByteInteger:
                BinaryPrimitives.WriteUInt16BigEndian(span[1..], TwoByteValue(p, id));
                return 3;
            case PropertyType.FourByteInteger:
                BinaryPrimitives.WriteUInt32BigEndian(span[1..], FourByteValue(p, id));
                return 5;
            case PropertyType.Utf8String:
                return 1 + WriteString(span[1..], StringValue(p, id));
            default:
                throw new InvalidOperationException($"unexpected property {id}");
        }
    }
}
