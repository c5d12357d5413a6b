using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;
using SensorNode.Broker.Persistence;

namespace SensorNode.Broker.Benchmarks;

/// <summary>
/// Start-up with a large durable state (issue #5): 100,000 retained messages and 10,000 persistent sessions,
/// each with a subscription and 5 queued messages, loaded from SQLite into a broker's memory.
/// </summary>
[MemoryDiagnoser]
public class StartupBenchmarks
{
    private string _directory = string.Empty;

    [Params(100_000)]
    public int Retained { get; set; }

    [Params(10_000)]
    public int Sessions { get; set; }

    [GlobalSetup]
    public void Populate()
    {
        _directory = Path.Combine(Path.GetTempPath(), "sensornode-startup-" + Guid.NewGuid().ToString("N"));
        using SqliteBrokerStore store = SqliteBrokerStore.Open(_directory, StoreDurability.Normal, NullLogger.Instance);
        byte[] payload = new byte[32];
        var batch = new List<StoreOperation>(1024);
        void Flush()
        {
            store.Submit(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(batch));
            batch.Clear();
        }

        for (int i = 0; i < Retained; i++)
        {
            batch.Add(StoreOperation.PutRetained($"sensor/temperature/room{i}", 1, payload));
            if (batch.Count == 1024)
            {
                Flush();
            }
        }

        long messageId = 0;
        for (int s = 0; s < Sessions; s++)
        {
            string client = "node-" + s;
            batch.Add(StoreOperation.PutSession(client));
            batch.Add(StoreOperation.PutSubscription(client, $"sensor/+/room{s}", 1));
            for (int q = 1; q <= 5; q++)
            {
                batch.Add(StoreOperation.PutMessage(++messageId, $"sensor/humidity/room{s}", 1, false, payload));
                batch.Add(StoreOperation.PutQueued(client, q, messageId, 1, false));
            }

            if (batch.Count >= 1024)
            {
                Flush();
            }
        }

        Flush();
        store.FlushAsync().GetAwaiter().GetResult();
    }

    /// <summary>Open the store, load it and rebuild retained messages, sessions, subscriptions and queues.</summary>
    [Benchmark]
    public int StartBrokerOnLargeState()
    {
        using var broker = new MqttBroker(new BrokerOptions { DataDirectory = _directory, Durability = StoreDurability.Normal }, NullLoggerFactory.Instance);
        return broker.Retained.Count + broker.Sessions.Count;
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_directory, recursive: true);
}
