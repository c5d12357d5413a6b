namespace SensorNode.Broker.Protocol.V5;

/// <summary>
/// Reads an MQTT 5.0 property list (§2.2.2): a Variable Byte Integer length, then that many bytes of
/// identifier/value pairs. Breaches throw <see cref="MqttProtocolException"/>:
/// <list type="bullet">
/// <item>Malformed Packet: a bad Variable Byte Integer, a length or value running past the property list or the
/// packet, an undefined property identifier or one not valid for the packet (§2.2.2.2 says so of both), invalid
/// UTF-8 in a string or string pair [MQTT-1.5.4-1] [MQTT-1.5.4-2] [MQTT-1.5.7-1].</item>
/// <item>Protocol Error: a property that may appear once appearing twice, or a value the spec forbids (ranges below).</item>
/// </list>
/// </summary>
public static class MqttPropertiesReader
{
    /// <summary>Reads the property length and the properties; null when the length is 0 [MQTT-2.2.2-1].</summary>
    public static MqttProperties? Read(ref MqttSpanReader reader, PropertyContext context)
    {
        int length = reader.ReadVariableByteInteger("property length");
        if (length == 0)
        {
            return null;
        }

        ReadOnlySpan<byte> data = reader.ReadBytes(length, "property length");
        var properties = new MqttProperties();
        var r = new MqttSpanReader(data);
        ulong seen = 0;
        while (r.Remaining > 0)
        {
            int raw = r.ReadVariableByteInteger("property identifier");
            if (!MqttPropertyRules.IsDefined(raw))
            {
                throw MqttProtocolException.Malformed($"undefined property identifier 0x{raw:X2} (§2.2.2.2)");
            }

            var id = (PropertyId)raw;
            if (!MqttPropertyRules.IsAllowed(id, context))
            {
                throw MqttProtocolException.Malformed($"property {id} is not allowed in {ContextName(context)} (§2.2.2.2 Table 2-4)");
            }

            ulong bit = 1UL << raw;
            if ((seen & bit) != 0 && !MqttPropertyRules.AllowsMultiple(id, context))
            {
                throw MqttProtocolException.ProtocolError($"It is a Protocol Error to include {id} more than once in {ContextName(context)} (§2.2.2.2)");
            }

            seen |= bit;
            ReadValue(ref r, id, context, properties);
        }

        // "It is a Protocol Error to include Authentication Data if there is no Authentication Method" (§3.1.2.11.10, §3.2.2.3.18, §3.15.2.2.3).
        if (properties.AuthenticationData is not null && properties.AuthenticationMethod is null)
        {
            throw MqttProtocolException.ProtocolError($"Authentication Data without Authentication Method in {ContextName(context)} (§3.1.2.11.10)");
        }

        return properties;
    }

    public static string ContextName(PropertyContext context) => context switch
    {
        PropertyContext.Connect => "CONNECT",
        PropertyContext.ConnAck => "CONNACK",
        PropertyContext.Publish => "PUBLISH",
        PropertyContext.Will => "Will Properties",
        PropertyContext.PubAck => "PUBACK/PUBREC/PUBREL/PUBCOMP",
        PropertyContext.Subscribe => "SUBSCRIBE",
        PropertyContext.SubAck => "SUBACK",
        PropertyContext.Unsubscribe => "UNSUBSCRIBE",
        PropertyContext.UnsubAck => "UNSUBACK",
        PropertyContext.Disconnect => "DISCONNECT",
        PropertyContext.Auth => "AUTH",
        _ => context.ToString(),
    };

    private static void ReadValue(ref MqttSpanReader r, PropertyId id, PropertyContext context, MqttProperties p)
    {
        switch (id)
        {
            case PropertyId.PayloadFormatIndicator:
                p.PayloadFormatIndicator = ZeroOrOne(ref r, id, "§3.3.2.3.2");
                break;
            case PropertyId.MessageExpiryInterval:
                p.MessageExpiryInterval = r.ReadUInt32();
                break;
            case PropertyId.ContentType:
                p.ContentType = r.ReadString("Content Type");
                break;
            case PropertyId.ResponseTopic:
                {
                    ReadOnlySpan<byte> topic = r.ReadUtf8("Response Topic");
                    if (!TopicRules.IsValidTopicName(topic))
                    {
                        throw MqttProtocolException.ProtocolError("Response Topic must be a topic name without wildcards [MQTT-3.3.2-14]");
                    }

                    p.ResponseTopic = MqttUtf8.Decode(topic);
                    break;
                }

            case PropertyId.CorrelationData:
                p.CorrelationData = r.ReadBinary().ToArray();
                break;
            case PropertyId.SubscriptionIdentifier:
                {
                    int value = r.ReadVariableByteInteger("Subscription Identifier");
                    if (value == 0)
                    {
                        throw MqttProtocolException.ProtocolError(
                            $"Subscription Identifier 0 in {ContextName(context)}: it is a Protocol Error if the Subscription Identifier has a value of 0 (§3.3.2.3.8, §3.8.2.1.2)");
                    }

                    p.AddSubscriptionIdentifier((uint)value);
                    break;
                }

            case PropertyId.SessionExpiryInterval:
                p.SessionExpiryInterval = r.ReadUInt32();
                break;
            case PropertyId.AssignedClientIdentifier:
                p.AssignedClientIdentifier = r.ReadString("Assigned Client Identifier");
                break;
            case PropertyId.ServerKeepAlive:
                p.ServerKeepAlive = r.ReadUInt16();
                break;
            case PropertyId.AuthenticationMethod:
                p.AuthenticationMethod = r.ReadString("Authentication Method");
                break;
            case PropertyId.AuthenticationData:
                p.AuthenticationData = r.ReadBinary().ToArray();
                break;
            case PropertyId.RequestProblemInformation:
                p.RequestProblemInformation = ZeroOrOne(ref r, id, "§3.1.2.11.7") == 1;
                break;
            case PropertyId.WillDelayInterval:
                p.WillDelayInterval = r.ReadUInt32();
                break;
            case PropertyId.RequestResponseInformation:
                p.RequestResponseInformation = ZeroOrOne(ref r, id, "§3.1.2.11.6") == 1;
                break;
            case PropertyId.ResponseInformation:
                p.ResponseInformation = r.ReadString("Response Information");
                break;
            case PropertyId.ServerReference:
                p.ServerReference = r.ReadString("Server Reference");
                break;
            case PropertyId.ReasonString:
                p.ReasonString = r.ReadString("Reason String");
                break;
            case PropertyId.ReceiveMaximum:
                p.ReceiveMaximum = NonZero(r.ReadUInt16(), id, "§3.1.2.11.3, §3.2.2.3.3");
                break;
            case PropertyId.TopicAliasMaximum:
                p.TopicAliasMaximum = r.ReadUInt16();
                break;
            case PropertyId.TopicAlias:
                // Alias 0 is answered with 0x94 Topic Alias invalid, not a generic protocol error (§3.3.4).
                p.TopicAlias = r.ReadUInt16() is ushort alias and not 0
                    ? alias
                    : throw new MqttProtocolException(DisconnectReason.TopicAliasInvalid, "Topic Alias 0 [MQTT-3.3.2-8]");
                break;
            case PropertyId.MaximumQos:
                p.MaximumQos = ZeroOrOne(ref r, id, "§3.2.2.3.4");
                break;
            case PropertyId.RetainAvailable:
                p.RetainAvailable = ZeroOrOne(ref r, id, "§3.2.2.3.5") == 1;
                break;
            case PropertyId.UserProperty:
                {
                    string name = r.ReadString("User Property name");
                    string value = r.ReadString("User Property value");
                    p.AddUserProperty(name, value);
                    break;
                }

            case PropertyId.MaximumPacketSize:
                p.MaximumPacketSize = NonZero(r.ReadUInt32(), id, "§3.1.2.11.4, §3.2.2.3.6");
                break;
            case PropertyId.WildcardSubscriptionAvailable:
                p.WildcardSubscriptionAvailable = ZeroOrOne(ref r, id, "§3.2.2.3.11") == 1;
                break;
            case PropertyId.SubscriptionIdentifierAvailable:
                p.SubscriptionIdentifiersAvailable = ZeroOrOne(ref r, id, "§3.2.2.3.12") == 1;
                break;
            case PropertyId.SharedSubscriptionAvailable:
                p.SharedSubscriptionAvailable = ZeroOrOne(ref r, id, "§3.2.2.3.13") == 1;
                break;
            default:
                throw MqttProtocolException.Malformed($"undefined property identifier 0x{(byte)id:X2}");
        }
    }

    private static byte ZeroOrOne(ref MqttSpanReader r, PropertyId id, string section)
    {
        byte value = r.ReadByte();
        if (value > 1)
        {
            throw MqttProtocolException.ProtocolError($"It is a Protocol Error for {id} to have a value other than 0 or 1 (got {value}, {section})");
        }

        return value;
    }

    private static T NonZero<T>(T value, PropertyId id, string section)
        where T : struct, System.Numerics.INumber<T>
    {
        if (T.IsZero(value))
        {
            throw MqttProtocolException.ProtocolError($"It is a Protocol Error for {id} to have the value 0 ({section})");
        }

        return value;
    }
}
