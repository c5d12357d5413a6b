using Microsoft.Extensions.Logging.Abstractions;
using SensorNode.Broker.Persistence;
using SensorNode.Broker.Routing;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Persistence;

/// <summary>
/// The contract every <see cref="IBrokerStore"/> keeps, run against the SQLite store and the in-memory
/// store alike. "Reopen" is a new SQLite store on the same directory, or the same in-memory instance.
/// </summary>
public sealed class StoreContractTests
{
    public static TheoryData<string> Stores => ["sqlite", "memory"];

    private sealed class Harness : IDisposable
    {
        private readonly string _kind;
        private readonly string _directory = TestBroker.NewDataDirectory();
        private readonly InMemoryBrokerStore _memory = new();

        public Harness(string kind)
        {
            _kind = kind;
            Store = Open();
        }

        public IBrokerStore Store { get; private set; }

        public StoredState Reopen()
        {
            Store.Dispose();
            Store = Open();
            return Store.Load();
        }

        private IBrokerStore Open() => _kind == "sqlite"
            ? SqliteBrokerStore.Open(_directory, StoreDurability.Full, NullLogger.Instance)
            : _memory;

        public void Dispose() => Store.Dispose();
    }

    private static byte[] Bytes(string text) => System.Text.Encoding.UTF8.GetBytes(text);

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Retained_messages_survive_reopen_and_an_empty_one_deletes(string kind)
    {
        using var harness = new Harness(kind);
        harness.Store.Submit(StoreOperation.PutRetained("sensor/temperature/kitchen", 1, Bytes("21.0")));
        harness.Store.Submit(StoreOperation.PutRetained("sensor/temperature/kitchen", 1, Bytes("21.4")));
        harness.Store.Submit(StoreOperation.PutRetained("sensor/status/kitchen", 1, Bytes("online")));
        harness.Store.Submit(StoreOperation.DeleteRetained("sensor/status/kitchen"));
        await harness.Store.FlushAsync();

        StoredState state = harness.Reopen();

        var retained = Assert.Single(state.Retained);
        Assert.Equal("sensor/temperature/kitchen", retained.Topic);
        Assert.Equal("21.4", System.Text.Encoding.UTF8.GetString(retained.PayloadSpan));
        Assert.Equal(1, retained.Qos);
        Assert.True(retained.Retain);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Session_with_subscriptions_queue_and_inbound_ids_survives_reopen(string kind)
    {
        using var harness = new Harness(kind);
        IBrokerStore store = harness.Store;
        store.Submit(StoreOperation.PutSession("node-1"));
        store.Submit(StoreOperation.PutSubscription("node-1", "sensor/#", 2, new SubscriptionOptions(NoLocal: true, RetainAsPublished: true, RetainHandling: 2, Identifier: 268_435_455)));
        store.Submit(StoreOperation.PutSubscription("node-1", "cmd/+", 1));
        store.Submit(StoreOperation.DeleteSubscription("node-1", "cmd/+"));
        store.Submit(StoreOperation.PutMessage(7, "sensor/a", 2, false, Bytes("one")));
        store.Submit(StoreOperation.PutMessage(8, "sensor/b", 1, true, Bytes("two")));
        store.Submit(StoreOperation.PutQueued("node-1", 1, 7, 2, false));
        store.Submit(StoreOperation.PutQueued("node-1", 2, 8, 1, false));
        store.Submit(StoreOperation.PutQueued("node-1", 3, 8, 1, false));
        store.Submit(StoreOperation.UpdateQueued("node-1", 1, 42, QueuedState.Released));
        store.Submit(StoreOperation.DeleteQueued("node-1", 3));
        store.Submit(StoreOperation.PutInbound("node-1", 9));
        store.Submit(StoreOperation.PutInbound("node-1", 10));
        store.Submit(StoreOperation.DeleteInbound("node-1", 9));
        await store.FlushAsync();

        StoredState state = harness.Reopen();

        StoredSession session = Assert.Single(state.Sessions);
        Assert.Equal("node-1", session.ClientId);
        Assert.Equal([("sensor/#", (byte)2, new SubscriptionOptions(true, true, 2, 268_435_455))], session.Subscriptions);
        Assert.Equal([(ushort)10], session.InboundQos2);
        Assert.Collection(
            session.Queue,
            first =>
            {
                Assert.Equal(1, first.Sequence);
                Assert.Equal("sensor/a", first.Message.Topic);
                Assert.Equal(42, first.PacketId);
                Assert.Equal(QueuedState.Released, first.State);
                Assert.Equal(2, first.Qos);
            },
            second =>
            {
                Assert.Equal(2, second.Sequence);
                Assert.Equal("two", System.Text.Encoding.UTF8.GetString(second.Message.PayloadSpan));
                Assert.Equal(QueuedState.Queued, second.State);
            });
        Assert.True(state.LastMessageId >= 8);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Deleting_a_session_removes_everything_it_owned(string kind)
    {
        using var harness = new Harness(kind);
        IBrokerStore store = harness.Store;
        store.Submit(StoreOperation.PutSession("gone"));
        store.Submit(StoreOperation.PutSubscription("gone", "a/#", 1));
        store.Submit(StoreOperation.PutMessage(1, "a/b", 1, false, Bytes("x")));
        store.Submit(StoreOperation.PutQueued("gone", 1, 1, 1, false));
        store.Submit(StoreOperation.PutInbound("gone", 5));
        store.Submit(StoreOperation.PutSession("kept"));
        store.Submit(StoreOperation.DeleteSession("gone"));
        await store.FlushAsync();

        StoredState state = harness.Reopen();

        StoredSession kept = Assert.Single(state.Sessions);
        Assert.Equal("kept", kept.ClientId);
        Assert.Empty(kept.Queue);

        // A session created again under the same id starts empty.
        harness.Store.Submit(StoreOperation.PutSession("gone"));
        await harness.Store.FlushAsync();
        StoredSession reborn = Assert.Single(harness.Reopen().Sessions, s => s.ClientId == "gone");
        Assert.Empty(reborn.Subscriptions);
        Assert.Empty(reborn.Queue);
        Assert.Empty(reborn.InboundQos2);
    }

    [Theory]
    [MemberData(nameof(Stores))]
    public async Task Callbacks_run_once_each_in_submission_order_after_their_writes(string kind)
    {
        using var harness = new Harness(kind);
        var order = new List<int>();
        var tasks = new List<Task>();
        for (int i = 0; i < 200; i++)
        {
            int n = i;
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            tasks.Add(done.Task);
            harness.Store.Submit([StoreOperation.PutRetained("t/" + n, 0, Bytes(n.ToString(System.Globalization.CultureInfo.InvariantCulture)))], () =>
            {
                lock (order)
                {
                    order.Add(n);
                }

                done.SetResult();
            });
        }

        await Task.WhenAll(tasks).WaitAsync(TestBroker.Timeout);

        Assert.Equal(Enumerable.Range(0, 200), order);
        Assert.Equal(200, harness.Reopen().Retained.Count);
    }

    // A zero-length payload is a message like any other (MQTT allows it); the payload column is NOT NULL, so it must be
    // written as an empty value, not as NULL, or the commit fails and the store retries it for ever.
    [Theory]
    [MemberData(nameof(Stores))]
    public async Task A_queued_message_with_an_empty_payload_survives_reopen(string kind)
    {
        using var harness = new Harness(kind);
        harness.Store.Submit(StoreOperation.PutSession("node-1"));
        harness.Store.Submit([
            StoreOperation.PutMessage(1, "cmd/reboot", 1, false, ReadOnlyMemory<byte>.Empty),
            StoreOperation.PutQueued("node-1", 1, 1, 1, false),
        ]);
        await harness.Store.FlushAsync().WaitAsync(TestBroker.Timeout);

        StoredQueuedMessage queued = Assert.Single(Assert.Single(harness.Reopen().Sessions).Queue);

        Assert.Equal("cmd/reboot", queued.Message.Topic);
        Assert.True(queued.Message.PayloadSpan.IsEmpty);
    }

    // The store a broker opens for itself dies with it; the broker holds the retained messages, so the store does not.
    [Fact]
    public async Task A_memory_store_that_keeps_no_retained_messages_keeps_everything_else()
    {
        using var store = new InMemoryBrokerStore(keepsRetained: false);
        store.Submit(StoreOperation.PutRetained("sensor/temperature/kitchen", 1, Bytes("21.0")));
        store.Submit(StoreOperation.PutSession("node-1"));
        await store.FlushAsync();

        StoredState state = store.Load();

        Assert.False(store.KeepsRetained);
        Assert.Empty(state.Retained);
        Assert.Equal("node-1", Assert.Single(state.Sessions).ClientId);
    }

    // A memory store given to the broker (embedding, tests) lives as long as its owner: it must not keep every message.
    [Fact]
    public void A_memory_store_lets_a_message_go_with_the_last_queue_entry_that_refers_to_it()
    {
        using var store = new InMemoryBrokerStore();
        store.Submit(StoreOperation.PutSession("node-1"));
        store.Submit(StoreOperation.PutSession("node-2"));
        store.Submit([
            StoreOperation.PutMessage(1, "sensor/a", 1, false, Bytes("one")),
            StoreOperation.PutQueued("node-1", 1, 1, 1, false),
            StoreOperation.PutQueued("node-2", 1, 1, 1, false),
            StoreOperation.PutMessage(2, "sensor/b", 1, false, Bytes("two")),
            StoreOperation.PutQueued("node-1", 2, 2, 1, false),
        ]);
        Assert.Equal(2, store.MessageCount);

        store.Submit(StoreOperation.DeleteQueued("node-1", 1));
        Assert.Equal(2, store.MessageCount);
        store.Submit(StoreOperation.DeleteSession("node-2"));
        Assert.Equal(1, store.MessageCount);
        store.Submit(StoreOperation.DeleteQueued("node-1", 2));
        Assert.Equal(0, store.MessageCount);
    }

    [Fact]
    public async Task Sqlite_store_commits_many_submissions_per_transaction()
    {
        // Group commit: a burst of 2,000 submissions must not take 2,000 fsyncs' time; this checks the
        // behaviour (all durable, in order), the benchmark suite measures the rate.
        using var harness = new Harness("sqlite");
        int completed = 0;
        for (int i = 0; i < 2000; i++)
        {
            harness.Store.Submit([StoreOperation.PutRetained("burst/" + (i % 50), 1, Bytes("v" + i))], () => Interlocked.Increment(ref completed));
        }

        await harness.Store.FlushAsync().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(2000, Volatile.Read(ref completed));
        StoredState state = harness.Reopen();
        Assert.Equal(50, state.Retained.Count);
        Assert.Contains(state.Retained, m => m.Topic == "burst/49" && System.Text.Encoding.UTF8.GetString(m.PayloadSpan) == "v1999");
    }
}
