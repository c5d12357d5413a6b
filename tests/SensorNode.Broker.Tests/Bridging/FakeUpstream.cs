using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;

namespace SensorNode.Broker.Tests.Bridging;

/// <summary>One packet as the fake upstream saw it.</summary>
public sealed record SeenPacket(PacketType Type, ushort PacketId, byte Qos = 0, bool Dup = false, string? Topic = null, string? Payload = null);

/// <summary>
/// A scripted upstream on 127.0.0.1 for what a real broker cannot be made to do on cue: withhold acknowledgements,
/// drop the connection between PUBREC and PUBCOMP, and show exactly which packets the bridge re-sends.
/// </summary>
public sealed class FakeUpstream : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);

    public FakeUpstream() => _listener.Start();

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Accepts the bridge's next connection, checks its CONNECT and answers CONNACK.</summary>
    public async Task<Connection> AcceptAsync(bool mqtt5, bool sessionPresent, TimeSpan timeout, Broker.Protocol.V5.MqttProperties? connAckProperties = null)
    {
        using var cts = new CancellationTokenSource(timeout);
        TcpClient client = await _listener.AcceptTcpClientAsync(cts.Token);
        var connection = new Connection(client, mqtt5 ? ProtocolLevel.V500 : ProtocolLevel.V311, timeout);
        (byte header, byte[] body) = await connection.ReadFrameAsync();
        Assert.Equal(PacketType.Connect, MqttPacketDecoder.TypeOf(header));
        connection.ConnectLevel = body[6];
        connection.ConnectFlags = body[7];
        await connection.SendAsync(output =>
        {
            if (mqtt5)
            {
                MqttPacketWriter.WriteConnAck(output, sessionPresent, ReasonCode.Success, connAckProperties);
            }
            else
            {
                MqttPacketWriter.WriteConnAck(output, sessionPresent, ConnectReturnCode.Accepted);
            }
        });
        return connection;
    }

    /// <summary>Accepts a 3.1.1 connection and refuses it with CONNACK 0x01 (unacceptable protocol version); returns the level asked for.</summary>
    public async Task<byte> RefuseAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        TcpClient client = await _listener.AcceptTcpClientAsync(cts.Token);
        await using var connection = new Connection(client, ProtocolLevel.V311, timeout);
        (byte header, byte[] body) = await connection.ReadFrameAsync();
        Assert.Equal(PacketType.Connect, MqttPacketDecoder.TypeOf(header));
        await connection.SendAsync(output => MqttPacketWriter.WriteConnAck(output, false, ConnectReturnCode.UnacceptableProtocolVersion));
        return body[6];
    }

    public ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Dispose();
        return ValueTask.CompletedTask;
    }

    public sealed class Connection : IAsyncDisposable
    {
        private readonly TcpClient _client;
        private readonly NetworkStream _stream;
        private readonly PipeReader _reader;
        private readonly TimeSpan _timeout;

        internal Connection(TcpClient client, ProtocolLevel level, TimeSpan timeout)
        {
            _client = client;
            _stream = client.GetStream();
            _reader = PipeReader.Create(_stream);
            Level = level;
            _timeout = timeout;
        }

        public ProtocolLevel Level { get; }

        /// <summary>The protocol level byte of the bridge's CONNECT (5, 4, or 0x84 with the bridge flag).</summary>
        public byte ConnectLevel { get; internal set; }

        public byte ConnectFlags { get; internal set; }

        internal async Task<(byte Header, byte[] Body)> ReadFrameAsync()
        {
            using var cts = new CancellationTokenSource(_timeout);
            for (int i = 0; i < 100_000; i++)
            {
                ReadResult result = await _reader.ReadAsync(cts.Token);
                ReadOnlySequence<byte> buffer = result.Buffer;
                if (MqttFrameReader.TryReadFrame(ref buffer, int.MaxValue, out byte header, out ReadOnlySequence<byte> body))
                {
                    byte[] copy = body.ToArray();
                    _reader.AdvanceTo(buffer.Start);
                    return (header, copy);
                }

                _reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    throw new IOException("the bridge closed the connection");
                }
            }

            throw new InvalidOperationException("no frame");
        }

        /// <summary>The next packet other than PINGREQ (answered).</summary>
        public async Task<SeenPacket> NextAsync()
        {
            for (int i = 0; i < 1000; i++)
            {
                (byte header, byte[] body) = await ReadFrameAsync();
                PacketType type = MqttPacketDecoder.TypeOf(header);
                switch (type)
                {
                    case PacketType.PingReq:
                        await SendAsync(output => MqttPacketWriter.WriteEmpty(output, PacketType.PingResp));
                        continue;
                    case PacketType.Publish:
                        return ParsePublish(header, body);
                    case PacketType.PubRel or PacketType.PubAck or PacketType.PubRec or PacketType.PubComp:
                        return new SeenPacket(type, MqttPacketDecoder.ReadPacketId(type, body, Level, out _, out _));
                    default:
                        return new SeenPacket(type, 0);
                }
            }

            throw new InvalidOperationException("only pings");
        }

        private SeenPacket ParsePublish(byte header, byte[] body)
        {
            PublishView publish = MqttPacketDecoder.ReadPublish(header, body, Level, fromServer: false, out _);
            return new SeenPacket(PacketType.Publish, publish.PacketId, publish.Qos, publish.Dup, MqttUtf8.Decode(publish.Topic), MqttUtf8.Decode(publish.Payload));
        }

        public Task AckAsync(PacketType type, ushort packetId) => SendAsync(output => MqttPacketWriter.WriteAck(output, type, packetId));

        public async Task SendAsync(Action<IBufferWriter<byte>> write)
        {
            var buffer = new ArrayBufferWriter<byte>();
            write(buffer);
            await _stream.WriteAsync(buffer.WrittenMemory);
        }

        public async ValueTask DisposeAsync()
        {
            await _reader.CompleteAsync();
            _client.Dispose();
        }
    }
}
