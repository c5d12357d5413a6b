namespace SensorNode.Broker.Protocol.V5;

/// <summary>MQTT 5.0 property identifiers (§2.2.2.2, Table 2-4).</summary>
public enum PropertyId : byte
{
    PayloadFormatIndicator = 0x01,
    MessageExpiryInterval = 0x02,
    ContentType = 0x03,
    ResponseTopic = 0x08,
    CorrelationData = 0x09,
    SubscriptionIdentifier = 0x0B,
    SessionExpiryInterval = 0x11,
    AssignedClientIdentifier = 0x12,
    ServerKeepAlive = 0x13,
    AuthenticationMethod = 0x15,
    AuthenticationData = 0x16,
    RequestProblemInformation = 0x17,
    WillDelayInterval = 0x18,
    RequestResponseInformation = 0x19,
    ResponseInformation = 0x1A,
    ServerReference = 0x1C,
    ReasonString = 0x1F,
    ReceiveMaximum = 0x21,
    TopicAliasMaximum = 0x22,
    TopicAlias = 0x23,
    MaximumQos = 0x24,
    RetainAvailable = 0x25,
    UserProperty = 0x26,
    MaximumPacketSize = 0x27,
    WildcardSubscriptionAvailable = 0x28,
    SubscriptionIdentifierAvailable = 0x29,
    SharedSubscriptionAvailable = 0x2A,
}

/// <summary>The data type of a property value (§1.5, §2.2.2.2).</summary>
public enum PropertyType : byte
{
    Byte,
    TwoByteInteger,
    FourByteInteger,
    VariableByteInteger,
    Utf8String,
    BinaryData,
    Utf8StringPair,
}

/// <summary>
/// Where a property list sits; decides which properties may appear (§2.2.2.2, Table 2-4).
/// <see cref="PubAck"/> covers PUBACK, PUBREC, PUBREL and PUBCOMP; <see cref="Will"/> is the Will Properties of CONNECT.
/// </summary>
public enum PropertyContext : byte
{
    Connect,
    ConnAck,
    Publish,
    Will,
    PubAck,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck,
    Disconnect,
    Auth,
}

/// <summary>The property/packet matrix of §2.2.2.2 (Table 2-4) and the value type of each property.</summary>
public static class MqttPropertyRules
{
    private const int ContextCount = 11;

    private static readonly PropertyId[] Identifiers = Enum.GetValues<PropertyId>();

    /// <summary>Every property identifier the spec defines, in identifier order.</summary>
    public static IReadOnlyList<PropertyId> All => Identifiers;

    /// <summary><see cref="All"/> for the codec's loops: iterated without an enumerator object per packet.</summary>
    internal static ReadOnlySpan<PropertyId> InOrder => Identifiers;

    public static IReadOnlyList<PropertyContext> AllContexts { get; } = Enum.GetValues<PropertyContext>();

    public static bool IsDefined(int id) => id is > 0 and <= 0x2A && TypeOrNull((PropertyId)id) is not null;

    public static PropertyType TypeOf(PropertyId id) => TypeOrNull(id) ?? throw new ArgumentOutOfRangeException(nameof(id), id, "not an MQTT 5.0 property");

    /// <summary>True when the spec allows <paramref name="id"/> in <paramref name="context"/>.</summary>
    public static bool IsAllowed(PropertyId id, PropertyContext context) => (AllowedMask(id) & (1 << (int)context)) != 0;

    /// <summary>
    /// User Property may appear any number of times everywhere (§2.2.2.2, §3.x "User Property"); Subscription
    /// Identifier several times in a PUBLISH sent by the server (§3.3.2.3.8) but only once in SUBSCRIBE
    /// (§3.8.2.1.2). Every other property at most once.
    /// </summary>
    public static bool AllowsMultiple(PropertyId id, PropertyContext context) =>
        id == PropertyId.UserProperty || (id == PropertyId.SubscriptionIdentifier && context == PropertyContext.Publish);

    private static PropertyType? TypeOrNull(PropertyId id) => id switch
    {
        PropertyId.PayloadFormatIndicator or PropertyId.RequestProblemInformation or PropertyId.RequestResponseInformation
            or PropertyId.MaximumQos or PropertyId.RetainAvailable or PropertyId.WildcardSubscriptionAvailable
            or PropertyId.SubscriptionIdentifierAvailable or PropertyId.SharedSubscriptionAvailable => PropertyType.Byte,
        PropertyId.ServerKeepAlive or PropertyId.ReceiveMaximum or PropertyId.TopicAliasMaximum or PropertyId.TopicAlias => PropertyType.TwoByteInteger,
        PropertyId.MessageExpiryInterval or PropertyId.SessionExpiryInterval or PropertyId.WillDelayInterval
            or PropertyId.MaximumPacketSize => PropertyType.FourByteInteger,
        PropertyId.SubscriptionIdentifier => PropertyType.VariableByteInteger,
        PropertyId.ContentType or PropertyId.ResponseTopic or PropertyId.AssignedClientIdentifier or PropertyId.AuthenticationMethod
            or PropertyId.ResponseInformation or PropertyId.ServerReference or PropertyId.ReasonString => PropertyType.Utf8String,
        PropertyId.CorrelationData or PropertyId.AuthenticationData => PropertyType.BinaryData,
        PropertyId.UserProperty => PropertyType.Utf8StringPair,
        _ => null,
    };

    // Overloads instead of a params array: the mask is looked up for every property of every packet written.
    private static int Mask(PropertyContext a) => 1 << (int)a;

    private static int Mask(PropertyContext a, PropertyContext b) => Mask(a) | Mask(b);

    private static int Mask(PropertyContext a, PropertyContext b, PropertyContext c) => Mask(a, b) | Mask(c);

    private static int AllowedMask(PropertyId id) => id switch
    {
        PropertyId.PayloadFormatIndicator or PropertyId.MessageExpiryInterval or PropertyId.ContentType
            or PropertyId.ResponseTopic or PropertyId.CorrelationData => Mask(PropertyContext.Publish, PropertyContext.Will),
        PropertyId.SubscriptionIdentifier => Mask(PropertyContext.Publish, PropertyContext.Subscribe),
        PropertyId.SessionExpiryInterval => Mask(PropertyContext.Connect, PropertyContext.ConnAck, PropertyContext.Disconnect),
        PropertyId.AssignedClientIdentifier or PropertyId.ServerKeepAlive or PropertyId.ResponseInformation
            or PropertyId.MaximumQos or PropertyId.RetainAvailable or PropertyId.WildcardSubscriptionAvailable
            or PropertyId.SubscriptionIdentifierAvailable or PropertyId.SharedSubscriptionAvailable => Mask(PropertyContext.ConnAck),
        PropertyId.AuthenticationMethod or PropertyId.AuthenticationData => Mask(PropertyContext.Connect, PropertyContext.ConnAck, PropertyContext.Auth),
        PropertyId.RequestProblemInformation or PropertyId.RequestResponseInformation => Mask(PropertyContext.Connect),
        PropertyId.WillDelayInterval => Mask(PropertyContext.Will),
        PropertyId.ServerReference => Mask(PropertyContext.ConnAck, PropertyContext.Disconnect),
        PropertyId.ReasonString => Mask(PropertyContext.ConnAck, PropertyContext.PubAck, PropertyContext.SubAck)
            | Mask(PropertyContext.UnsubAck, PropertyContext.Disconnect, PropertyContext.Auth),
        PropertyId.ReceiveMaximum or PropertyId.TopicAliasMaximum or PropertyId.MaximumPacketSize => Mask(PropertyContext.Connect, PropertyContext.ConnAck),
        PropertyId.TopicAlias => Mask(PropertyContext.Publish),
        PropertyId.UserProperty => (1 << ContextCount) - 1,
        _ => 0,
    };
}
