using System.Text;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;
using SensorNode.Broker.Protocol.V5;
using static SensorNode.Broker.Tests.Protocol.RawFrames;

namespace SensorNode.Broker.Tests.Hardening;

/// <summary>One broker for the whole table, with a raw observer subscribed to "health/#" and a raw publisher.</summary>
public sealed class MalformedTableFixture : IAsyncLifetime
{
    public BrokerServer Server { get; private set; } = null!;

    public RawMqttClient Observer { get; private set; } = null!;

    public RawMqttClient Publisher { get; private set; } = null!;

    public SemaphoreSlim Gate { get; } = new(1, 1);

    public async Task InitializeAsync()
    {
        Server = await Infrastructure.TestBroker.StartAsync(o => o.Persistence = PersistenceMode.Memory);
        Observer = await RawMqttClient.ConnectAsync(Server.Port);
        await Observer.SendAsync(Connect("table-observer"));
        Assert.IsType<ConnAckPacket>(await Observer.ReceiveAsync());
        await Observer.SendAsync(Subscribe(1, ("health/#", 0)));
        Assert.IsType<SubAckPacket>(await Observer.ReceiveAsync());
        Publisher = await RawMqttClient.ConnectAsync(Server.Port);
        await Publisher.SendAsync(Connect("table-publisher"));
        Assert.IsType<ConnAckPacket>(await Publisher.ReceiveAsync());
    }

    public async Task DisposeAsync()
    {
        await Observer.DisposeAsync();
        await Publisher.DisposeAsync();
        await Server.DisposeAsync();
    }
}

/// <summary>
/// Several hundred malformed and out-of-order packet sequences for 3.1.1 and 5.0, generated from compact tables.
/// Each asserts the exact reaction of the broker — the packets it answers with, in order, and whether it then closes
/// the connection (for 5.0 after a DISCONNECT with the reason code) or keeps it (proved by PINGREQ → PINGRESP with
/// nothing in between) — and that a bystander client still receives a message published afterwards.
/// </summary>
public sealed class MalformedSequenceTableTests(MalformedTableFixture fixture) : IClassFixture<MalformedTableFixture>
{
    private const byte V3 = 4;
    private const byte V5 = 5;

    /// <summary>A table row. Replies use <see cref="Short"/>'s notation; Closed false means the connection must stay usable.</summary>
    public sealed record Case(string Name, byte Level, bool Connect, byte[][] Packets, string[] Replies, bool Closed, bool HalfClose = false)
    {
        public override string ToString() => Name;
    }

    private static Case Close(string name, byte level, params byte[][] packets) =>
        new(name, level, true, packets, level == V5 ? ["DISCONNECT ProtocolError"] : [], true);

    private static Case Dis(string name, byte level, ReasonCode code, params byte[][] packets) =>
        new(name, level, true, packets, level == V5 ? [$"DISCONNECT {code}"] : [], true);

    private static Case Alive(string name, byte level, string[] replies, params byte[][] packets) => new(name, level, true, packets, replies, false);

    private static Case BeforeConnect(string name, params byte[][] packets) => new(name, V3, false, packets, [], true);

    // ------------------------------------------------------------------ frames

    private static byte[] Connect3(string id) => Frame(0x10, Str("MQTT"), [4, 0x02], U16(60), Str(id));

    private static byte[] Connect5(string id, byte[]? props = null) => Frame(0x10, Str("MQTT"), [5, 0x02], U16(60), props ?? [0], Str(id));

    private static byte[] P(params byte[][] properties)
    {
        byte[] content = Concat(properties);
        return Concat(RemainingLength(content.Length), content);
    }

    private static byte[] Pub5(string topic, byte[] props, byte qos = 0, ushort id = 1, string payload = "x") =>
        Frame((byte)(0x30 | (qos << 1)), Str(topic), qos > 0 ? U16(id) : [], props, Utf8(payload));

    /// <summary>One property of <paramref name="id"/> with a well-typed value.</summary>
    private static byte[] Prop(PropertyId id) => MqttPropertyRules.TypeOf(id) switch
    {
        PropertyType.Byte => [(byte)id, 0],
        PropertyType.TwoByteInteger => [(byte)id, 0, 1],
        PropertyType.FourByteInteger => [(byte)id, 0, 0, 0, 1],
        PropertyType.VariableByteInteger => [(byte)id, 1],
        PropertyType.Utf8String => id == PropertyId.ResponseTopic ? [(byte)id, 0, 1, (byte)'r'] : [(byte)id, 0, 1, (byte)'x'],
        PropertyType.BinaryData => [(byte)id, 0, 1, 7],
        _ => [(byte)id, 0, 1, (byte)'k', 0, 1, (byte)'v'],
    };

    /// <summary>A 5.0 client packet of the context carrying the property list.</summary>
    private static byte[] InContext(PropertyContext context, byte[] props) => context switch
    {
        PropertyContext.Publish => Pub5("t/x", props),
        PropertyContext.PubAck => Frame(0x40, U16(4242), [0], props),
        PropertyContext.Subscribe => Frame(0x82, U16(5), props, Str("t/s"), [0]),
        PropertyContext.Unsubscribe => Frame(0xA2, U16(5), props, Str("t/s")),
        PropertyContext.Disconnect => Frame(0xE0, [0], props),
        _ => throw new ArgumentOutOfRangeException(nameof(context)),
    };

    // ------------------------------------------------------------------ the tables

    public static IEnumerable<Case> AllCases()
    {
        var cases = new List<Case>();
        foreach (byte level in new[] { V3, V5 })
        {
            string v = level == V5 ? "5.0" : "3.1.1";

            // Reserved fixed-header flags on every type [MQTT-2.2.2-2]: Malformed.
            for (int type = 1; type <= 14; type++)
            {
                int valid = type is 6 or 8 or 10 ? 2 : 0;
                if (type == 3)
                {
                    continue;
                }

                foreach (int flags in new[] { 0, 1, 2, 4, 8 }.Where(f => f != valid))
                {
                    cases.Add(Dis($"{v} type {type} flags {flags:X}", level, ReasonCode.MalformedPacket, Frame((byte)((type << 4) | flags), U16(1))));
                }
            }

            cases.Add(Dis($"{v} reserved type 0", level, ReasonCode.MalformedPacket, Frame(0x00, U16(1))));
            cases.Add(Dis($"{v} PUBLISH QoS 3", level, ReasonCode.MalformedPacket, Frame(0x36, Str("t/q"), U16(1), Utf8("x"))));
            cases.Add(Close($"{v} PUBLISH QoS 0 with DUP", level, Frame(0x38, Str("t/q"), level == V5 ? [0] : [], Utf8("x"))));

            // Packets only a server sends, with their valid flags: Protocol Error.
            foreach ((string name, byte[] frame) in new[]
            {
                ("CONNACK", Frame(0x20, [0, 0], level == V5 ? [0] : [])),
                ("SUBACK", Frame(0x90, U16(1), level == V5 ? [0] : [], [0])),
                ("UNSUBACK", level == V5 ? Frame(0xB0, U16(1), [0], [0]) : Frame(0xB0, U16(1))),
                ("PINGRESP", Frame(0xD0)),
            })
            {
                cases.Add(Close($"{v} client sends {name}", level, frame));
            }

            // AUTH is not 3.1.1; in 5.0 without an Authentication Method in CONNECT it is a Protocol Error.
            if (level == V3)
            {
                cases.Add(Close($"{v} AUTH", level, Frame(0xF0)));
            }

            // Duplicate CONNECT [MQTT-3.1.0-2].
            cases.Add(Close($"{v} second CONNECT", level, level == V5 ? Connect5("again") : Connect3("again")));
            cases.Add(Close($"{v} second CONNECT same id", level, level == V5 ? Connect5("dup") : Connect3("dup")));

            // Bad remaining lengths.
            byte[] noProps = level == V5 ? [0] : [];
            foreach ((string name, byte header) in new[] { ("PUBACK", (byte)0x40), ("PUBREC", (byte)0x50), ("PUBREL", (byte)0x62), ("PUBCOMP", (byte)0x70) })
            {
                cases.Add(Dis($"{v} {name} length 0", level, ReasonCode.MalformedPacket, Frame(header)));
                cases.Add(Dis($"{v} {name} length 1", level, ReasonCode.MalformedPacket, Frame(header, [1])));
                if (level == V3)
                {
                    cases.Add(Close($"{v} {name} length 3", level, Frame(header, U16(1), [0])));
                }
                else
                {
                    cases.Add(Dis($"{v} {name} property length overruns", level, ReasonCode.MalformedPacket, Frame(header, U16(1), [0], [9], [0x1F, 0, 1])));
                    cases.Add(Dis($"{v} {name} bytes after properties", level, ReasonCode.MalformedPacket, Frame(header, U16(1), [0], [0], [1])));
                }
            }

            cases.Add(Dis($"{v} PINGREQ length 1", level, ReasonCode.MalformedPacket, Frame(0xC0, [0])));
            if (level == V3)
            {
                cases.Add(Close($"{v} DISCONNECT length 1", level, Frame(0xE0, [0])));
            }

            cases.Add(Dis($"{v} PUBLISH topic length past the end", level, ReasonCode.MalformedPacket, Frame(0x30, U16(50), Utf8("t/abc"))));
            cases.Add(Dis($"{v} PUBLISH QoS 1 without packet id", level, ReasonCode.MalformedPacket, Frame(0x32, Str("t/q"))));
            cases.Add(Dis($"{v} PUBLISH empty body", level, ReasonCode.MalformedPacket, Frame(0x30)));
            cases.Add(Dis($"{v} SUBSCRIBE filter without options byte", level, ReasonCode.MalformedPacket, Frame(0x82, U16(1), noProps, Str("t/s"))));
            cases.Add(Dis($"{v} SUBSCRIBE filter length past the end", level, ReasonCode.MalformedPacket, Frame(0x82, U16(1), noProps, U16(40), Utf8("t"))));
            cases.Add(Dis($"{v} SUBSCRIBE packet id only half", level, ReasonCode.MalformedPacket, Frame(0x82, [0])));
            cases.Add(Close($"{v} SUBSCRIBE without filters", level, Frame(0x82, U16(1), noProps)));
            cases.Add(Close($"{v} UNSUBSCRIBE without filters", level, Frame(0xA2, U16(1), noProps)));
            cases.Add(Dis($"{v} UNSUBSCRIBE filter length past the end", level, ReasonCode.MalformedPacket, Frame(0xA2, U16(1), noProps, U16(9), Utf8("ab"))));
            cases.Add(Dis($"{v} remaining length of 5 bytes", level, ReasonCode.MalformedPacket, [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]));
            cases.Add(Dis($"{v} packet larger than the maximum", level, ReasonCode.PacketTooLarge, [0x30, 0xFF, 0xFF, 0xFF, 0x7F]));

            // Packet identifier 0 [MQTT-2.3.1-1].
            cases.Add(Close($"{v} PUBLISH QoS 1 id 0", level, Frame(0x32, Str("t/q"), U16(0), noProps, Utf8("x"))));
            cases.Add(Close($"{v} PUBLISH QoS 2 id 0", level, Frame(0x34, Str("t/q"), U16(0), noProps, Utf8("x"))));
            // A PUBLISH's is a Protocol Error, a SUBSCRIBE's or UNSUBSCRIBE's makes it malformed (as Mosquitto judges them).
            cases.Add(Dis($"{v} SUBSCRIBE id 0", level, ReasonCode.MalformedPacket, Frame(0x82, U16(0), noProps, Str("t/s"), [0])));
            cases.Add(Dis($"{v} UNSUBSCRIBE id 0", level, ReasonCode.MalformedPacket, Frame(0xA2, U16(0), noProps, Str("t/s"))));

            // Topics: wildcards in names, invalid UTF-8, U+0000.
            cases.Add(Dis($"{v} PUBLISH topic with +", level, ReasonCode.TopicNameInvalid, Frame(0x30, Str("t/+"), noProps, Utf8("x"))));
            cases.Add(Dis($"{v} PUBLISH topic with #", level, ReasonCode.TopicNameInvalid, Frame(0x30, Str("t/#"), noProps, Utf8("x"))));
            cases.Add(Dis($"{v} PUBLISH topic with U+0000", level, ReasonCode.MalformedPacket, Frame(0x30, U16(3), [(byte)'t', 0, (byte)'a'], noProps, Utf8("x"))));
            cases.Add(Dis($"{v} PUBLISH topic with a lone continuation byte", level, ReasonCode.MalformedPacket, Frame(0x30, U16(2), [(byte)'t', 0x80], noProps, Utf8("x"))));
            cases.Add(Dis($"{v} PUBLISH topic with an encoded surrogate", level, ReasonCode.MalformedPacket, Frame(0x30, U16(3), [0xED, 0xA0, 0x80], noProps, Utf8("x"))));
            cases.Add(Dis($"{v} PUBLISH topic with an overlong slash", level, ReasonCode.MalformedPacket, Frame(0x30, U16(2), [0xC0, 0xAF], noProps, Utf8("x"))));
            cases.Add(Dis($"{v} SUBSCRIBE filter with invalid UTF-8", level, ReasonCode.MalformedPacket, Frame(0x82, U16(1), noProps, U16(1), [0xFF], [0])));
            if (level == V3)
            {
                cases.Add(Dis($"{v} PUBLISH empty topic", level, ReasonCode.TopicNameInvalid, Frame(0x30, U16(0), Utf8("x"))));
                cases.Add(Close($"{v} SUBSCRIBE QoS 3", level, Frame(0x82, U16(1), Str("t/s"), [3])));
                cases.Add(Close($"{v} SUBSCRIBE reserved option bits", level, Frame(0x82, U16(1), Str("t/s"), [0x04])));
            }

            // Acknowledgements for identifiers the broker never used: ignored, or answered so the peer can finish.
            cases.Add(Alive($"{v} PUBACK for an unknown id", level, [], Frame(0x40, U16(4242))));
            cases.Add(Alive($"{v} PUBCOMP for an unknown id", level, [], Frame(0x70, U16(4242))));
            cases.Add(Alive($"{v} PUBREC for an unknown id", level, ["PUBREL 4242"], Frame(0x50, U16(4242))));
            cases.Add(Alive($"{v} PUBREL for an unknown id", level, [level == V5 ? "PUBCOMP 4242 PacketIdentifierNotFound" : "PUBCOMP 4242"], Frame(0x62, U16(4242))));
            cases.Add(Alive($"{v} PUBREL twice after QoS 2", level,
                [level == V5 ? "PUBREC 9 NoMatchingSubscribers" : "PUBREC 9", "PUBCOMP 9", level == V5 ? "PUBCOMP 9 PacketIdentifierNotFound" : "PUBCOMP 9"],
                Frame(0x34, Str("t/q2"), U16(9), noProps, Utf8("x")), Frame(0x62, U16(9)), Frame(0x62, U16(9))));
            // 5.0: the first PUBREC says 0x10 (no subscribers); the re-sent one is a plain duplicate acknowledgement.
            cases.Add(Alive($"{v} QoS 2 resent before PUBREL", level, [level == V5 ? "PUBREC 10 NoMatchingSubscribers" : "PUBREC 10", "PUBREC 10", "PUBCOMP 10"],
                Frame(0x34, Str("t/q2"), U16(10), noProps, Utf8("x")), Frame(0x3C, Str("t/q2"), U16(10), noProps, Utf8("x")), Frame(0x62, U16(10))));
            cases.Add(Alive($"{v} QoS 1 same id twice", level, level == V5 ? ["PUBACK 11 NoMatchingSubscribers", "PUBACK 11 NoMatchingSubscribers"] : ["PUBACK 11", "PUBACK 11"],
                Frame(0x32, Str("t/q1"), U16(11), noProps, Utf8("x")), Frame(0x3A, Str("t/q1"), U16(11), noProps, Utf8("x"))));
            cases.Add(Alive($"{v} PINGREQ burst", level, ["PINGRESP", "PINGRESP", "PINGRESP"], Frame(0xC0), Frame(0xC0), Frame(0xC0)));
            // Filters that are not well formed close the connection, as in Mosquitto: 0x8F is for a filter that is
            // correctly formed but not allowed. A wildcard out of place [MQTT-4.7.1-2] [MQTT-4.7.1-3] or an empty filter
            // [MQTT-4.7.3-1] is malformed; a good filter before the bad one is not applied either.
            cases.Add(Dis($"{v} SUBSCRIBE filter with # inside", level, ReasonCode.MalformedPacket, Frame(0x82, U16(3), noProps, Str("t/ok"), [0], Str("a/#/b"), [0])));
            cases.Add(Dis($"{v} SUBSCRIBE filter with # after a character", level, ReasonCode.MalformedPacket, Frame(0x82, U16(3), noProps, Str("sport/tennis#"), [0])));
            cases.Add(Dis($"{v} SUBSCRIBE filter with + beside a character", level, ReasonCode.MalformedPacket, Frame(0x82, U16(3), noProps, Str("a+"), [0])));
            cases.Add(Dis($"{v} SUBSCRIBE empty filter", level, ReasonCode.MalformedPacket, Frame(0x82, U16(3), noProps, Str(""), [0])));
            cases.Add(Dis($"{v} UNSUBSCRIBE filter with + beside a character", level, ReasonCode.MalformedPacket, Frame(0xA2, U16(3), noProps, Str("never/here"), Str("a/b+"))));
            cases.Add(Dis($"{v} UNSUBSCRIBE empty filter", level, ReasonCode.MalformedPacket, Frame(0xA2, U16(3), noProps, Str(""))));
            // A bad Shared Subscription is a Protocol Error in 5.0 [MQTT-4.8.2-1] [MQTT-4.8.2-2]; in 3.1.1 "$share/g" is a
            // legal filter, which the broker refuses in the SUBACK.
            if (level == V5)
            {
                cases.Add(Close($"{v} SUBSCRIBE shared subscription without filter", level, Frame(0x82, U16(6), noProps, Str("$share/g"), [0])));
                cases.Add(Close($"{v} SUBSCRIBE shared subscription with a wildcard ShareName", level, Frame(0x82, U16(6), noProps, Str("$share/+/t"), [0])));
                cases.Add(Close($"{v} SUBSCRIBE shared subscription with a ShareName ending in +", level, Frame(0x82, U16(6), noProps, Str("$share/g+/t"), [0])));
            }
            else
            {
                cases.Add(Alive($"{v} SUBSCRIBE shared subscription without filter", level, ["SUBACK 6 80"], Frame(0x82, U16(6), noProps, Str("$share/g"), [0])));
                cases.Add(Alive($"{v} SUBSCRIBE shared subscription with a wildcard ShareName", level, ["SUBACK 6 80"], Frame(0x82, U16(6), noProps, Str("$share/+/t"), [0])));
            }
            cases.Add(Alive($"{v} UNSUBSCRIBE never subscribed", level, [level == V5 ? "UNSUBACK 4 NoSubscriptionExisted" : "UNSUBACK 4"], Frame(0xA2, U16(4), noProps, Str("never/here"))));
            cases.Add(Alive($"{v} zero-length payload and 1-byte topic", level, [], Frame(0x30, Str("t"), noProps)));

            // Truncated packets: the peer sends part of a packet and half-closes; the broker closes without answering.
            byte[][] whole =
            [
                Frame(0x32, Str("t/cut"), U16(3), noProps, Utf8("xyz")),
                Frame(0x82, U16(4), noProps, Str("t/cut"), [1]),
                Frame(0x62, U16(5)),
            ];
            foreach (byte[] packet in whole)
            {
                for (int cut = 1; cut < packet.Length; cut++)
                {
                    cases.Add(new Case($"{v} truncated 0x{packet[0]:X2} after {cut} of {packet.Length} bytes", level, true, [packet[..cut]], [], true, HalfClose: true));
                }
            }

            cases.Add(new Case($"{v} truncated CONNECT", level, false, [(level == V5 ? Connect5("cut") : Connect3("cut"))[..9]], [], true, HalfClose: true));

            // Anything after DISCONNECT on the same write is not processed: no answer, the connection ends.
            cases.Add(new Case($"{v} PUBLISH after DISCONNECT", level, true, [Frame(0xE0), Frame(0x32, Str("t/after"), U16(1), noProps, Utf8("x"))], [], true));
            cases.Add(new Case($"{v} PINGREQ after DISCONNECT", level, true, [Frame(0xE0), Frame(0xC0)], [], true));
        }

        // ---- MQTT 5.0 properties: not allowed in the packet (malformed, §2.2.2.2), duplicated, bad values.
        foreach (PropertyContext context in new[] { PropertyContext.Publish, PropertyContext.PubAck, PropertyContext.Subscribe, PropertyContext.Unsubscribe, PropertyContext.Disconnect })
        {
            foreach (PropertyId id in MqttPropertyRules.All.Where(id => !MqttPropertyRules.IsAllowed(id, context)))
            {
                cases.Add(Dis($"5.0 {context} with {id}", V5, ReasonCode.MalformedPacket, InContext(context, P(Prop(id)))));
            }

            foreach (PropertyId id in MqttPropertyRules.All.Where(id => MqttPropertyRules.IsAllowed(id, context) && !MqttPropertyRules.AllowsMultiple(id, context)))
            {
                if (context == PropertyContext.Publish && id == PropertyId.SubscriptionIdentifier)
                {
                    continue;
                }

                cases.Add(Close($"5.0 {context} with {id} twice", V5, InContext(context, P(Prop(id), Prop(id)))));
            }

            foreach (byte undefined in new byte[] { 0x00, 0x04, 0x0A, 0x14, 0x2B, 0x7F })
            {
                cases.Add(Dis($"5.0 {context} undefined property 0x{undefined:X2}", V5, ReasonCode.MalformedPacket, InContext(context, P([undefined, 0]))));
            }

            cases.Add(Dis($"5.0 {context} property value past the list", V5, ReasonCode.MalformedPacket, InContext(context, [3, 0x26, 0, 5])));
            cases.Add(Dis($"5.0 {context} user property invalid UTF-8", V5, ReasonCode.MalformedPacket, InContext(context, P([0x26, 0, 1, 0xFF, 0, 1, (byte)'v']))));
            cases.Add(Alive($"5.0 {context} many user properties", V5, context switch
            {
                PropertyContext.Subscribe => ["SUBACK 5 00"],
                PropertyContext.Unsubscribe => ["UNSUBACK 5 NoSubscriptionExisted"],
                _ => [],
            }, context == PropertyContext.Disconnect ? [] : [InContext(context, P([.. Enumerable.Range(0, 50).Select(_ => Prop(PropertyId.UserProperty))]))]));
        }

        cases.Add(Close("5.0 PUBLISH Subscription Identifier from a client", V5, Pub5("t/x", P([0x0B, 5]))));
        cases.Add(Close("5.0 PUBLISH Payload Format Indicator 2", V5, Pub5("t/x", P([0x01, 2]))));
        cases.Add(Close("5.0 PUBLISH Payload Format Indicator 255", V5, Pub5("t/x", P([0x01, 255]))));
        cases.Add(Dis("5.0 PUBLISH Payload Format 1 with invalid UTF-8", V5, ReasonCode.PayloadFormatInvalid, Frame(0x30, Str("t/x"), P([0x01, 1]), [0xC3, 0x28])));
        cases.Add(Dis("5.0 PUBLISH Topic Alias 0", V5, ReasonCode.TopicAliasInvalid, Pub5("t/x", P([0x23, 0, 0]))));
        cases.Add(Dis("5.0 PUBLISH Topic Alias 65 over the maximum 64", V5, ReasonCode.TopicAliasInvalid, Pub5("t/x", P([0x23, 0, 65]))));
        cases.Add(Dis("5.0 PUBLISH Topic Alias 65535", V5, ReasonCode.TopicAliasInvalid, Pub5("t/x", P([0x23, 0xFF, 0xFF]))));
        cases.Add(Dis("5.0 PUBLISH empty topic with an alias never set", V5, ReasonCode.ProtocolError, Pub5(string.Empty, P([0x23, 0, 3]))));
        cases.Add(Dis("5.0 PUBLISH empty topic without an alias", V5, ReasonCode.ProtocolError, Pub5(string.Empty, [0])));
        cases.Add(Alive("5.0 PUBLISH alias set then used", V5, ["PUBACK 2 NoMatchingSubscribers"], Pub5("t/alias", P([0x23, 0, 7])), Pub5(string.Empty, P([0x23, 0, 7]), qos: 1, id: 2)));
        cases.Add(Alive("5.0 PUBLISH alias 64 (the maximum)", V5, [], Pub5("t/alias64", P([0x23, 0, 64]))));
        cases.Add(Close("5.0 PUBLISH Response Topic with a wildcard", V5, Pub5("t/x", P([0x08, 0, 3, (byte)'a', (byte)'/', (byte)'#']))));
        cases.Add(Dis("5.0 PUBLISH Content Type with U+0000", V5, ReasonCode.MalformedPacket, Pub5("t/x", P([0x03, 0, 1, 0]))));
        cases.Add(Close("5.0 SUBSCRIBE Subscription Identifier 0", V5, Frame(0x82, U16(5), P([0x0B, 0]), Str("t/s"), [0])));
        cases.Add(Dis("5.0 SUBSCRIBE Subscription Identifier of 5 bytes", V5, ReasonCode.MalformedPacket, Frame(0x82, U16(5), P([0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]), Str("t/s"), [0])));
        cases.Add(Dis("5.0 SUBSCRIBE reserved option bits", V5, ReasonCode.MalformedPacket, Frame(0x82, U16(5), [0], Str("t/s"), [0xC0])));
        cases.Add(Close("5.0 SUBSCRIBE QoS 3", V5, Frame(0x82, U16(5), [0], Str("t/s"), [3])));
        cases.Add(Close("5.0 SUBSCRIBE Retain Handling 3", V5, Frame(0x82, U16(5), [0], Str("t/s"), [0x30])));
        cases.Add(Close("5.0 SUBSCRIBE No Local on a shared subscription", V5, Frame(0x82, U16(5), [0], Str("$share/g/t/s"), [0x04])));
        cases.Add(Close("5.0 PUBACK reason 0x05 is not a PUBACK code", V5, Frame(0x40, U16(4242), [0x05])));
        cases.Add(Close("5.0 PUBREL reason 0x10 is not a PUBREL code", V5, Frame(0x62, U16(4242), [0x10])));
        cases.Add(Close("5.0 PUBCOMP reason 0x87 is not a PUBCOMP code", V5, Frame(0x70, U16(4242), [0x87])));
        cases.Add(Alive("5.0 PUBREC 0x80 for an unknown id", V5, [], Frame(0x50, U16(4242), [0x80])));
        cases.Add(Alive("5.0 PUBACK 0x10 with Reason String", V5, [], Frame(0x40, U16(4242), [0x10], P([0x1F, 0, 2, (byte)'o', (byte)'k']))));
        cases.Add(Close("5.0 DISCONNECT reason 0x03", V5, Frame(0xE0, [0x03])));
        cases.Add(Close("5.0 DISCONNECT Session Expiry after CONNECT had 0", V5, Frame(0xE0, [0], P([0x11, 0, 0, 0, 10]))));
        cases.Add(new Case("5.0 DISCONNECT with reason code only", V5, true, [Frame(0xE0, [0x00])], [], true));
        cases.Add(new Case("5.0 DISCONNECT 0x04 with will", V5, true, [Frame(0xE0, [0x04])], [], true));

        // AUTH misuse (the CONNECT had no Authentication Method).
        cases.Add(Close("5.0 AUTH re-authenticate without a method in CONNECT", V5, Frame(0xF0, [0x19], P([0x15, 0, 1, (byte)'m']))));
        cases.Add(Close("5.0 AUTH continue without an exchange", V5, Frame(0xF0, [0x18], P([0x15, 0, 1, (byte)'m']))));
        cases.Add(Close("5.0 AUTH empty", V5, Frame(0xF0)));
        cases.Add(Close("5.0 AUTH reason 0x05", V5, Frame(0xF0, [0x05])));
        cases.Add(Close("5.0 AUTH with Authentication Data only", V5, Frame(0xF0, [0x19], P([0x16, 0, 1, 1]))));
        cases.Add(Dis("5.0 AUTH flags 1", V5, ReasonCode.MalformedPacket, Frame(0xF1)));

        // ---- Before CONNECT: every other packet type first closes at once, nothing sent [MQTT-3.1.0-1].
        foreach ((string name, byte[] frame) in new[]
        {
            ("PUBLISH", Frame(0x30, Str("t/x"), Utf8("x"))), ("PUBACK", Frame(0x40, U16(1))), ("PUBREC", Frame(0x50, U16(1))),
            ("PUBREL", Frame(0x62, U16(1))), ("PUBCOMP", Frame(0x70, U16(1))), ("SUBSCRIBE", Subscribe(1, ("a", 0))),
            ("UNSUBSCRIBE", Unsubscribe(1, "a")), ("PINGREQ", Frame(0xC0)), ("DISCONNECT", Frame(0xE0)), ("AUTH", Frame(0xF0)),
            ("CONNACK", Frame(0x20, [0, 0])), ("SUBACK", Frame(0x90, U16(1), [0])), ("UNSUBACK", Frame(0xB0, U16(1))),
            ("PINGRESP", Frame(0xD0)), ("type 0", Frame(0x00)), ("CONNECT with flags 1", Frame(0x11, Str("MQTT"), [4, 2], U16(60), Str("x"))),
            ("zero bytes of garbage", [0, 0, 0, 0]),
        })
        {
            cases.Add(BeforeConnect($"before CONNECT: {name}", frame));
        }

        // ---- Bad CONNECTs: closed; a 5.0 one may be told 0x81/0x82 in CONNACK first, a 3.1.1 one gets nothing.
        foreach ((string name, byte[] frame, string[] replies) in new[]
        {
            ("3.1.1 reserved flag", Frame(0x10, Str("MQTT"), [4, 0x03], U16(60), Str("x")), Array.Empty<string>()),
            ("3.1.1 will QoS 3", Frame(0x10, Str("MQTT"), [4, 0x1E], U16(60), Str("x"), Str("w"), Str("p")), []),
            ("3.1.1 will QoS without will flag", Frame(0x10, Str("MQTT"), [4, 0x0A], U16(60), Str("x")), []),
            ("3.1.1 will retain without will flag", Frame(0x10, Str("MQTT"), [4, 0x22], U16(60), Str("x")), []),
            ("3.1.1 password without user name", Frame(0x10, Str("MQTT"), [4, 0x42], U16(60), Str("x"), Str("p")), []),
            ("3.1.1 will topic with wildcard", Frame(0x10, Str("MQTT"), [4, 0x06], U16(60), Str("x"), Str("w/#"), Str("p")), []),
            ("3.1.1 user name flag without user name", Frame(0x10, Str("MQTT"), [4, 0x82], U16(60), Str("x")), []),
            ("3.1.1 bytes after the payload", Frame(0x10, Str("MQTT"), [4, 0x02], U16(60), Str("x"), [1, 2]), []),
            ("3.1.1 client id length past the end", Frame(0x10, Str("MQTT"), [4, 0x02], U16(60), U16(30), Utf8("x")), []),
            ("3.1.1 truncated after level", Frame(0x10, Str("MQTT"), [4]), []),
            ("3.1.1 protocol name 'mqtt'", Frame(0x10, Str("mqtt"), [4, 0x02], U16(60), Str("x")), []),
            ("5.0 reserved flag", Frame(0x10, Str("MQTT"), [5, 0x03], U16(60), [0], Str("x")), []),
            ("5.0 Topic Alias in CONNECT", Connect5("x", P([0x23, 0, 1])), []),
            ("5.0 Receive Maximum 0", Connect5("x", P([0x21, 0, 0])), []),
            ("5.0 Maximum Packet Size 0", Connect5("x", P([0x27, 0, 0, 0, 0])), []),
            ("5.0 Session Expiry twice", Connect5("x", P([0x11, 0, 0, 0, 1], [0x11, 0, 0, 0, 1])), []),
            ("5.0 Request Problem Information 2", Connect5("x", P([0x17, 2])), []),
            ("5.0 Authentication Data without method", Connect5("x", P([0x16, 0, 1, 1])), []),
            ("5.0 property length past the end", Connect5("x", [20, 0x11, 0, 0, 0, 1]), []),
            ("5.0 Will Delay in CONNECT properties", Connect5("x", P([0x18, 0, 0, 0, 1])), []),
            ("5.0 Topic Alias in Will properties", Frame(0x10, Str("MQTT"), [5, 0x06], U16(60), [0], Str("x"), P([0x23, 0, 1]), Str("w"), Str("p")), []),
        })
        {
            cases.Add(BeforeConnect($"CONNECT {name}", frame) with { Replies = replies });
        }

        return cases;
    }

    public static IEnumerable<object[]> Rows() => AllCases().Select(c => new object[] { c.Name });

    private static readonly Dictionary<string, Case> ByName = AllCases().ToDictionary(c => c.Name);

    [Fact]
    public void The_table_has_at_least_200_distinct_cases() => Assert.True(ByName.Count >= 200, $"{ByName.Count} cases");

    [Theory]
    [MemberData(nameof(Rows))]
    public async Task Reaction_is_exact_and_others_are_unaffected(string name)
    {
        Case c = ByName[name];
        await fixture.Gate.WaitAsync();
        try
        {
            await RunAsync(c);
        }
        finally
        {
            fixture.Gate.Release();
        }
    }

    private async Task RunAsync(Case c)
    {
        long errorsBefore = fixture.Server.Broker.Metrics.ProtocolErrors;
        await using RawMqttClient offender = await RawMqttClient.ConnectAsync(fixture.Server.Port);
        offender.Level = c.Level == V5 ? ProtocolLevel.V500 : ProtocolLevel.V311;
        if (c.Connect)
        {
            string id = "mal-" + Guid.NewGuid().ToString("N")[..12];
            await offender.SendAsync(c.Level == V5 ? Connect5(id) : Connect3(id));
            var connAck = await offender.ExpectAsync<ConnAckPacket>();
            Assert.Equal(ReasonCode.Success, connAck.ReasonCode);
        }

        await offender.SendAsync(Concat(c.Packets));
        if (c.HalfClose)
        {
            offender.ShutdownSend();
        }
        var received = new List<string>();
        if (c.Closed)
        {
            while (await offender.ReceiveAsync(TimeSpan.FromSeconds(5)) is { } packet)
            {
                received.Add(Short(packet));
                Assert.True(received.Count < 20, "the broker keeps sending instead of closing");
            }

            Assert.Equal(c.Replies, received);
        }
        else
        {
            await offender.SendAsync(Frame(0xC0));
            for (int i = 0; i < c.Replies.Length + 1; i++)
            {
                MqttPacket? packet = await offender.ReceiveAsync(TimeSpan.FromSeconds(5));
                Assert.True(packet is not null, $"closed after {string.Join(" | ", received)}");
                received.Add(Short(packet!));
            }

            Assert.Equal([.. c.Replies, "PINGRESP"], received);
        }

        // A bystander still gets a message published after the bad input.
        string topic = "health/" + Guid.NewGuid().ToString("N");
        await fixture.Publisher.SendAsync(Publish(topic, Utf8("ok")));
        var delivered = await fixture.Observer.ExpectAsync<PublishPacket>();
        Assert.Equal(topic, delivered.Topic);
        if (c.Closed && c.Replies.Any(r => r.StartsWith("DISCONNECT", StringComparison.Ordinal)))
        {
            Assert.True(fixture.Server.Broker.Metrics.ProtocolErrors > errorsBefore);
        }
    }

    /// <summary>The notation of the table: type, then what identifies the answer.</summary>
    internal static string Short(MqttPacket packet) => packet switch
    {
        DisconnectPacket d => $"DISCONNECT {d.ReasonCode}",
        ConnAckPacket a => $"CONNACK {a.ReasonCode}",
        PacketIdPacket p when p.ReasonCode == ReasonCode.Success => $"{p.Type.ToString().ToUpperInvariant()} {p.PacketId}",
        PacketIdPacket p => $"{p.Type.ToString().ToUpperInvariant()} {p.PacketId} {p.ReasonCode}",
        SubAckPacket s => $"SUBACK {s.PacketId} {string.Join(",", s.ReturnCodes.Select(b => b.ToString("X2")))}",
        UnsubAckPacket u => $"UNSUBACK {u.PacketId} {string.Join(",", u.ReasonCodes)}",
        PublishPacket p => $"PUBLISH {p.Topic}",
        _ => packet.Type.ToString().ToUpperInvariant(),
    };
}
