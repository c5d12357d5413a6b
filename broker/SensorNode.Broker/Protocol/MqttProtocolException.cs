namespace SensorNode.Broker.Protocol;

/// <summary>
/// Why a connection is closed by the broker. The values are the MQTT 5.0 reason codes (§2.4), so the
/// same reason can be logged for a 3.1.1 client and sent in a DISCONNECT to a 5.0 client.
/// </summary>
public enum DisconnectReason : byte
{
    NormalDisconnection = 0x00,
    UnspecifiedError = 0x80,
    MalformedPacket = 0x81,
    ProtocolError = 0x82,
    ImplementationSpecificError = 0x83,
    NotAuthorized = 0x87,
    ServerBusy = 0x89,
    ServerShuttingDown = 0x8B,
    BadAuthenticationMethod = 0x8C,
    KeepAliveTimeout = 0x8D,
    SessionTakenOver = 0x8E,
    TopicFilterInvalid = 0x8F,
    TopicNameInvalid = 0x90,
    ReceiveMaximumExceeded = 0x93,
    TopicAliasInvalid = 0x94,
    PacketTooLarge = 0x95,
    QuotaExceeded = 0x97,
    PayloadFormatInvalid = 0x99,
    RetainNotSupported = 0x9A,
    QosNotSupported = 0x9B,
    MaximumConnectTime = 0xA0,
}

/// <summary>Thrown by the codec when a packet breaks the protocol; the connection that sent it is closed.</summary>
public sealed class MqttProtocolException : Exception
{
    public MqttProtocolException(DisconnectReason reason, string message)
        : base(message)
    {
        Reason = reason;
    }

    public DisconnectReason Reason { get; }

    public static MqttProtocolException Malformed(string message) => new(DisconnectReason.MalformedPacket, message);

    public static MqttProtocolException ProtocolError(string message) => new(DisconnectReason.ProtocolError, message);
}
