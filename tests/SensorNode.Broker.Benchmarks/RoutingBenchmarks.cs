using System.Buffers;
using BenchmarkDotNet.Attributes;
using SensorNode.Broker.Diagnostics;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Routing;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Benchmarks;

/// <summary>
/// SubscriptionTrie.Match with 10k / 100k subscriptions: 1,000 clients, each with filters on its own rooms
/// (sensor/{type}/room{n}), plus a few wildcard filters (sensor/+/room{n}, sensor/#) that every match must also walk.
/// </summary>
[MemoryDiagnoser]
public class TopicMatchBenchmarks
{
    private static readonly string[] Types = ["temperature", "humidity", "pressure", "co2", "light"];
    private readonly List<Subscription> _matches = new(64);
    private SubscriptionTrie _trie = null!;
    private string[] _topics = null!;

    [Params(10_000, 100_000)]
    public int Subscriptions { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var metrics = new BrokerMetrics();
        var limits = new SessionLimits();
        Session[] clients = [.. Enumerable.Range(0, 1000).Select(i => new Session($"client{i}", true, limits, metrics))];
        _trie = new SubscriptionTrie();
        int rooms = Subscriptions / Types.Length;
        for (int i = 0; i < Subscriptions; i++)
        {
            string filter = $"sensor/{Types[i % Types.Length]}/room{i / Types.Length}";
            _trie.Add(new Subscription(clients[i % clients.Length], filter, 1));
        }

        for (int i = 0; i < 10; i++)
        {
            _trie.Add(new Subscription(clients[i], $"sensor/+/room{i * 7}", 0));
        }

        _trie.Add(new Subscription(clients[999], "sensor/#", 0));
        var random = new Random(42);
        _topics = [.. Enumerable.Range(0, 1024).Select(_ => $"sensor/{Types[random.Next(Types.Length)]}/room{random.Next(rooms)}")];
    }

    [Benchmark(OperationsPerInvoke = 1024, Description = "SubscriptionTrie.Match")]
    public int Match()
    {
        int found = 0;
        foreach (string topic in _topics)
        {
            _matches.Clear();
            _trie.Match(topic, _matches);
            found += _matches.Count;
        }

        return found;
    }
}

/// <summary>
/// One publish to N subscribers of sensor/#: MessageRouter.Match (targets, de-duplication) then one PUBLISH
/// serialised per target from the shared ApplicationMessage (MqttPacketWriter.WritePublish), as the
/// connections' writers do.
/// </summary>
[MemoryDiagnoser]
public class FanOutBenchmarks
{
    private readonly List<RouteTarget> _targets = [];
    private readonly ArrayBufferWriter<byte> _output = new(1 << 20);
    private MessageRouter _router = null!;
    private ApplicationMessage _message = null!;

    [Params(1, 100, 1000)]
    public int Subscribers { get; set; }

    [Params((byte)0, (byte)1)]
    public byte Qos { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var metrics = new BrokerMetrics();
        var limits = new SessionLimits();
        var trie = new SubscriptionTrie();
        for (int i = 0; i < Subscribers; i++)
        {
            var session = new Session($"client{i}", true, limits, metrics);
            var subscription = new Subscription(session, "sensor/#", 1);
            session.SetSubscription(subscription);
            trie.Add(subscription);
        }

        _router = new MessageRouter(trie, new RetainedMessageStore());
        _message = ApplicationMessage.Create("sensor/temperature/room1", new byte[32], Qos, retain: false);
    }

    [Benchmark(Description = "route + serialise to N")]
    public int RouteAndSerialise()
    {
        _targets.Clear();
        _router.Match(_message, _targets);
        _output.ResetWrittenCount();
        ushort packetId = 1;
        foreach (RouteTarget target in _targets)
        {
            MqttPacketWriter.WritePublish(_output, _message, target.Qos, retain: false, dup: false, packetId++);
        }

        return _output.WrittenCount;
    }
}
