namespace SensorNode.Broker.Protocol;

/// <summary>Control packet types, the high nibble of the fixed header (MQTT 3.1.1 §2.2.1, 5.0 §2.1.2).</summary>
public enum PacketType : byte
{
    Connect = 1,
    ConnAck = 2,
    Publish = 3,
    PubAck = 4,
    PubRec = 5,
    PubRel = 6,
    PubComp = 7,
    Subscribe = 8,
    SubAck = 9,
    Unsubscribe = 10,
    UnsubAck = 11,
    PingReq = 12,
    PingResp = 13,
    Disconnect = 14,
    Auth = 15,
}

/// <summary>The protocol level byte of CONNECT: 3 = MQTT 3.1 ("MQIsdp"), 4 = 3.1.1, 5 = 5.0.</summary>
public enum ProtocolLevel : byte
{
    V310 = 3,
    V311 = 4,
    V500 = 5,
}

/// <summary>CONNACK return codes of MQTT 3.1 / 3.1.1 (§3.2.2.3).</summary>
public enum ConnectReturnCode : byte
{
    Accepted = 0x00,
    UnacceptableProtocolVersion = 0x01,
    IdentifierRejected = 0x02,
    ServerUnavailable = 0x03,
    BadUserNameOrPassword = 0x04,
    NotAuthorized = 0x05,
}
