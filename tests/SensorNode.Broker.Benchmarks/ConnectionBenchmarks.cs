using System.Buffers;
using System.IO.Pipelines;
using BenchmarkDotNet.Attributes;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging.Abstractions;
using SensorNode.Broker;
using SensorNode.Broker.Persistence;
using SensorNode.Broker.Transport;

namespace SensorNode.Broker.Benchmarks;

/// <summary>
/// Publishes through the broker's whole receive-and-deliver path: two real <see cref="MqttConnection"/>s (a publisher
/// and a subscriber of <c>sensor/#</c>) over in-memory pipes instead of sockets. Frame read, parse, the shared
/// ApplicationMessage, routing, the subscriber's PUBLISH written and (QoS 1) the PUBACK: everything but the socket.
/// The allocation column is per message; the one expected allocation is the ApplicationMessage and its buffer.
/// </summary>
[MemoryDiagnoser]
public class ConnectionBenchmarks
{
    private const int Batch = 1000;
    private const string Topic = "sensor/temperature/room1";
    private const int PayloadLength = 32;

    private MqttBroker _broker = null!;
    private PipeConnection _publisher = null!;
    private PipeConnection _subscriber = null!;
    private byte[] _publishes = null!;
    private long _deliveredBytes;
    private long _acknowledgedBytes;

    [Params((byte)0, (byte)1)]
    public byte Qos { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _broker = new MqttBroker(new BrokerOptions { Persistence = PersistenceMode.Memory, MaxConnectionsPerAddress = 100 }, NullLoggerFactory.Instance);
        _subscriber = Connect("subscriber");
        _subscriber.Send([0x82, 13, 0, 1, 0, 8, .. "sensor/#"u8, 0]);
        _subscriber.Receive(5); // SUBACK
        _publisher = Connect("publisher");

        // Batch PUBLISHes (QoS 1: packet identifiers 1..Batch, all acknowledged within one invocation).
        var packets = new ArrayBufferWriter<byte>();
        for (int i = 0; i < Batch; i++)
        {
            int remaining = 2 + Topic.Length + (Qos > 0 ? 2 : 0) + PayloadLength;
            packets.Write<byte>([(byte)(0x30 | (Qos << 1)), (byte)remaining, 0, (byte)Topic.Length]);
            packets.Write(System.Text.Encoding.ASCII.GetBytes(Topic));
            if (Qos > 0)
            {
                packets.Write<byte>([(byte)((i + 1) >> 8), (byte)(i + 1)]);
            }

            packets.Write<byte>(new byte[PayloadLength]);
        }

        _publishes = packets.WrittenSpan.ToArray();
        _deliveredBytes = Batch * (2 + 2 + Topic.Length + PayloadLength);
        _acknowledgedBytes = Qos > 0 ? Batch * 4 : 0;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _publisher.Input.Writer.Complete();
        _subscriber.Input.Writer.Complete();
        _broker.Dispose();
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "PUBLISH in, routed, PUBLISH out (in-memory pipes)")]
    public void PublishThrough()
    {
        _publisher.Send(_publishes);
        _subscriber.Receive(_deliveredBytes);
        _publisher.Receive(_acknowledgedBytes);
    }

    private PipeConnection Connect(string clientId)
    {
        var connection = new PipeConnection();
        _ = new MqttConnection(connection, _broker).RunAsync();
        byte[] id = System.Text.Encoding.ASCII.GetBytes(clientId);
        connection.Send([0x10, (byte)(12 + id.Length), 0, 4, .. "MQTT"u8, 4, 0x02, 0, 60, 0, (byte)id.Length, .. id]);
        connection.Receive(4); // CONNACK
        return connection;
    }

    /// <summary>A connection whose socket is a pair of pipes: the benchmark writes the client's bytes and reads the broker's.</summary>
    private sealed class PipeConnection : ConnectionContext, IDuplexPipe
    {
        private static readonly PipeOptions Options = new(useSynchronizationContext: false);

        public Pipe Input { get; } = new(Options);

        public Pipe Output { get; } = new(Options);

        PipeReader IDuplexPipe.Input => Input.Reader;

        PipeWriter IDuplexPipe.Output => Output.Writer;

        public override IDuplexPipe Transport { get => this; set => throw new NotSupportedException(); }

        public override string ConnectionId { get; set; } = "bench";

        public override IFeatureCollection Features { get; } = new FeatureCollection();

        public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

        public override System.Net.EndPoint? RemoteEndPoint { get; set; } = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 1);

        public void Send(ReadOnlySpan<byte> bytes)
        {
            Input.Writer.Write(bytes);
            Input.Writer.FlushAsync().AsTask().GetAwaiter().GetResult();
        }

        /// <summary>Reads and discards exactly <paramref name="count"/> bytes the broker wrote.</summary>
        public void Receive(long count)
        {
            while (count > 0)
            {
                ReadResult result = Output.Reader.ReadAsync().AsTask().GetAwaiter().GetResult();
                long take = Math.Min(count, result.Buffer.Length);
                Output.Reader.AdvanceTo(result.Buffer.GetPosition(take));
                count -= take;
                if (result.IsCompleted && count > 0)
                {
                    throw new InvalidOperationException("the broker closed the connection");
                }
            }
        }
    }
}
