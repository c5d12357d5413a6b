using System.Text;

namespace SensorNode.Broker.Protocol.V5;

/// <summary>A User Property (§2.2.2.2, 0x26): a UTF-8 string pair [MQTT-1.5.7-1]. Names may repeat; order is kept.</summary>
public readonly record struct MqttUserProperty(string Name, string Value);

/// <summary>
/// The properties of an MQTT 5.0 packet in object form (§2.2.2). Every field is null when the property is
/// absent. Which properties a packet may carry is decided by <see cref="MqttPropertyRules"/>.
/// </summary>
public sealed class MqttProperties
{
    /// <summary>0x01: 0 = unspecified bytes, 1 = UTF-8 (§3.3.2.3.2). PUBLISH, Will.</summary>
    public byte? PayloadFormatIndicator { get; set; }

    /// <summary>0x02: seconds (§3.3.2.3.3). PUBLISH, Will.</summary>
    public uint? MessageExpiryInterval { get; set; }

    /// <summary>0x03 (§3.3.2.3.9). PUBLISH, Will.</summary>
    public string? ContentType { get; set; }

    /// <summary>0x08: a topic name, no wildcards [MQTT-3.3.2-14]. PUBLISH, Will.</summary>
    public string? ResponseTopic { get; set; }

    /// <summary>0x09 (§3.3.2.3.6). PUBLISH, Will.</summary>
    public byte[]? CorrelationData { get; set; }

    /// <summary>0x0B: 1 to 268,435,455; several in a PUBLISH from the server, one in SUBSCRIBE (§3.3.2.3.8, §3.8.2.1.2).</summary>
    public List<uint>? SubscriptionIdentifiers { get; set; }

    /// <summary>0x11: seconds (§3.1.2.11.2). CONNECT, CONNACK, DISCONNECT.</summary>
    public uint? SessionExpiryInterval { get; set; }

    /// <summary>0x12 (§3.2.2.3.7). CONNACK.</summary>
    public string? AssignedClientIdentifier { get; set; }

    /// <summary>0x13: seconds (§3.2.2.3.14). CONNACK.</summary>
    public ushort? ServerKeepAlive { get; set; }

    /// <summary>0x15 (§3.1.2.11.9). CONNECT, CONNACK, AUTH.</summary>
    public string? AuthenticationMethod { get; set; }

    /// <summary>0x16: only together with an Authentication Method (§3.1.2.11.10). CONNECT, CONNACK, AUTH.</summary>
    public byte[]? AuthenticationData { get; set; }

    /// <summary>0x17: byte 0 or 1 (§3.1.2.11.7). CONNECT.</summary>
    public bool? RequestProblemInformation { get; set; }

    /// <summary>0x18: seconds (§3.1.3.2.2). Will.</summary>
    public uint? WillDelayInterval { get; set; }

    /// <summary>0x19: byte 0 or 1 (§3.1.2.11.6). CONNECT.</summary>
    public bool? RequestResponseInformation { get; set; }

    /// <summary>0x1A (§3.2.2.3.15). CONNACK.</summary>
    public string? ResponseInformation { get; set; }

    /// <summary>0x1C (§3.2.2.3.16). CONNACK, DISCONNECT.</summary>
    public string? ServerReference { get; set; }

    /// <summary>0x1F. CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH.</summary>
    public string? ReasonString { get; set; }

    /// <summary>0x21: 1 to 65,535 (§3.1.2.11.3). CONNECT, CONNACK.</summary>
    public ushort? ReceiveMaximum { get; set; }

    /// <summary>0x22 (§3.1.2.11.5). CONNECT, CONNACK.</summary>
    public ushort? TopicAliasMaximum { get; set; }

    /// <summary>0x23: 1 to 65,535 [MQTT-3.3.2-8]. PUBLISH.</summary>
    public ushort? TopicAlias { get; set; }

    /// <summary>0x24: 0 or 1 (§3.2.2.3.4). CONNACK.</summary>
    public byte? MaximumQos { get; set; }

    /// <summary>0x25: byte 0 or 1 (§3.2.2.3.5). CONNACK.</summary>
    public bool? RetainAvailable { get; set; }

    /// <summary>0x26: name/value pairs in wire order (§3.3.2.3.7, [MQTT-3.3.2-18]). Every packet that has properties.</summary>
    public List<MqttUserProperty>? UserProperties { get; set; }

    /// <summary>0x27: 1 to 4,294,967,295 bytes (§3.1.2.11.4). CONNECT, CONNACK.</summary>
    public uint? MaximumPacketSize { get; set; }

    /// <summary>0x28: byte 0 or 1 (§3.2.2.3.11). CONNACK.</summary>
    public bool? WildcardSubscriptionAvailable { get; set; }

    /// <summary>0x29: byte 0 or 1 (§3.2.2.3.12). CONNACK.</summary>
    public bool? SubscriptionIdentifiersAvailable { get; set; }

    /// <summary>0x2A: byte 0 or 1 (§3.2.2.3.13). CONNACK.</summary>
    public bool? SharedSubscriptionAvailable { get; set; }

    /// <summary>True when no property is set.</summary>
    public bool IsEmpty
    {
        get
        {
            foreach (PropertyId id in MqttPropertyRules.InOrder)
            {
                if (Has(id))
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>Adds a User Property after the ones already present.</summary>
    public MqttProperties AddUserProperty(string name, string value)
    {
        (UserProperties ??= []).Add(new MqttUserProperty(name, value));
        return this;
    }

    /// <summary>Adds a Subscription Identifier after the ones already present.</summary>
    public MqttProperties AddSubscriptionIdentifier(uint identifier)
    {
        (SubscriptionIdentifiers ??= []).Add(identifier);
        return this;
    }

    /// <summary>True when the property is present (for lists: has at least one entry).</summary>
    public bool Has(PropertyId id) => id switch
    {
        PropertyId.PayloadFormatIndicator => PayloadFormatIndicator.HasValue,
        PropertyId.MessageExpiryInterval => MessageExpiryInterval.HasValue,
        PropertyId.ContentType => ContentType is not null,
        PropertyId.ResponseTopic => ResponseTopic is not null,
        PropertyId.CorrelationData => CorrelationData is not null,
        PropertyId.SubscriptionIdentifier => SubscriptionIdentifiers is { Count: > 0 },
        PropertyId.SessionExpiryInterval => SessionExpiryInterval.HasValue,
        PropertyId.AssignedClientIdentifier => AssignedClientIdentifier is not null,
        PropertyId.ServerKeepAlive => ServerKeepAlive.HasValue,
        PropertyId.AuthenticationMethod => AuthenticationMethod is not null,
        PropertyId.AuthenticationData => AuthenticationData is not null,
        PropertyId.RequestProblemInformation => RequestProblemInformation.HasValue,
        PropertyId.WillDelayInterval => WillDelayInterval.HasValue,
        PropertyId.RequestResponseInformation => RequestResponseInformation.HasValue,
        PropertyId.ResponseInformation => ResponseInformation is not null,
        PropertyId.ServerReference => ServerReference is not null,
        PropertyId.ReasonString => ReasonString is not null,
        PropertyId.ReceiveMaximum => ReceiveMaximum.HasValue,
        PropertyId.TopicAliasMaximum => TopicAliasMaximum.HasValue,
        PropertyId.TopicAlias => TopicAlias.HasValue,
        PropertyId.MaximumQos => MaximumQos.HasValue,
        PropertyId.RetainAvailable => RetainAvailable.HasValue,
        PropertyId.UserProperty => UserProperties is { Count: > 0 },
        PropertyId.MaximumPacketSize => MaximumPacketSize.HasValue,
        PropertyId.WildcardSubscriptionAvailable => WildcardSubscriptionAvailable.HasValue,
        PropertyId.SubscriptionIdentifierAvailable => SubscriptionIdentifiersAvailable.HasValue,
        PropertyId.SharedSubscriptionAvailable => SharedSubscriptionAvailable.HasValue,
        _ => false,
    };

    /// <summary>A deterministic description of every present property, in identifier order (logs and tests).</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (PropertyId id in MqttPropertyRules.InOrder)
        {
            if (!Has(id))
            {
                continue;
            }

            if (text.Length > 0)
            {
                text.Append("; ");
            }

            text.Append(id).Append('=').Append(ValueText(id));
        }

        return text.ToString();
    }

    private string ValueText(PropertyId id) => id switch
    {
        PropertyId.PayloadFormatIndicator => PayloadFormatIndicator!.Value.ToString(),
        PropertyId.MessageExpiryInterval => MessageExpiryInterval!.Value.ToString(),
        PropertyId.ContentType => ContentType!,
        PropertyId.ResponseTopic => ResponseTopic!,
        PropertyId.CorrelationData => Convert.ToHexString(CorrelationData!),
        PropertyId.SubscriptionIdentifier => string.Join(",", SubscriptionIdentifiers!),
        PropertyId.SessionExpiryInterval => SessionExpiryInterval!.Value.ToString(),
        PropertyId.AssignedClientIdentifier => AssignedClientIdentifier!,
        PropertyId.ServerKeepAlive => ServerKeepAlive!.Value.ToString(),
        PropertyId.AuthenticationMethod => AuthenticationMethod!,
        PropertyId.AuthenticationData => Convert.ToHexString(AuthenticationData!),
        PropertyId.RequestProblemInformation => RequestProblemInformation!.Value.ToString(),
        PropertyId.WillDelayInterval => WillDelayInterval!.Value.ToString(),
        PropertyId.RequestResponseInformation => RequestResponseInformation!.Value.ToString(),
        PropertyId.ResponseInformation => ResponseInformation!,
        PropertyId.ServerReference => ServerReference!,
        PropertyId.ReasonString => ReasonString!,
        PropertyId.ReceiveMaximum => ReceiveMaximum!.Value.ToString(),
        PropertyId.TopicAliasMaximum => TopicAliasMaximum!.Value.ToString(),
        PropertyId.TopicAlias => TopicAlias!.Value.ToString(),
        PropertyId.MaximumQos => MaximumQos!.Value.ToString(),
        PropertyId.RetainAvailable => RetainAvailable!.Value.ToString(),
        PropertyId.UserProperty => string.Join(",", UserProperties!.Select(p => $"[{p.Name}:{p.Value}]")),
        PropertyId.MaximumPacketSize => MaximumPacketSize!.Value.ToString(),
        PropertyId.WildcardSubscriptionAvailable => WildcardSubscriptionAvailable!.Value.ToString(),
        PropertyId.SubscriptionIdentifierAvailable => SubscriptionIdentifiersAvailable!.Value.ToString(),
        PropertyId.SharedSubscriptionAvailable => SharedSubscriptionAvailable!.Value.ToString(),
        _ => string.Empty,
    };
}
