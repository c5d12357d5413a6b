using SensorNode.Broker.Hosting;
using SensorNode.Broker.Persistence;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Persistence;

/// <summary>
/// [MQTT-3.1.2-4] [MQTT-3.2.2-1] a clean connect discards the stored session, and its CONNACK says so (Session
/// Present 0). That CONNACK must not reach the client before the deletion is durable: a crash in between brought the
/// old session back at the next start (its subscriptions, and its queue delivered a second time).
/// </summary>
public sealed class CleanStartDurabilityTests
{
    /// <summary>Applies writes at once; while held, the callbacks of commits wait for <see cref="Release"/>.</summary>
    private sealed class HeldCommitsStore : IBrokerStore
    {
        private readonly InMemoryBrokerStore _inner = new();
        private readonly object _gate = new();
        private readonly List<Action> _held = [];
        private bool _holding;

        public long SizeOnDisk => 0;

        /// <summary>A session's deletion was submitted while commits were held.</summary>
        public bool DeletionHeld { get; private set; }

        public StoredState Load() => _inner.Load();

        public void Hold()
        {
            lock (_gate)
            {
                _holding = true;
            }
        }

        public void Release()
        {
            List<Action> held;
            lock (_gate)
            {
                _holding = false;
                held = [.. _held];
                _held.Clear();
            }

            held.ForEach(onDurable => onDurable());
        }

        public void Submit(ReadOnlySpan<StoreOperation> operations, Action? onDurable = null)
        {
            _inner.Submit(operations);
            lock (_gate)
            {
                if (_holding)
                {
                    foreach (ref readonly StoreOperation operation in operations)
                    {
                        DeletionHeld |= operation.Kind == StoreOperationKind.DeleteSession;
                    }

                    if (onDurable is not null)
                    {
                        _held.Add(onDurable);
                    }

                    return;
                }
            }

            onDurable?.Invoke();
        }

        public void Submit(StoreOperation operation) => Submit([operation]);

        public Task FlushAsync() => Task.CompletedTask;

        public void Dispose() => _inner.Dispose();
    }

    [Fact]
    public async Task A_clean_connect_is_acknowledged_only_once_the_stored_sessions_deletion_is_durable_MQTT_3_1_2_4()
    {
        var store = new HeldCommitsStore();
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.Store = store);
        await using (RawMqttClient persistent = await RawMqttClient.ConnectMqttAsync(broker.Port, "clean-again", cleanSession: false))
        {
            await persistent.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("clean/#", 1)] });
            Assert.IsType<SubAckPacket>(await persistent.ReceiveAsync());
            await persistent.SendAsync(EmptyPacket.Disconnect);
            await persistent.AssertClosedAsync();
        }

        await Eventually.AssertAsync(() => broker.Broker.Sessions.Find("clean-again") is { IsConnected: false }, "the persistent session is offline");
        store.Hold();
        await using RawMqttClient clean = await RawMqttClient.ConnectAsync(broker.Port);
        await clean.SendAsync(new ConnectPacket { ClientId = "clean-again", CleanSession = true, KeepAliveSeconds = 60 });
        Task<MqttPacket?> connAck = clean.ReceiveAsync(TimeSpan.FromSeconds(10));

        await Eventually.AssertAsync(() => store.DeletionHeld, "the old session's deletion was submitted and its commit is held");
        Task first = await Task.WhenAny(connAck, Task.Delay(TimeSpan.FromMilliseconds(300)));
        Assert.False(ReferenceEquals(first, connAck), "CONNACK was sent while the old session's deletion was not yet durable");

        store.Release();
        var accepted = Assert.IsType<ConnAckPacket>(await connAck);
        Assert.Equal(ConnectReturnCode.Accepted, accepted.ReturnCode);
        Assert.False(accepted.SessionPresent);
    }
}
