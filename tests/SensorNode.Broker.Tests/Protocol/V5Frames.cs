using System.Buffers;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;
using static SensorNode.Broker.Tests.Protocol.RawFrames;

namespace SensorNode.Broker.Tests.Protocol;

/// <summary>
/// MQTT 5.0 bytes built by hand (independently of the writer under test) and decode helpers for the 5.0 tests.
/// </summary>
internal static class V5Frames
{
    /// <summary>A property list: Variable Byte Integer length (§1.5.5) then the given properties.</summary>
    public static byte[] Props(params byte[][] properties)
    {
        byte[] content = Concat(properties);
        return Concat(RemainingLength(content.Length), content);
    }

    public static byte[] U32(uint value) => [(byte)(value >> 24), (byte)(value >> 16), (byte)(value >> 8), (byte)value];

    /// <summary>Builds a minimal packet of <paramref name="context"/> carrying <paramref name="propertyList"/> (length included).</summary>
    public static byte[] PacketWithProperties(PropertyContext context, byte[] propertyList) => context switch
    {
        // CONNECT: "MQTT", level 5, Clean Start, keep alive 60, properties, client id "c".
        PropertyContext.Connect => Frame(0x10, Str("MQTT"), [5, 0x02], U16(60), propertyList, Str("c")),
        // CONNECT with Will Flag: empty CONNECT properties, client id, Will Properties, will topic "t", empty will payload.
        PropertyContext.Will => Frame(0x10, Str("MQTT"), [5, 0x06], U16(60), [0], Str("c"), propertyList, Str("t"), U16(0)),
        PropertyContext.ConnAck => Frame(0x20, [0, 0], propertyList),
        PropertyContext.Publish => Frame(0x30, Str("t"), propertyList, Utf8("x")),
        PropertyContext.PubAck => Frame(0x40, U16(1), [0], propertyList),
        PropertyContext.Subscribe => Frame(0x82, U16(1), propertyList, Str("f"), [0]),
        PropertyContext.SubAck => Frame(0x90, U16(1), propertyList, [0]),
        PropertyContext.Unsubscribe => Frame(0xA2, U16(1), propertyList, Str("f")),
        PropertyContext.UnsubAck => Frame(0xB0, U16(1), propertyList, [0]),
        PropertyContext.Disconnect => Frame(0xE0, [0], propertyList),
        PropertyContext.Auth => Frame(0xF0, [0x18], propertyList),
        _ => throw new ArgumentOutOfRangeException(nameof(context)),
    };

    /// <summary>True for the contexts of packets a server sends (decoded with fromServer: true).</summary>
    public static bool SentByServer(PropertyContext context) =>
        context is PropertyContext.ConnAck or PropertyContext.Publish or PropertyContext.SubAck or PropertyContext.UnsubAck;

    public static MqttPacket Decode(byte[] frame, bool fromServer = false)
    {
        var sequence = new ReadOnlySequence<byte>(frame);
        Assert.True(MqttFrameReader.TryReadFrame(ref sequence, int.MaxValue, out byte header, out ReadOnlySequence<byte> body), "a whole frame was expected");
        Assert.True(sequence.IsEmpty, "the frame must consume the whole input");
        return MqttPacketDecoder.Decode(header, body.ToArray(), ProtocolLevel.V500, fromServer);
    }

    public static MqttProtocolException DecodeFails(byte[] frame, bool fromServer = false) =>
        Assert.Throws<MqttProtocolException>(() => Decode(frame, fromServer));

    public static MqttProperties? PropertiesOf(MqttPacket packet, PropertyContext context) => (packet, context) switch
    {
        (ConnectPacket c, PropertyContext.Will) => c.Will!.Properties,
        (ConnectPacket c, _) => c.Properties,
        (ConnAckPacket c, _) => c.Properties,
        (PublishPacket p, _) => p.Properties,
        (PacketIdPacket p, _) => p.Properties,
        (SubscribePacket s, _) => s.Properties,
        (SubAckPacket s, _) => s.Properties,
        (UnsubscribePacket u, _) => u.Properties,
        (UnsubAckPacket u, _) => u.Properties,
        (DisconnectPacket d, _) => d.Properties,
        (AuthPacket a, _) => a.Properties,
        _ => throw new ArgumentException($"no properties on {packet.Type}"),
    };

    public static string Hex(byte[] bytes) => Convert.ToHexString(bytes);
}
