using System.Text;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Integration;

/// <summary>
/// MQTT 5.0 flow control (§4.9, Receive Maximum both ways) and Maximum Packet Size (§3.1.2.11.4). The subscriber
/// that must hold back acknowledgements or declare a small packet size is a raw client.
/// </summary>
public sealed class V5FlowControlTests
{
    // [MQTT-3.3.4-9] [MQTT-4.9.0-2] a client with Receive Maximum 2 never has more than 2 unacknowledged QoS 1
    // PUBLISHes from the broker; [MQTT-3.3.4-10] [MQTT-4.9.0-3] other packets (PINGRESP) are not held back; each
    // PUBACK lets exactly one more through, until all are delivered in order.
    [Fact]
    public async Task V5_broker_never_exceeds_the_clients_receive_maximum_MQTT_3_3_4_9()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient subscriber = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "rm-2", c =>
            c.Properties = new MqttProperties { ReceiveMaximum = 2 });
        await subscriber.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("rm/t", 1)] });
        Assert.Equal(new byte[] { 1 }, Assert.IsType<SubAckPacket>(await subscriber.ReceiveAsync()).ReturnCodes);

        const int count = 7;
        await using (MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port))
        {
            for (int i = 0; i < count; i++)
            {
                // PUBACK to the publisher comes after the message is queued for the subscriber.
                await publisher.PublishAsync("rm/t", "m" + i, MqttQualityOfServiceLevel.AtLeastOnce);
            }
        }

        var unacknowledged = new Queue<PublishPacket>();
        var delivered = new List<string>();
        while (delivered.Count < count)
        {
            if (unacknowledged.Count == 2 || delivered.Count + unacknowledged.Count == count)
            {
                // The window is full (or everything is out): a PINGREQ must be answered before any further PUBLISH.
                await subscriber.SendAsync(EmptyPacket.PingReq);
                MqttPacket? next = await subscriber.ReceiveAsync();
                Assert.True(next is EmptyPacket { Type: PacketType.PingResp }, $"expected PINGRESP with {unacknowledged.Count} PUBLISHes unacknowledged, got {Describe(next)}");
                PublishPacket oldest = unacknowledged.Dequeue();
                delivered.Add(Encoding.UTF8.GetString(oldest.Payload.Span));
                await subscriber.SendAsync(new PacketIdPacket(PacketType.PubAck, oldest.PacketId));
                continue;
            }

            var publish = Assert.IsType<PublishPacket>(await subscriber.ReceiveAsync());
            Assert.Equal(1, publish.Qos);
            unacknowledged.Enqueue(publish);
            Assert.True(unacknowledged.Count <= 2, $"{unacknowledged.Count} unacknowledged QoS 1 PUBLISHes with Receive Maximum 2");
        }

        Assert.Equal(Enumerable.Range(0, count).Select(i => "m" + i), delivered);
    }

    // [MQTT-3.3.4-9] [MQTT-4.4.0-1] [MQTT-4.6.0-1]: a client that resumes its session with a lower Receive Maximum than
    // before gets only that many of its unacknowledged PUBLISHes re-sent (DUP=1, the same identifiers, in order); each
    // PUBACK lets the next re-send through, and new messages come after the re-sends.
    [Fact]
    public async Task V5_resends_after_a_reconnect_respect_the_new_lower_receive_maximum_MQTT_3_3_4_9()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        const int count = 6;
        List<ushort> firstIds = await LeaveUnacknowledgedAsync(broker.Port, "rm-resume", "rmr/t", 1, count);

        await using RawMqttClient second = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "rm-resume", c => Persistent(c, 2));
        await using (MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port))
        {
            await publisher.PublishAsync("rmr/t", "new", MqttQualityOfServiceLevel.AtLeastOnce);
        }

        var unacknowledged = new Queue<PublishPacket>();
        var delivered = new List<PublishPacket>();
        while (delivered.Count < count + 1)
        {
            if (unacknowledged.Count == 2 || delivered.Count + unacknowledged.Count == count + 1)
            {
                await second.SendAsync(EmptyPacket.PingReq);
                MqttPacket? next = await second.ReceiveAsync();
                Assert.True(next is EmptyPacket { Type: PacketType.PingResp }, $"expected PINGRESP with {unacknowledged.Count} PUBLISHes unacknowledged, got {Describe(next)}");
                PublishPacket oldest = unacknowledged.Dequeue();
                delivered.Add(oldest);
                await second.SendAsync(new PacketIdPacket(PacketType.PubAck, oldest.PacketId));
                continue;
            }

            var publish = Assert.IsType<PublishPacket>(await second.ReceiveAsync());
            unacknowledged.Enqueue(publish);
        }

        Assert.Equal(Enumerable.Range(0, count).Select(i => "m" + i).Append("new"), delivered.Select(p => Encoding.UTF8.GetString(p.Payload.Span)));
        Assert.Equal(firstIds, delivered.Take(count).Select(p => p.PacketId));
        Assert.All(delivered.Take(count), p => Assert.True(p.Dup));
        Assert.False(delivered[count].Dup);
    }

    // [MQTT-4.4.0-1] a takeover while re-sends are still held back: the new connection (Receive Maximum 10) gets every
    // unacknowledged message again, in order, including the one the interrupted connection had already been re-sent.
    [Fact]
    public async Task V5_a_takeover_while_resends_are_held_back_resends_them_all_to_the_new_connection()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        const int count = 4;
        List<ushort> firstIds = await LeaveUnacknowledgedAsync(broker.Port, "rm-takeover", "rmt/t", 1, count);

        await using RawMqttClient narrow = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "rm-takeover", c => Persistent(c, 1));
        Assert.Equal(firstIds[0], Assert.IsType<PublishPacket>(await narrow.ReceiveAsync()).PacketId);
        Assert.Empty(await UntilPingRespAsync(narrow));

        await using RawMqttClient wide = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "rm-takeover", c => Persistent(c, 10));
        var resent = new List<PublishPacket>();
        for (int i = 0; i < count; i++)
        {
            resent.Add(Assert.IsType<PublishPacket>(await wide.ReceiveAsync()));
        }

        Assert.Equal(firstIds, resent.Select(p => p.PacketId));
        Assert.All(resent, p => Assert.True(p.Dup));
        Assert.Equal(Enumerable.Range(0, count).Select(i => "m" + i), resent.Select(p => Encoding.UTF8.GetString(p.Payload.Span)));
        foreach (PublishPacket publish in resent)
        {
            await wide.SendAsync(new PacketIdPacket(PacketType.PubAck, publish.PacketId));
        }

        Assert.Empty(await UntilPingRespAsync(wide));
        Assert.Equal(0, broker.Broker.Sessions.Find("rm-takeover")!.InflightCount);
    }

    // [MQTT-4.3.3-7] [MQTT-4.6.0-4] with a lower Receive Maximum on the new connection: a PUBREC for a QoS 2 message
    // still held back gets exactly one PUBREL, the held message is not re-sent after it, and the last one goes out
    // once PUBCOMPs make room.
    [Fact]
    public async Task V5_pubrec_for_a_held_back_resend_gets_one_PUBREL_and_the_rest_follow_as_the_window_frees()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        List<ushort> ids = await LeaveUnacknowledgedAsync(broker.Port, "rm-q2", "rmq2/t", 2, 3);

        await using RawMqttClient second = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "rm-q2", c => Persistent(c, 1));
        PublishPacket resent = Assert.IsType<PublishPacket>(await second.ReceiveAsync());
        Assert.Equal((ids[0], true), (resent.PacketId, resent.Dup));

        // The second message is held back (Receive Maximum 1); the client PUBRECs it anyway. Its PUBREL goes out once the
        // session's store has the new state, so it may come after a PINGRESP: everything is collected, in order.
        var seen = new List<string>();
        await second.SendAsync(new PacketIdPacket(PacketType.PubRec, ids[1]));
        await ReceiveUntilAsync(second, seen, $"PUBREL {ids[1]}");
        await second.SendAsync(new PacketIdPacket(PacketType.PubRec, ids[0]));
        await ReceiveUntilAsync(second, seen, $"PUBREL {ids[0]}");
        await second.SendAsync(new PacketIdPacket(PacketType.PubComp, ids[0]));
        seen.AddRange(await UntilPingRespAsync(second));

        await second.SendAsync(new PacketIdPacket(PacketType.PubComp, ids[1]));
        await ReceiveUntilAsync(second, seen, $"PUBLISH {ids[2]} dup m2");
        await second.SendAsync(new PacketIdPacket(PacketType.PubRec, ids[2]));
        await ReceiveUntilAsync(second, seen, $"PUBREL {ids[2]}");
        await second.SendAsync(new PacketIdPacket(PacketType.PubComp, ids[2]));
        seen.AddRange(await UntilPingRespAsync(second));

        Assert.Equal([$"PUBREL {ids[1]}", $"PUBREL {ids[0]}", $"PUBLISH {ids[2]} dup m2", $"PUBREL {ids[2]}"], seen);
        Assert.Equal(0, broker.Broker.Sessions.Find("rm-q2")!.InflightCount);
    }

    private static string Show(MqttPacket? packet) => packet switch
    {
        PacketIdPacket { Type: PacketType.PubRel } rel => $"PUBREL {rel.PacketId}",
        PublishPacket p => $"PUBLISH {p.PacketId}{(p.Dup ? " dup" : string.Empty)} {Encoding.UTF8.GetString(p.Payload.Span)}",
        _ => Describe(packet),
    };

    /// <summary>Receives until <paramref name="expected"/> has come, adding every packet on the way to <paramref name="seen"/>.</summary>
    private static async Task ReceiveUntilAsync(RawMqttClient client, List<string> seen, string expected)
    {
        for (int i = 0; i < 20; i++)
        {
            string next = Show(await client.ReceiveAsync());
            seen.Add(next);
            if (next == expected)
            {
                return;
            }
        }

        throw new Xunit.Sdk.XunitException($"'{expected}' did not come; got: {string.Join(", ", seen)}");
    }

    /// <summary>
    /// A persistent session (Receive Maximum 10) subscribes to <paramref name="topic"/>, is sent <paramref name="count"/>
    /// messages "m0", "m1", … at <paramref name="qos"/> by MQTTnet, and leaves without acknowledging any; returns
    /// their packet identifiers in order.
    /// </summary>
    private static async Task<List<ushort>> LeaveUnacknowledgedAsync(int port, string clientId, string topic, byte qos, int count)
    {
        var ids = new List<ushort>();
        await using RawMqttClient client = await RawMqttClient.ConnectV5AcceptedAsync(port, clientId, c => Persistent(c, 10));
        await client.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription(topic, qos)] });
        Assert.IsType<SubAckPacket>(await client.ReceiveAsync());
        await using (MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(port))
        {
            for (int i = 0; i < count; i++)
            {
                await publisher.PublishAsync(topic, "m" + i, (MqttQualityOfServiceLevel)qos);
            }
        }

        for (int i = 0; i < count; i++)
        {
            ids.Add(Assert.IsType<PublishPacket>(await client.ReceiveAsync()).PacketId);
        }

        return ids;
    }

    /// <summary>A CONNECT that resumes a session kept for 300 s, with the given Receive Maximum.</summary>
    private static void Persistent(ConnectPacket c, ushort receiveMaximum)
    {
        c.CleanStart = false;
        c.Properties = new MqttProperties { ReceiveMaximum = receiveMaximum, SessionExpiryInterval = 300 };
    }

    /// <summary>Sends PINGREQ and returns what came before its PINGRESP.</summary>
    private static async Task<List<string>> UntilPingRespAsync(RawMqttClient client)
    {
        await client.SendAsync(EmptyPacket.PingReq);
        var before = new List<string>();
        for (int i = 0; i < 20; i++)
        {
            MqttPacket? next = await client.ReceiveAsync();
            if (next is EmptyPacket { Type: PacketType.PingResp })
            {
                return before;
            }

            before.Add(Show(next));
        }

        throw new Xunit.Sdk.XunitException($"no PINGRESP after: {string.Join(", ", before)}");
    }

    // §3.3.4 after [MQTT-3.3.4-7]: a client that has more unacknowledged QoS 1/2 PUBLISHes than the broker's Receive
    // Maximum is disconnected with 0x93 (Receive Maximum exceeded). QoS 2 stays unacknowledged until PUBCOMP.
    [Fact]
    public async Task V5_client_exceeding_the_brokers_receive_maximum_gets_DISCONNECT_0x93_MQTT_3_3_4_7()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.ReceiveMaximum = 2);
        (RawMqttClient client, ConnAckPacket connAck) = await RawMqttClient.ConnectV5Async(broker.Port, "rm-exceed");
        await using RawMqttClient _ = client;
        Assert.Equal((ushort)2, connAck.Properties?.ReceiveMaximum);

        for (ushort id = 1; id <= 2; id++)
        {
            await client.SendAsync(new PublishPacket { Topic = "rm/in", Payload = "x"u8.ToArray(), Qos = 2, PacketId = id });
            var pubRec = Assert.IsType<PacketIdPacket>(await client.ReceiveAsync());
            Assert.Equal((PacketType.PubRec, id), (pubRec.Type, pubRec.PacketId));
        }

        // Two QoS 2 exchanges are open (no PUBREL sent): a third PUBLISH is one too many.
        await client.SendAsync(new PublishPacket { Topic = "rm/in", Payload = "x"u8.ToArray(), Qos = 2, PacketId = 3 });
        var disconnect = Assert.IsType<DisconnectPacket>(await client.ReceiveAsync());
        Assert.Equal(ReasonCode.ReceiveMaximumExceeded, disconnect.ReasonCode);
        await client.AssertClosedAsync();
    }

    // Control: completing the exchanges (PUBREL / PUBCOMP) frees the quota, so staying within it is never an error.
    [Fact]
    public async Task V5_client_within_the_brokers_receive_maximum_is_not_disconnected()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.ReceiveMaximum = 2);
        await using RawMqttClient client = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "rm-within");
        for (ushort id = 1; id <= 6; id++)
        {
            await client.SendAsync(new PublishPacket { Topic = "rm/in", Payload = "x"u8.ToArray(), Qos = 2, PacketId = id });
            Assert.Equal(PacketType.PubRec, Assert.IsType<PacketIdPacket>(await client.ReceiveAsync()).Type);
            await client.SendAsync(new PacketIdPacket(PacketType.PubRel, id));
            Assert.Equal(PacketType.PubComp, Assert.IsType<PacketIdPacket>(await client.ReceiveAsync()).Type);
        }

        await client.SendAsync(EmptyPacket.PingReq);
        Assert.IsType<EmptyPacket>(await client.ReceiveAsync());
    }

    // [MQTT-3.1.2-24] [MQTT-3.1.2-25] a message larger than a subscriber's Maximum Packet Size is not sent to it, and
    // the broker behaves as if it had been sent (later small messages still come, the QoS 1 window is not used up);
    // other subscribers get the large message.
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task V5_message_larger_than_a_subscribers_maximum_packet_size_is_skipped_for_it_only_MQTT_3_1_2_25(byte qos)
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using RawMqttClient small = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "mps-small", c =>
            c.Properties = new MqttProperties { MaximumPacketSize = 128, ReceiveMaximum = 1 });
        await small.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("mps/t", qos)] });
        Assert.IsType<SubAckPacket>(await small.ReceiveAsync());
        await using MqttNet5Client large = await MqttNet5Client.ConnectAsync(broker.Port);
        await large.SubscribeAsync("mps/t", (MqttQualityOfServiceLevel)qos);

        await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(broker.Port);
        string big = new('B', 1000);
        await publisher.PublishAsync("mps/t", big, (MqttQualityOfServiceLevel)qos);
        await publisher.PublishAsync("mps/t", "small-1", (MqttQualityOfServiceLevel)qos);
        await publisher.PublishAsync("mps/t", "small-2", (MqttQualityOfServiceLevel)qos);

        Assert.Equal([big, "small-1", "small-2"], (await large.NextManyAsync(3)).Select(m => m.Payload));
        foreach (string expected in new[] { "small-1", "small-2" })
        {
            var publish = Assert.IsType<PublishPacket>(await small.ReceiveAsync());
            Assert.Equal(expected, Encoding.UTF8.GetString(publish.Payload.Span));
            if (qos == 1)
            {
                await small.SendAsync(new PacketIdPacket(PacketType.PubAck, publish.PacketId));
            }
        }
    }

    private static string Describe(MqttPacket? packet) => packet switch
    {
        null => "connection closed",
        PublishPacket p => $"PUBLISH {p.Topic} {Encoding.UTF8.GetString(p.Payload.Span)}",
        _ => packet.Type.ToString(),
    };
}

internal static class MqttNet5ClientExtensions
{
    public static async Task<List<V5Message>> NextManyAsync(this MqttNet5Client client, int count)
    {
        var messages = new List<V5Message>(count);
        for (int i = 0; i < count; i++)
        {
            messages.Add(await client.NextAsync());
        }

        return messages;
    }
}
