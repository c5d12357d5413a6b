using System.Buffers;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;

namespace SensorNode.Broker.Tests.Hardening;

/// <summary>
/// FsCheck properties: every 3.1.1 and 5.0 packet type, with generated fields and (5.0) generated property sets
/// valid for the packet, survives encode → frame → decode unchanged, and re-encodes to the same bytes.
/// </summary>
public sealed class CodecRoundTripProperties
{
    private const int Runs = 400;

    // ------------------------------------------------------------------ generators

    private static readonly string[] TextPieces = ["a", "Z", "0", "/", " ", "$", "é", "日本", "😀", "-", "_", "x/y", "\u00a0", "\u07ff", "\uffff"];

    private static Gen<string> Text(int maxPieces = 6) =>
        Gen.Choose(0, maxPieces).SelectMany(n => Gen.ArrayOf(Gen.Elements(TextPieces), n)).Select(string.Concat);

    /// <summary>A well-formed topic filter without wildcards: not empty [MQTT-4.7.3-1] (the decoder refuses one that is).</summary>
    private static Gen<string> PlainFilter => Text().Where(t => t.Length > 0);

    private static Gen<string> TopicName =>
        Gen.Choose(1, 5).SelectMany(n => Gen.ArrayOf(Gen.Elements("a", "b", "", "$SYS", "sensor", "日", "x y"), n))
            .Select(levels => string.Join('/', levels)).Where(t => t.Length > 0);

    private static Gen<byte[]> Bytes(int max = 40) =>
        Gen.Choose(0, max).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b), n));

    private static Gen<ushort> NonZeroId => Gen.Choose(1, 65535).Select(i => (ushort)i);

    private static Gen<ushort> AnyId => Gen.Choose(0, 65535).Select(i => (ushort)i);

    private static Gen<bool> Bool => Gen.Elements(true, false);

    private static Gen<uint> UInt => Gen.OneOf(Gen.Elements(0u, 1u, uint.MaxValue, 65535u), Gen.Choose(0, int.MaxValue).Select(i => (uint)i));

    private static Gen<byte> ValidReason(PacketType type) =>
        Gen.Elements(Enumerable.Range(0, 256).Where(c => ReasonCodes.IsValidFor(type, (byte)c)).Select(c => (byte)c).ToArray());

    /// <summary>A non-empty property set valid in <paramref name="context"/> (or null), each allowed property present with probability ½.</summary>
    private static Gen<MqttProperties?> Properties(PropertyContext context, bool fromServer = false)
    {
        var ids = MqttPropertyRules.All.Where(id => MqttPropertyRules.IsAllowed(id, context)).ToArray();
        if (context == PropertyContext.Publish && !fromServer)
        {
            ids = [.. ids.Where(id => id != PropertyId.SubscriptionIdentifier)];
        }

        if (context == PropertyContext.Disconnect && fromServer)
        {
            ids = [.. ids.Where(id => id != PropertyId.SessionExpiryInterval)];
        }

        Gen<Action<MqttProperties>?>[] setters = [.. ids.Select(id => Gen.Frequency((1, Gen.Constant<Action<MqttProperties>?>(null)), (1, Setter(id, context).Select(a => (Action<MqttProperties>?)a))))];
        return Gen.CollectToArray(setters).SelectMany(chosen => Bool.Select(none =>
        {
            if (none)
            {
                return null;
            }

            var p = new MqttProperties();
            foreach (Action<MqttProperties>? set in chosen)
            {
                set?.Invoke(p);
            }

            // Authentication Data only with an Authentication Method.
            if (p.AuthenticationData is not null && p.AuthenticationMethod is null)
            {
                p.AuthenticationMethod = "SCRAM-SHA-256";
            }

            return p.IsEmpty ? null : p;
        }));
    }

    private static Gen<Action<MqttProperties>> Setter(PropertyId id, PropertyContext context) => id switch
    {
        PropertyId.PayloadFormatIndicator => Gen.Choose(0, 1).Select(v => (Action<MqttProperties>)(p => p.PayloadFormatIndicator = (byte)v)),
        PropertyId.MessageExpiryInterval => UInt.Select(v => (Action<MqttProperties>)(p => p.MessageExpiryInterval = v)),
        PropertyId.ContentType => Text().Select(v => (Action<MqttProperties>)(p => p.ContentType = v)),
        PropertyId.ResponseTopic => TopicName.Select(v => (Action<MqttProperties>)(p => p.ResponseTopic = v)),
        PropertyId.CorrelationData => Bytes().Select(v => (Action<MqttProperties>)(p => p.CorrelationData = v)),
        PropertyId.SubscriptionIdentifier => Gen.Choose(1, context == PropertyContext.Publish ? 3 : 1)
            .SelectMany(n => Gen.ArrayOf(Gen.OneOf(Gen.Elements(1, 127, 128, 16383, 16384, 268_435_455), Gen.Choose(1, 268_435_455)), n))
            .Select(v => (Action<MqttProperties>)(p => { foreach (int i in v) { p.AddSubscriptionIdentifier((uint)i); } })),
        PropertyId.SessionExpiryInterval => UInt.Select(v => (Action<MqttProperties>)(p => p.SessionExpiryInterval = v)),
        PropertyId.AssignedClientIdentifier => Text().Select(v => (Action<MqttProperties>)(p => p.AssignedClientIdentifier = v)),
        PropertyId.ServerKeepAlive => AnyId.Select(v => (Action<MqttProperties>)(p => p.ServerKeepAlive = v)),
        PropertyId.AuthenticationMethod => Text().Select(v => (Action<MqttProperties>)(p => p.AuthenticationMethod = v)),
        PropertyId.AuthenticationData => Bytes().Select(v => (Action<MqttProperties>)(p => p.AuthenticationData = v)),
        PropertyId.RequestProblemInformation => Bool.Select(v => (Action<MqttProperties>)(p => p.RequestProblemInformation = v)),
        PropertyId.WillDelayInterval => UInt.Select(v => (Action<MqttProperties>)(p => p.WillDelayInterval = v)),
        PropertyId.RequestResponseInformation => Bool.Select(v => (Action<MqttProperties>)(p => p.RequestResponseInformation = v)),
        PropertyId.ResponseInformation => Text().Select(v => (Action<MqttProperties>)(p => p.ResponseInformation = v)),
        PropertyId.ServerReference => Text().Select(v => (Action<MqttProperties>)(p => p.ServerReference = v)),
        PropertyId.ReasonString => Text().Select(v => (Action<MqttProperties>)(p => p.ReasonString = v)),
        PropertyId.ReceiveMaximum => NonZeroId.Select(v => (Action<MqttProperties>)(p => p.ReceiveMaximum = v)),
        PropertyId.TopicAliasMaximum => AnyId.Select(v => (Action<MqttProperties>)(p => p.TopicAliasMaximum = v)),
        PropertyId.TopicAlias => NonZeroId.Select(v => (Action<MqttProperties>)(p => p.TopicAlias = v)),
        PropertyId.MaximumQos => Gen.Choose(0, 1).Select(v => (Action<MqttProperties>)(p => p.MaximumQos = (byte)v)),
        PropertyId.RetainAvailable => Bool.Select(v => (Action<MqttProperties>)(p => p.RetainAvailable = v)),
        PropertyId.UserProperty => Gen.Choose(1, 4).SelectMany(n => Gen.ArrayOf(Gen.Zip(Text(3), Text(3)), n))
            .Select(v => (Action<MqttProperties>)(p => { foreach ((string k, string val) in v) { p.AddUserProperty(k, val); } })),
        PropertyId.MaximumPacketSize => UInt.Where(v => v > 0).Select(v => (Action<MqttProperties>)(p => p.MaximumPacketSize = v)),
        PropertyId.WildcardSubscriptionAvailable => Bool.Select(v => (Action<MqttProperties>)(p => p.WildcardSubscriptionAvailable = v)),
        PropertyId.SubscriptionIdentifierAvailable => Bool.Select(v => (Action<MqttProperties>)(p => p.SubscriptionIdentifiersAvailable = v)),
        PropertyId.SharedSubscriptionAvailable => Bool.Select(v => (Action<MqttProperties>)(p => p.SharedSubscriptionAvailable = v)),
        _ => throw new ArgumentOutOfRangeException(nameof(id)),
    };

    private static Gen<ConnectPacket> Connect(ProtocolLevel level)
    {
        bool v5 = level == ProtocolLevel.V500;
        Gen<WillMessage?> will = Gen.Frequency(
            (1, Gen.Constant<WillMessage?>(null)),
            (2, from topic in TopicName
                from payload in Bytes()
                from qos in Gen.Choose(0, 2)
                from retain in Bool
                from props in v5 ? Properties(PropertyContext.Will) : Gen.Constant<MqttProperties?>(null)
                select (WillMessage?)new WillMessage { Topic = topic, Payload = payload, Qos = (byte)qos, Retain = retain, Properties = props }));
        return from clean in Bool
               from keepAlive in AnyId
               from clientId in Text()
               from w in will
               from user in Gen.Frequency((1, Gen.Constant<string?>(null)), (1, Text().Select(s => (string?)s)))
               from pass in Gen.Frequency((1, Gen.Constant<byte[]?>(null)), (1, Bytes().Select(b => (byte[]?)b)))
               from props in v5 ? Properties(PropertyContext.Connect) : Gen.Constant<MqttProperties?>(null)
               select new ConnectPacket
               {
                   ProtocolName = level == ProtocolLevel.V310 ? "MQIsdp" : "MQTT",
                   ProtocolLevel = level,
                   CleanSession = clean,
                   KeepAliveSeconds = keepAlive,
                   ClientId = clientId,
                   Will = w,
                   UserName = user,
                   // 3.1/3.1.1: no password without a user name [MQTT-3.1.2-22].
                   Password = v5 || user is not null ? pass : null,
                   Properties = props,
               };
    }

    private static Gen<PublishPacket> Publish(ProtocolLevel level, bool fromServer)
    {
        bool v5 = level == ProtocolLevel.V500;
        return from qos in Gen.Choose(0, 2)
               from topic in TopicName
               from payload in Bytes(300)
               from retain in Bool
               from dup in Bool
               from id in NonZeroId
               from props in v5 ? Properties(PropertyContext.Publish, fromServer) : Gen.Constant<MqttProperties?>(null)
               from emptyTopic in Bool
               select new PublishPacket
               {
                   Qos = (byte)qos,
                   Topic = v5 && props?.TopicAlias is not null && emptyTopic ? string.Empty : topic,
                   Payload = payload,
                   Retain = retain,
                   Dup = qos > 0 && dup,
                   PacketId = qos > 0 ? id : (ushort)0,
                   Properties = props,
               };
    }

    private static Gen<MqttPacket> Ack(ProtocolLevel level, PacketType type) =>
        level != ProtocolLevel.V500
            ? AnyId.Select(id => (MqttPacket)new PacketIdPacket(type, id))
            : from id in AnyId
              from reason in ValidReason(type)
              from props in Properties(PropertyContext.PubAck)
              select (MqttPacket)new PacketIdPacket(type, id) { ReasonCode = (ReasonCode)reason, Properties = props };

    private static Gen<MqttPacket> Subscribe(ProtocolLevel level)
    {
        bool v5 = level == ProtocolLevel.V500;
        Gen<TopicSubscription> one =
            from filter in Gen.OneOf(PlainFilter, Gen.Elements("#", "+", "a/+/#", "$share/g/a/#", "$share/g2/+"))
            from qos in Gen.Choose(0, 2)
            from noLocal in Bool
            from rap in Bool
            from rh in Gen.Choose(0, 2)
            select v5
                ? new TopicSubscription(filter, (byte)qos) { NoLocal = noLocal && !filter.StartsWith("$share/", StringComparison.Ordinal), RetainAsPublished = rap, RetainHandling = (byte)rh }
                : new TopicSubscription(filter, (byte)qos);
        return from id in NonZeroId
               from n in Gen.Choose(1, 5)
               from subs in Gen.ListOf(one, n)
               from props in v5 ? Properties(PropertyContext.Subscribe) : Gen.Constant<MqttProperties?>(null)
               select (MqttPacket)new SubscribePacket { PacketId = id, Subscriptions = [.. subs], Properties = props };
    }

    private static Gen<MqttPacket> SubAck(ProtocolLevel level) =>
        level != ProtocolLevel.V500
            ? from id in AnyId
              from n in Gen.Choose(1, 6)
              from codes in Gen.ArrayOf(Gen.Elements<byte>(0, 1, 2, 0x80), n)
              select (MqttPacket)new SubAckPacket(id, codes)
            : from id in AnyId
              from n in Gen.Choose(1, 6)
              from codes in Gen.ArrayOf(ValidReason(PacketType.SubAck), n)
              from props in Properties(PropertyContext.SubAck)
              select (MqttPacket)new SubAckPacket(id, codes) { Properties = props };

    private static Gen<MqttPacket> Unsubscribe(ProtocolLevel level) =>
        from id in NonZeroId
        from n in Gen.Choose(1, 5)
        from filters in Gen.ListOf(PlainFilter, n)
        from props in level == ProtocolLevel.V500 ? Properties(PropertyContext.Unsubscribe) : Gen.Constant<MqttProperties?>(null)
        select (MqttPacket)new UnsubscribePacket { PacketId = id, Filters = [.. filters], Properties = props };

    private static Gen<MqttPacket> UnsubAck(ProtocolLevel level) =>
        level != ProtocolLevel.V500
            ? AnyId.Select(id => (MqttPacket)new PacketIdPacket(PacketType.UnsubAck, id))
            : from id in AnyId
              from n in Gen.Choose(1, 6)
              from codes in Gen.ArrayOf(ValidReason(PacketType.UnsubAck), n)
              from props in Properties(PropertyContext.UnsubAck)
              select (MqttPacket)new UnsubAckPacket(id, [.. codes.Select(c => (ReasonCode)c)]) { Properties = props };

    private static Gen<MqttPacket> ConnAck(ProtocolLevel level) =>
        level != ProtocolLevel.V500
            ? from sp in Bool
              from code in Gen.Choose(0, 5)
              select (MqttPacket)new ConnAckPacket(sp, (ConnectReturnCode)code)
            : from sp in Bool
              from code in ValidReason(PacketType.ConnAck)
              from props in Properties(PropertyContext.ConnAck)
              select (MqttPacket)new ConnAckPacket(sp && code == 0, (ReasonCode)code, props);

    /// <summary>Every packet type of a level, with the direction it travels (decoded as the receiver does).</summary>
    private static Gen<(MqttPacket Packet, bool FromServer)> AnyPacket(ProtocolLevel level)
    {
        bool v5 = level == ProtocolLevel.V500;
        var gens = new List<Gen<(MqttPacket, bool)>>
        {
            Connect(level).Select(p => ((MqttPacket)p, false)),
            ConnAck(level).Select(p => (p, true)),
            Publish(level, fromServer: false).Select(p => ((MqttPacket)p, false)),
            Publish(level, fromServer: true).Select(p => ((MqttPacket)p, true)),
            Ack(level, PacketType.PubAck).Select(p => (p, false)),
            Ack(level, PacketType.PubRec).Select(p => (p, true)),
            Ack(level, PacketType.PubRel).Select(p => (p, false)),
            Ack(level, PacketType.PubComp).Select(p => (p, true)),
            Subscribe(level).Select(p => (p, false)),
            SubAck(level).Select(p => (p, true)),
            Unsubscribe(level).Select(p => (p, false)),
            UnsubAck(level).Select(p => (p, true)),
            Gen.Constant(((MqttPacket)EmptyPacket.PingReq, false)),
            Gen.Constant(((MqttPacket)EmptyPacket.PingResp, true)),
        };
        if (v5)
        {
            gens.Add(from fromServer in Bool
                     from reason in ValidReason(PacketType.Disconnect)
                     from props in Properties(PropertyContext.Disconnect, fromServer)
                     select ((MqttPacket)new DisconnectPacket((ReasonCode)reason, props), fromServer));
            gens.Add(from fromServer in Bool
                     from reason in ValidReason(PacketType.Auth)
                     from props in Properties(PropertyContext.Auth)
                     select ((MqttPacket)new AuthPacket((ReasonCode)reason, props), fromServer));
        }
        else
        {
            gens.Add(Gen.Constant(((MqttPacket)EmptyPacket.Disconnect, false)));
        }

        return Gen.OneOf(gens);
    }

    // ------------------------------------------------------------------ canonical description

    internal static string Describe(MqttPacket packet) => packet switch
    {
        ConnectPacket c => $"CONNECT {c.ProtocolName} {c.ProtocolLevel} clean={c.CleanSession} ka={c.KeepAliveSeconds} id=[{c.ClientId}] user=[{c.UserName ?? "-"}] pass={Hex(c.Password)} props={{{c.Properties}}} will="
            + (c.Will is { } w ? $"{w.Topic}|{Hex(w.Payload)}|{w.Qos}|{w.Retain}|{{{w.Properties}}}" : "none"),
        ConnAckPacket a => $"CONNACK sp={a.SessionPresent} rc={a.ReturnCode} reason={a.ReasonCode} props={{{a.Properties}}}",
        PublishPacket p => $"PUBLISH [{p.Topic}] qos={p.Qos} r={p.Retain} d={p.Dup} id={p.PacketId} payload={Convert.ToHexString(p.Payload.Span)} props={{{p.Properties}}}",
        PacketIdPacket a => $"{a.Type} id={a.PacketId} reason={a.ReasonCode} props={{{a.Properties}}}",
        SubscribePacket s => $"SUBSCRIBE id={s.PacketId} [{string.Join(",", s.Subscriptions.Select(x => $"{x.Filter}:{x.Options}"))}] props={{{s.Properties}}}",
        SubAckPacket s => $"SUBACK id={s.PacketId} [{Convert.ToHexString(s.ReturnCodes)}] props={{{s.Properties}}}",
        UnsubscribePacket u => $"UNSUBSCRIBE id={u.PacketId} [{string.Join(",", u.Filters)}] props={{{u.Properties}}}",
        UnsubAckPacket u => $"UNSUBACK id={u.PacketId} [{string.Join(",", u.ReasonCodes)}] props={{{u.Properties}}}",
        DisconnectPacket d => $"DISCONNECT {d.ReasonCode} props={{{d.Properties}}}",
        AuthPacket a => $"AUTH {a.ReasonCode} props={{{a.Properties}}}",
        EmptyPacket e => e.Type.ToString(),
        _ => throw new ArgumentException(packet.GetType().Name),
    };

    private static string Hex(byte[]? bytes) => bytes is null ? "-" : Convert.ToHexString(bytes);

    /// <summary>Encodes, frames and decodes; asserts the frame is whole and the result re-encodes to the same bytes.</summary>
    internal static MqttPacket RoundTrip(MqttPacket packet, ProtocolLevel level, bool fromServer)
    {
        byte[] encoded = MqttPacketWriter.ToArray(packet, level);
        var sequence = new ReadOnlySequence<byte>(encoded);
        Assert.True(MqttFrameReader.TryReadFrame(ref sequence, int.MaxValue, out byte header, out ReadOnlySequence<byte> body), "the encoder wrote an incomplete frame");
        Assert.Equal(0, sequence.Length);
        MqttPacket decoded = MqttPacketDecoder.Decode(header, body.ToArray(), level, fromServer);
        Assert.Equal(Convert.ToHexString(encoded), Convert.ToHexString(MqttPacketWriter.ToArray(decoded, level)));
        return decoded;
    }

    private static void CheckAll(ProtocolLevel level)
    {
        Prop.ForAll(AnyPacket(level).ToArbitrary(), item =>
        {
            MqttPacket decoded = RoundTrip(item.Packet, level, item.FromServer);
            Assert.Equal(Describe(item.Packet), Describe(decoded));
        }).Check(Config.QuickThrowOnFailure.WithMaxTest(Runs * 4));
    }

    // ------------------------------------------------------------------ properties

    [Fact]
    public void Every_3_1_1_packet_type_round_trips() => CheckAll(ProtocolLevel.V311);

    [Fact]
    public void Every_3_1_packet_type_round_trips() => CheckAll(ProtocolLevel.V310);

    [Fact]
    public void Every_5_0_packet_type_with_properties_round_trips() => CheckAll(ProtocolLevel.V500);

    [Fact]
    public void Every_packet_type_is_generated()
    {
        foreach (ProtocolLevel level in new[] { ProtocolLevel.V311, ProtocolLevel.V500 })
        {
            var seen = AnyPacket(level).Sample(800).Select(p => p.Packet.Type).ToHashSet();
            int expected = level == ProtocolLevel.V500 ? 15 : 14;
            Assert.Equal(expected, seen.Count);
        }
    }

    [Fact]
    public void Every_property_in_every_allowed_context_round_trips()
    {
        // Table 2-4 cell by cell: a packet carrying exactly one property (generated value) keeps it.
        foreach (PropertyContext context in MqttPropertyRules.AllContexts)
        {
            foreach (PropertyId id in MqttPropertyRules.All.Where(id => MqttPropertyRules.IsAllowed(id, context)))
            {
                foreach (Action<MqttProperties> set in Setter(id, context).Sample(20))
                {
                    var p = new MqttProperties();
                    set(p);
                    if (id == PropertyId.AuthenticationData)
                    {
                        p.AuthenticationMethod = "m";
                    }

                    (MqttPacket packet, bool fromServer) = Carrier(context, p);
                    MqttPacket decoded = RoundTrip(packet, ProtocolLevel.V500, fromServer);
                    Assert.Equal(Describe(packet), Describe(decoded));
                }
            }
        }
    }

    private static (MqttPacket, bool) Carrier(PropertyContext context, MqttProperties p) => context switch
    {
        PropertyContext.Connect => (new ConnectPacket { ProtocolLevel = ProtocolLevel.V500, ClientId = "c", Properties = p }, false),
        PropertyContext.Will => (new ConnectPacket { ProtocolLevel = ProtocolLevel.V500, ClientId = "c", Will = new WillMessage { Topic = "w", Payload = [1], Properties = p } }, false),
        PropertyContext.ConnAck => (new ConnAckPacket(false, ReasonCode.Success, p), true),
        PropertyContext.Publish => (new PublishPacket { Topic = "t", Qos = 1, PacketId = 7, Payload = new byte[] { 1, 2 }, Properties = p }, true),
        PropertyContext.PubAck => (new PacketIdPacket(PacketType.PubRec, 9) { ReasonCode = ReasonCode.Success, Properties = p }, true),
        PropertyContext.Subscribe => (new SubscribePacket { PacketId = 3, Subscriptions = [new TopicSubscription("a/#", 1)], Properties = p }, false),
        PropertyContext.SubAck => (new SubAckPacket(3, [1]) { Properties = p }, true),
        PropertyContext.Unsubscribe => (new UnsubscribePacket { PacketId = 3, Filters = ["a"], Properties = p }, false),
        PropertyContext.UnsubAck => (new UnsubAckPacket(3, [ReasonCode.Success]) { Properties = p }, true),
        PropertyContext.Disconnect => (new DisconnectPacket(ReasonCode.NormalDisconnection, p), p.SessionExpiryInterval is null),
        PropertyContext.Auth => (new AuthPacket(ReasonCode.ContinueAuthentication, p), false),
        _ => throw new ArgumentOutOfRangeException(nameof(context)),
    };

    [Fact]
    public void Any_truncation_of_a_valid_packet_is_rejected_or_decodes_without_crashing()
    {
        // Decoding a prefix of a valid body must either throw MqttProtocolException or return a packet: never another exception.
        foreach (ProtocolLevel level in new[] { ProtocolLevel.V311, ProtocolLevel.V500 })
        {
            Prop.ForAll(AnyPacket(level).ToArbitrary(), item =>
            {
                byte[] encoded = MqttPacketWriter.ToArray(item.Packet, level);
                var sequence = new ReadOnlySequence<byte>(encoded);
                Assert.True(MqttFrameReader.TryReadFrame(ref sequence, int.MaxValue, out byte header, out ReadOnlySequence<byte> body));
                byte[] whole = body.ToArray();
                for (int cut = 0; cut < whole.Length; cut++)
                {
                    try
                    {
                        MqttPacketDecoder.Decode(header, whole.AsSpan(0, cut), level, item.FromServer);
                    }
                    catch (MqttProtocolException)
                    {
                    }
                }
            }).Check(Config.QuickThrowOnFailure.WithMaxTest(Runs));
        }
    }
}
