using System.Buffers;
using BenchmarkDotNet.Attributes;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;

namespace SensorNode.Broker.Benchmarks;

/// <summary>
/// The receive path of one PUBLISH as MqttConnection runs it: frame split (MqttFrameReader.TryReadFrame),
/// in-place parse (MqttPacketDecoder.ReadPublish), then what HandlePublish builds (TopicNameCache.GetOrAdd +
/// ApplicationMessage.Create). 64 fan-in PUBLISH packets (32-byte payloads, 8 topics) per invocation.
/// </summary>
[MemoryDiagnoser]
public class CodecBenchmarks
{
    private const int Packets = 64;
    private ReadOnlySequence<byte> _input;
    private readonly TopicNameCache _topics = new();
    private readonly ArrayBufferWriter<byte> _output = new(64 * 1024);
    private ApplicationMessage _message = null!;

    [Params((byte)0, (byte)1)]
    public byte Qos { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var buffer = new ArrayBufferWriter<byte>();
        byte[] payload = new byte[32];
        for (int i = 0; i < Packets; i++)
        {
            MqttPacketWriter.Write(buffer, new PublishPacket { Topic = $"sensor/temperature/room{i % 8}", Payload = payload, Qos = Qos, PacketId = (ushort)(Qos > 0 ? i + 1 : 0) });
        }

        _input = new ReadOnlySequence<byte>(buffer.WrittenMemory);
        _message = ApplicationMessage.Create("sensor/temperature/room1", payload, Qos, retain: false);
    }

    [Benchmark(OperationsPerInvoke = Packets, Description = "frame read + PUBLISH parse")]
    public int FrameReadAndParse()
    {
        ReadOnlySequence<byte> buffer = _input;
        int total = 0;
        while (MqttFrameReader.TryReadFrame(ref buffer, 1 << 20, out byte header, out ReadOnlySequence<byte> body))
        {
            PublishView view = MqttPacketDecoder.ReadPublish(header, body.FirstSpan);
            total += view.Payload.Length;
        }

        return total;
    }

    [Benchmark(OperationsPerInvoke = Packets, Description = "frame read + parse + ApplicationMessage")]
    public int FrameReadParseAndMessage()
    {
        ReadOnlySequence<byte> buffer = _input;
        int total = 0;
        while (MqttFrameReader.TryReadFrame(ref buffer, 1 << 20, out byte header, out ReadOnlySequence<byte> body))
        {
            PublishView view = MqttPacketDecoder.ReadPublish(header, body.FirstSpan);
            ApplicationMessage message = ApplicationMessage.Create(_topics.GetOrAdd(view.Topic), view.Topic, view.Payload, view.Qos, view.Retain);
            total += message.Size;
        }

        return total;
    }

    [Benchmark(OperationsPerInvoke = Packets, Description = "WritePublish into a reused buffer writer")]
    public int WritePublish()
    {
        _output.ResetWrittenCount();
        for (int i = 0; i < Packets; i++)
        {
            MqttPacketWriter.WritePublish(_output, _message, Qos, retain: false, dup: false, (ushort)(i + 1));
        }

        return _output.WrittenCount;
    }
}
