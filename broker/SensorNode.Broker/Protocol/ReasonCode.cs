namespace SensorNode.Broker.Protocol;

/// <summary>
/// MQTT 5.0 Reason Codes (§2.4, Table 2-6). One byte; values below 0x80 report success, 0x80 and above
/// report failure. 0x00 has three spec names: Success, Normal disconnection and Granted QoS 0.
/// </summary>
public enum ReasonCode : byte
{
    Success = 0x00,
#pragma warning disable CA1069 // The spec gives 0x00 several names, one per packet that uses it.
    NormalDisconnection = 0x00,
    GrantedQos0 = 0x00,
#pragma warning restore CA1069
    GrantedQos1 = 0x01,
    GrantedQos2 = 0x02,
    DisconnectWithWillMessage = 0x04,
    NoMatchingSubscribers = 0x10,
    NoSubscriptionExisted = 0x11,
    ContinueAuthentication = 0x18,
    ReAuthenticate = 0x19,
    UnspecifiedError = 0x80,
    MalformedPacket = 0x81,
    ProtocolError = 0x82,
    ImplementationSpecificError = 0x83,
    UnsupportedProtocolVersion = 0x84,
    ClientIdentifierNotValid = 0x85,
    BadUserNameOrPassword = 0x86,
    NotAuthorized = 0x87,
    ServerUnavailable = 0x88,
    ServerBusy = 0x89,
    Banned = 0x8A,
    ServerShuttingDown = 0x8B,
    BadAuthenticationMethod = 0x8C,
    KeepAliveTimeout = 0x8D,
    SessionTakenOver = 0x8E,
    TopicFilterInvalid = 0x8F,
    TopicNameInvalid = 0x90,
    PacketIdentifierInUse = 0x91,
    PacketIdentifierNotFound = 0x92,
    ReceiveMaximumExceeded = 0x93,
    TopicAliasInvalid = 0x94,
    PacketTooLarge = 0x95,
    MessageRateTooHigh = 0x96,
    QuotaExceeded = 0x97,
    AdministrativeAction = 0x98,
    PayloadFormatInvalid = 0x99,
    RetainNotSupported = 0x9A,
    QosNotSupported = 0x9B,
    UseAnotherServer = 0x9C,
    ServerMoved = 0x9D,
    SharedSubscriptionsNotSupported = 0x9E,
    ConnectionRateExceeded = 0x9F,
    MaximumConnectTime = 0xA0,
    SubscriptionIdentifiersNotSupported = 0xA1,
    WildcardSubscriptionsNotSupported = 0xA2,
}

/// <summary>Which Reason Codes each MQTT 5.0 packet may carry (§2.4 Table 2-6 and the per-packet tables of §3).</summary>
public static class ReasonCodes
{
    // CONNACK, Table 3-1 [MQTT-3.2.2-8].
    private static readonly byte[] ConnAck =
        [0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F];

    // PUBACK (Table 3-4) [MQTT-3.4.2-1] and PUBREC (Table 3-5) [MQTT-3.5.2-1].
    private static readonly byte[] PubAckPubRec = [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];

    // PUBREL (Table 3-6) [MQTT-3.6.2-1] and PUBCOMP (Table 3-7) [MQTT-3.7.2-1].
    private static readonly byte[] PubRelPubComp = [0x00, 0x92];

    // SUBACK, Table 3-8 [MQTT-3.9.3-2].
    private static readonly byte[] SubAck = [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2];

    // UNSUBACK, Table 3-9 [MQTT-3.11.3-2].
    private static readonly byte[] UnsubAck = [0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91];

    // DISCONNECT, Table 3-10 [MQTT-3.14.2-1].
    private static readonly byte[] Disconnect =
        [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2];

    // AUTH, Table 3-11 [MQTT-3.15.2-1].
    private static readonly byte[] Auth = [0x00, 0x18, 0x19];

    /// <summary>True when <paramref name="code"/> is one of the Reason Codes the spec lists for <paramref name="packet"/>.</summary>
    public static bool IsValidFor(PacketType packet, byte code) => packet switch
    {
        PacketType.ConnAck => ConnAck.AsSpan().Contains(code),
        PacketType.PubAck or PacketType.PubRec => PubAckPubRec.AsSpan().Contains(code),
        PacketType.PubRel or PacketType.PubComp => PubRelPubComp.AsSpan().Contains(code),
        PacketType.SubAck => SubAck.AsSpan().Contains(code),
        PacketType.UnsubAck => UnsubAck.AsSpan().Contains(code),
        PacketType.Disconnect => Disconnect.AsSpan().Contains(code),
        PacketType.Auth => Auth.AsSpan().Contains(code),
        _ => false,
    };

    public static bool IsValidFor(PacketType packet, ReasonCode code) => IsValidFor(packet, (byte)code);

    /// <summary>Reason Codes of 0x80 and above report failure (§2.4).</summary>
    public static bool IsError(this ReasonCode code) => (byte)code >= 0x80;

    /// <summary>The MQTT 3.1.1 CONNACK return code closest to a 5.0 CONNACK Reason Code.</summary>
    public static ConnectReturnCode ToConnectReturnCode(ReasonCode code) => code switch
    {
        ReasonCode.Success => ConnectReturnCode.Accepted,
        ReasonCode.UnsupportedProtocolVersion => ConnectReturnCode.UnacceptableProtocolVersion,
        ReasonCode.ClientIdentifierNotValid => ConnectReturnCode.IdentifierRejected,
        ReasonCode.BadUserNameOrPassword or ReasonCode.BadAuthenticationMethod => ConnectReturnCode.BadUserNameOrPassword,
        ReasonCode.NotAuthorized or ReasonCode.Banned => ConnectReturnCode.NotAuthorized,
        _ => ConnectReturnCode.ServerUnavailable,
    };

    /// <summary>The 5.0 CONNACK Reason Code for a 3.1.1 return code; unknown values become Unspecified error.</summary>
    public static ReasonCode FromConnectReturnCode(ConnectReturnCode code) => code switch
    {
        ConnectReturnCode.Accepted => ReasonCode.Success,
        ConnectReturnCode.UnacceptableProtocolVersion => ReasonCode.UnsupportedProtocolVersion,
        ConnectReturnCode.IdentifierRejected => ReasonCode.ClientIdentifierNotValid,
        ConnectReturnCode.ServerUnavailable => ReasonCode.ServerUnavailable,
        ConnectReturnCode.BadUserNameOrPassword => ReasonCode.BadUserNameOrPassword,
        ConnectReturnCode.NotAuthorized => ReasonCode.NotAuthorized,
        _ => ReasonCode.UnspecifiedError,
    };
}
