using System.Text;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;

namespace SensorNode.Fuzz;

/// <summary>Writes the committed seed corpus (valid and near-valid inputs per target): `SensorNode.Fuzz seed corpus`.</summary>
public static class SeedCorpus
{
    public static void Write(string root)
    {
        foreach (ProtocolLevel level in new[] { ProtocolLevel.V311, ProtocolLevel.V500 })
        {
            string dir = Path.Combine(root, level == ProtocolLevel.V500 ? "decoder-v500" : "decoder-v311");
            Directory.CreateDirectory(dir);
            int n = 0;
            foreach (MqttPacket packet in Packets(level))
            {
                byte[] bytes = MqttPacketWriter.ToArray(packet, level);
                File.WriteAllBytes(Path.Combine(dir, $"{n++:D3}-{packet.Type}"), bytes);

                // Near-valid: truncated by one byte, and one flipped flag bit.
                File.WriteAllBytes(Path.Combine(dir, $"{n++:D3}-{packet.Type}-cut"), bytes[..^1]);
                byte[] flipped = (byte[])bytes.Clone();
                flipped[0] ^= 0x01;
                File.WriteAllBytes(Path.Combine(dir, $"{n++:D3}-{packet.Type}-flag"), flipped);
            }

            // A whole session in one stream.
            File.WriteAllBytes(Path.Combine(dir, $"{n:D3}-session"), [.. Packets(level).Where(p => p is not ConnAckPacket).SelectMany(p => MqttPacketWriter.ToArray(p, level))]);
        }

        WriteText(root, "acl", "anonymous", "topic read sensor/#\n");
        WriteText(root, "acl", "users", "# comment\ntopic read sensor/#\nuser dashboard\ntopic read sensor/#\ntopic deny sensor/secret/#\nuser kitchen-node\ntopic write sensor/+/kitchen\npattern write sensor/status/%c\npattern read users/%u/#\n");
        WriteText(root, "acl", "tabs", "user\tdash board\ntopic\treadwrite\ta/b\n");
        WriteText(root, "acl", "bad", "topic fly a/#\nuser\npattern\n");
        WriteText(root, "passwd", "one", "alice:$7$101$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=\n");
        WriteText(root, "passwd", "bad", "bob:plaintext\n:nouser\nnocolon\n# comment\n\n");
        WriteText(root, "firmware-config", "full", "# node\nwifi_ssid=HomeNet\nwifi_password=\"secret pass\"\nmqtt_host=192.168.1.10\nmqtt_port=1883\nmqtt_tls=false\nmqtt_keepalive_s=60\nroom=kitchen\nnode_id=n1\nsensor_model=DHT22\nled_pin=2\nled_inverted=true\nread_interval_s=30\nheartbeat_s=300\ndeadband_temperature=0.2\ndeadband_humidity=1.5\nmedian_window=5\ndiscovery=true\ndiscovery_prefix=homeassistant\nbackoff_min_s=1\nbackoff_max_s=60\nwatchdog_s=120\n");
        WriteText(root, "firmware-config", "bad", "\uFEFFmqtt_port=99999\nunknown=1\nmqtt_port=1\nroom=\"unterminated\n=novalue\ndeadband_temperature=-1e309\nmedian_window=0\n");
        WriteText(root, "broker-config", "small", "{ \"persistence\": \"memory\", \"logLevel\": \"Warning\", \"listeners\": [ { \"kind\": \"mqtt\", \"bind\": \"localhost\", \"port\": 0 } ],\n  \"sessions\": { \"maxQueuedMessages\": 10, \"overflowPolicy\": \"dropNewest\" } }\n");
        WriteText(root, "broker-config", "bad", "// not quite right\n{ \"maxPacketSize\": -1, \"listeners\": [ { \"kind\": \"wss\", \"port\": 70000 }, ], \"sessions\": { \"maxQueuedBytes\": \"lots\" },\n  \"bridges\": [ { \"name\": \"x\", \"addresses\": [ \"h:99999\" ], \"topics\": [ { \"direction\": \"sideways\", \"local\": \"a/#/b\" } ] } ],\n  \"dashboard\": { \"rawRetentionHours\": 0 }, \"unknown\": true,\n");
    }

    private static void WriteText(string root, string target, string name, string text)
    {
        string dir = Path.Combine(root, target);
        Directory.CreateDirectory(dir);
        File.WriteAllBytes(Path.Combine(dir, name), Encoding.UTF8.GetBytes(text));
    }

    private static IEnumerable<MqttPacket> Packets(ProtocolLevel level)
    {
        bool v5 = level == ProtocolLevel.V500;
        MqttProperties? Props(Action<MqttProperties> set)
        {
            if (!v5)
            {
                return null;
            }

            var p = new MqttProperties();
            set(p);
            return p;
        }

        yield return new ConnectPacket
        {
            ProtocolLevel = level, ClientId = "node-1", KeepAliveSeconds = 60, UserName = "u", Password = [1, 2],
            Will = new WillMessage { Topic = "sensor/status/node-1", Payload = Encoding.UTF8.GetBytes("offline"), Qos = 1, Retain = true, Properties = Props(p => p.WillDelayInterval = 5) },
            Properties = Props(p => { p.SessionExpiryInterval = 3600; p.ReceiveMaximum = 10; p.TopicAliasMaximum = 5; p.AddUserProperty("k", "v"); }),
        };
        yield return v5 ? new ConnAckPacket(false, ReasonCode.Success, Props(p => p.TopicAliasMaximum = 64)) : new ConnAckPacket(false, ConnectReturnCode.Accepted);
        yield return new PublishPacket { Topic = "sensor/temperature/kitchen", Payload = Encoding.UTF8.GetBytes("21.4"), Qos = 0 };
        yield return new PublishPacket { Topic = "sensor/humidity/kitchen", Payload = Encoding.UTF8.GetBytes("55"), Qos = 1, PacketId = 7, Retain = true, Properties = Props(p => { p.MessageExpiryInterval = 60; p.ContentType = "text/plain"; p.TopicAlias = 1; p.PayloadFormatIndicator = 1; }) };
        yield return new PublishPacket { Topic = "a/b", Payload = new byte[] { 0, 255 }, Qos = 2, PacketId = 8, Dup = true, Properties = Props(p => { p.ResponseTopic = "r/1"; p.CorrelationData = [9]; }) };
        foreach (PacketType t in new[] { PacketType.PubAck, PacketType.PubRec, PacketType.PubRel, PacketType.PubComp })
        {
            yield return new PacketIdPacket(t, 7) { ReasonCode = ReasonCode.Success, Properties = Props(p => p.ReasonString = "ok") };
        }

        yield return new SubscribePacket { PacketId = 2, Subscriptions = [new TopicSubscription("sensor/#", 1), new TopicSubscription("$share/g/a/+", 2)], Properties = Props(p => p.AddSubscriptionIdentifier(5)) };
        yield return new SubAckPacket(2, [1, 2, 0x80]);
        yield return new UnsubscribePacket { PacketId = 3, Filters = ["sensor/#"] };
        yield return v5 ? new UnsubAckPacket(3, [ReasonCode.Success]) : new PacketIdPacket(PacketType.UnsubAck, 3);
        yield return EmptyPacket.PingReq;
        yield return EmptyPacket.PingResp;
        if (v5)
        {
            yield return new AuthPacket(ReasonCode.ContinueAuthentication, Props(p => { p.AuthenticationMethod = "SCRAM-SHA-256"; p.AuthenticationData = [1, 2, 3]; }));
            yield return new DisconnectPacket(ReasonCode.DisconnectWithWillMessage, Props(p => p.SessionExpiryInterval = 0));
        }
        else
        {
            yield return EmptyPacket.Disconnect;
        }
    }
}
