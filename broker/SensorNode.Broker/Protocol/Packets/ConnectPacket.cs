namespace SensorNode.Broker.Protocol.Packets;

/// <summary>CONNECT (3.1.1 §3.1).</summary>
public sealed class ConnectPacket : MqttPacket
{
    public override PacketType Type => PacketType.Connect;

    public string ProtocolName { get; set; } = "MQTT";

    public ProtocolLevel ProtocolLevel { get; set; } = ProtocolLevel.V311;

    public bool CleanSession { get; set; } = true;

    public ushort KeepAliveSeconds { get; set; }

    public string ClientId { get; set; } = string.Empty;

    public WillMessage? Will { get; set; }

    public string? UserName { get; set; }

    public byte[]? Password { get; set; }
}

/// <summary>The Will Message carried in CONNECT (§3.1.2.5, §3.1.3.2–3).</summary>
public sealed class WillMessage
{
    public required string Topic { get; init; }

    public required byte[] Payload { get; init; }

    public byte Qos { get; init; }

    public bool Retain { get; init; }
}

/// <summary>CONNACK (§3.2).</summary>
public sealed class ConnAckPacket(bool sessionPresent, ConnectReturnCode returnCode) : MqttPacket
{
    public override PacketType Type => PacketType.ConnAck;

    public bool SessionPresent { get; } = sessionPresent;

    public ConnectReturnCode ReturnCode { get; } = returnCode;
}
