using System.Net.Sockets;
using System.Text;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;

namespace SensorNode.Broker.Tests.Infrastructure;

/// <summary>One application message handed to the subscriber's "application" (first receipt only for QoS 2).</summary>
public sealed record SubscriberDelivery(int Connection, string Topic, string Payload, byte Qos, bool Dup, ushort PacketId);

/// <summary>
/// A persistent-session (CleanSession=0) subscriber on <see cref="RawMqttClient"/> whose client-side session
/// state is correct across reconnects, as 3.1.1 §4.1 asks of a client [MQTT-4.1.0-1]: the QoS 2 packet
/// identifiers it has answered with PUBREC are kept until PUBREL arrives, also over a new network connection.
/// <list type="bullet">
/// <item>QoS 0 is delivered; QoS 1 is delivered and answered with PUBACK [MQTT-4.3.2-2].</item>
/// <item>QoS 2 (method B of §4.3.3) is delivered on the first PUBLISH with an identifier; a re-sent PUBLISH
/// with an identifier still awaiting PUBREL is answered with PUBREC again and not delivered again; PUBREL is
/// answered with PUBCOMP and forgets the identifier [MQTT-4.3.3-2].</item>
/// </list>
/// Every packet is answered as soon as it is read, before the next one is read. Waiting is on deliveries
/// (<see cref="WaitUntilAsync"/>), never on time.
/// </summary>
public sealed class PersistentSubscriber : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly HashSet<ushort> _awaitingRelease = [];
    private readonly List<SubscriberDelivery> _deliveries = [];
    private readonly List<string> _trace = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private RawMqttClient? _client;
    private Task _loop = Task.CompletedTask;
    private int _connection;
    private int _duplicateQos2Publishes;

    public PersistentSubscriber(string clientId) => ClientId = clientId;

    public string ClientId { get; }

    /// <summary>Re-sent QoS 2 PUBLISHes answered with PUBREC only (identifier still awaiting PUBREL).</summary>
    public int SuppressedQos2Resends
    {
        get
        {
            lock (_gate)
            {
                return _duplicateQos2Publishes;
            }
        }
    }

    /// <summary>The QoS 2 identifiers PUBREC'd and not yet released, as this client keeps them.</summary>
    public ushort[] AwaitingRelease
    {
        get
        {
            lock (_gate)
            {
                return [.. _awaitingRelease];
            }
        }
    }

    /// <summary>A copy of every delivery so far, across all connections, in arrival order.</summary>
    public SubscriberDelivery[] Deliveries
    {
        get
        {
            lock (_gate)
            {
                return [.. _deliveries];
            }
        }
    }

    /// <summary>The packets received and sent, for failure messages.</summary>
    public string[] Trace
    {
        get
        {
            lock (_gate)
            {
                return [.. _trace];
            }
        }
    }

    /// <summary>
    /// Opens a new network connection with CleanSession=0 and this client id, subscribes when asked to (waiting
    /// for the SUBACK, and handling any PUBLISH that comes first), then keeps reading in the background until the
    /// broker closes the connection. Returns the CONNACK's session present flag.
    /// </summary>
    public async Task<bool> ConnectAsync(int port, string? subscribeFilter = null, byte subscribeQos = 2)
    {
        await _loop; // a previous connection is over before a new one starts
        RawMqttClient client = await RawMqttClient.ConnectAsync(port);
        int connection;
        lock (_gate)
        {
            connection = ++_connection;
            _client = client;
            _trace.Add($"#{connection} connect");
        }

        await client.SendAsync(new ConnectPacket { ClientId = ClientId, CleanSession = false, KeepAliveSeconds = 60 });
        var connAck = Assert.IsType<ConnAckPacket>(await client.ReceiveAsync());
        Assert.Equal(ConnectReturnCode.Accepted, connAck.ReturnCode);
        Note(connection, $"CONNACK session present {connAck.SessionPresent}");

        if (subscribeFilter is not null)
        {
            await client.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription(subscribeFilter, subscribeQos)] });
            while (true)
            {
                MqttPacket? packet = await client.ReceiveAsync();
                Assert.NotNull(packet);
                if (packet is SubAckPacket subAck)
                {
                    Assert.Equal([subscribeQos], subAck.ReturnCodes);
                    Note(connection, "SUBACK");
                    break;
                }

                await HandleAsync(client, connection, packet);
            }
        }

        _loop = Task.Run(() => ReadLoopAsync(client, connection));
        return connAck.SessionPresent;
    }

    /// <summary>Completes when the current connection has been closed (by the broker, or a kill of its process).</summary>
    public Task Closed => _loop;

    /// <summary>
    /// Waits until <paramref name="condition"/> holds for the deliveries so far; re-checked at each delivery and
    /// at the end of a connection. Returns false after <paramref name="timeout"/>.
    /// </summary>
    public async Task<bool> WaitUntilAsync(Func<IReadOnlyList<SubscriberDelivery>, bool> condition, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (condition(_deliveries))
                {
                    return true;
                }

                changed = _changed.Task;
            }

            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }
    }

    private async Task ReadLoopAsync(RawMqttClient client, int connection)
    {
        try
        {
            while (true)
            {
                // The keep alive is far longer than a test; the read ends when the broker's socket goes.
                MqttPacket? packet = await client.ReceiveAsync(TimeSpan.FromMinutes(5));
                if (packet is null)
                {
                    Note(connection, "closed by the broker");
                    return;
                }

                await HandleAsync(client, connection, packet);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            Note(connection, "connection ended: " + ex.GetType().Name);
        }
        finally
        {
            Signal();
        }
    }

    private async Task HandleAsync(RawMqttClient client, int connection, MqttPacket packet)
    {
        switch (packet)
        {
            case PublishPacket publish:
                {
                    string payload = Encoding.UTF8.GetString(publish.Payload.Span);
                    bool deliver;
                    lock (_gate)
                    {
                        // QoS 2 receiver: a PUBLISH whose identifier awaits PUBREL is the same message again [MQTT-4.3.3-2].
                        deliver = publish.Qos < 2 || _awaitingRelease.Add(publish.PacketId);
                        if (deliver)
                        {
                            _deliveries.Add(new SubscriberDelivery(connection, publish.Topic, payload, publish.Qos, publish.Dup, publish.PacketId));
                        }
                        else
                        {
                            _duplicateQos2Publishes++;
                        }

                        _trace.Add($"#{connection} PUBLISH id {publish.PacketId} qos {publish.Qos} dup {(publish.Dup ? 1 : 0)} {publish.Topic} {payload}{(deliver ? string.Empty : " (awaiting PUBREL: not delivered again)")}");
                    }

                    Signal();
                    if (publish.Qos == 1)
                    {
                        await client.SendAsync(new PacketIdPacket(PacketType.PubAck, publish.PacketId));
                    }
                    else if (publish.Qos == 2)
                    {
                        await client.SendAsync(new PacketIdPacket(PacketType.PubRec, publish.PacketId));
                    }

                    break;
                }

            case PacketIdPacket { Type: PacketType.PubRel } pubRel:
                lock (_gate)
                {
                    bool known = _awaitingRelease.Remove(pubRel.PacketId);
                    _trace.Add($"#{connection} PUBREL id {pubRel.PacketId}{(known ? string.Empty : " (identifier not awaiting release)")}");
                }

                // PUBCOMP even for an identifier already released: the sender's state machine must finish.
                await client.SendAsync(new PacketIdPacket(PacketType.PubComp, pubRel.PacketId));
                break;

            default:
                Note(connection, "unexpected " + packet.Type);
                break;
        }
    }

    private void Note(int connection, string what)
    {
        lock (_gate)
        {
            _trace.Add($"#{connection} {what}");
        }
    }

    private void Signal()
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            changed = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.TrySetResult();
    }

    public async ValueTask DisposeAsync()
    {
        RawMqttClient? client;
        lock (_gate)
        {
            client = _client;
        }

        if (client is not null)
        {
            await client.DisposeAsync();
        }

        try
        {
            await _loop;
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Already recorded, or the socket was closed under the read.
        }
    }
}
