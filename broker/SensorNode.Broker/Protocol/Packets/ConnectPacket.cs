using SensorNode.Broker.Protocol.V5;

namespace SensorNode.Broker.Protocol.Packets;

/// <summary>CONNECT (3.1.1 §3.1, 5.0 §3.1).</summary>
public sealed class ConnectPacket : MqttPacket
{
    public override PacketType Type => PacketType.Connect;

    public string ProtocolName { get; set; } = "MQTT";

    public ProtocolLevel ProtocolLevel { get; set; } = ProtocolLevel.V311;

    /// <summary>
    /// The protocol level had its top bit set (0x83, 0x84): a Mosquitto-style bridge, asking not to get its own
    /// messages back and to get the RETAIN flag as published (mosquitto.conf <c>try_private</c>, on by default).
    /// </summary>
    public bool IsBridge { get; set; }

    /// <summary>Clean Session (3.1.1) / Clean Start (5.0): the same flag bit 1.</summary>
    public bool CleanSession { get; set; } = true;

    /// <summary>The 5.0 name of <see cref="CleanSession"/> (§3.1.2.4).</summary>
    public bool CleanStart
    {
        get => CleanSession;
        set => CleanSession = value;
    }

    public ushort KeepAliveSeconds { get; set; }

    public string ClientId { get; set; } = string.Empty;

    public WillMessage? Will { get; set; }

    public string? UserName { get; set; }

    public byte[]? Password { get; set; }

    /// <summary>CONNECT properties (5.0 §3.1.2.11); null when absent or for 3.1/3.1.1.</summary>
    public MqttProperties? Properties { get; set; }
}

/// <summary>The Will Message carried in CONNECT (§3.1.2.5, §3.1.3.2–3).</summary>
public sealed class WillMessage
{
    public required string Topic { get; init; }

    public required byte[] Payload { get; init; }

    public byte Qos { get; init; }

    public bool Retain { get; init; }

    /// <summary>Will Properties (5.0 §3.1.3.2); null when absent or for 3.1/3.1.1.</summary>
    public MqttProperties? Properties { get; init; }
}

/// <summary>
/// CONNACK (§3.2). Holds both views of the result: the 3.1.1 <see cref="ReturnCode"/> and the 5.0
/// <see cref="ReasonCode"/>; whichever one the packet is built from, the other is the closest equivalent.
/// </summary>
public sealed class ConnAckPacket : MqttPacket
{
    /// <summary>A 3.1/3.1.1 CONNACK.</summary>
    public ConnAckPacket(bool sessionPresent, ConnectReturnCode returnCode)
    {
        SessionPresent = sessionPresent;
        ReturnCode = returnCode;
        ReasonCode = ReasonCodes.FromConnectReturnCode(returnCode);
    }

    /// <summary>A 5.0 CONNACK.</summary>
    public ConnAckPacket(bool sessionPresent, ReasonCode reasonCode, MqttProperties? properties = null)
    {
        SessionPresent = sessionPresent;
        ReasonCode = reasonCode;
        ReturnCode = ReasonCodes.ToConnectReturnCode(reasonCode);
        Properties = properties;
    }

    public override PacketType Type => PacketType.ConnAck;

    public bool SessionPresent { get; }

    /// <summary>3.1.1 view (§3.2.2.3).</summary>
    public ConnectReturnCode ReturnCode { get; }

    /// <summary>5.0 view (§3.2.2.2, Table 3-1).</summary>
    public ReasonCode ReasonCode { get; }

    /// <summary>CONNACK properties (5.0 §3.2.2.3).</summary>
    public MqttProperties? Properties { get; init; }
}
