using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;

namespace SensorNode.Broker.Host.Client;

/// <summary>A failure the command line reports in one sentence, with its exit code.</summary>
internal sealed class CliException(string message, int exitCode = 1) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>
/// A small MQTT 3.1.1 client on the broker's own codec (<see cref="MqttPacketWriter"/>, <see cref="MqttPacketDecoder"/>)
/// for <c>sub</c> and <c>pub</c>: one TCP connection, CONNECT, then packets sent and received whole.
/// </summary>
internal sealed class MqttCliClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly NetworkStream _stream;
    private readonly PipeReader _reader;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private ushort _lastPacketId;

    private MqttCliClient(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        _reader = PipeReader.Create(_stream);
    }

    public static async Task<MqttCliClient> ConnectAsync(string host, int port, ConnectPacket connect, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var tcp = new TcpClient { NoDelay = true };
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await tcp.ConnectAsync(host, port, cts.Token);
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            tcp.Dispose();
            cancellationToken.ThrowIfCancellationRequested();
            throw new CliException($"cannot connect to {host}:{port}: {(ex is SocketException s ? s.Message : "timed out")}");
        }

        var client = new MqttCliClient(tcp);
        try
        {
            await client.SendAsync(connect, cts.Token);
            MqttPacket? reply = await client.ReceiveAsync(cts.Token);
            if (reply is not ConnAckPacket connAck)
            {
                throw new CliException($"{host}:{port} did not answer CONNECT with CONNACK{(reply is null ? " (connection closed)" : $" (got {reply.Type})")}");
            }

            if (connAck.ReturnCode != ConnectReturnCode.Accepted)
            {
                throw new CliException($"connection refused by {host}:{port}: {Describe(connAck.ReturnCode)}", 5);
            }

            return client;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await client.DisposeAsync();
            throw new CliException($"{host}:{port} did not answer CONNECT in time");
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    public ushort NextPacketId()
    {
        _lastPacketId = _lastPacketId == ushort.MaxValue ? (ushort)1 : (ushort)(_lastPacketId + 1);
        return _lastPacketId;
    }

    public async Task SendAsync(MqttPacket packet, CancellationToken cancellationToken)
    {
        byte[] bytes = MqttPacketWriter.ToArray(packet);
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            await _stream.WriteAsync(bytes, cancellationToken);
        }
        catch (IOException ex)
        {
            throw new CliException($"connection lost: {ex.Message}");
        }
        finally
        {
            _writeLock.Release();
        }
    }

    /// <summary>The next whole packet, or null when the broker closed the connection.</summary>
    public async Task<MqttPacket?> ReceiveAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result;
            try
            {
                result = await _reader.ReadAsync(cancellationToken);
            }
            catch (IOException)
            {
                return null;
            }

            ReadOnlySequence<byte> buffer = result.Buffer;
            if (MqttFrameReader.TryReadFrame(ref buffer, int.MaxValue, out byte header, out ReadOnlySequence<byte> body))
            {
                MqttPacket packet;
                try
                {
                    packet = MqttPacketDecoder.Decode(header, body.ToArray());
                }
                catch (MqttProtocolException ex)
                {
                    throw new CliException($"the broker sent a malformed packet: {ex.Message}");
                }
                finally
                {
                    _reader.AdvanceTo(buffer.Start);
                }

                return packet;
            }

            _reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                return null;
            }
        }
    }

    public async Task DisconnectAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await SendAsync(EmptyPacket.Disconnect, cts.Token);
        }
        catch (Exception ex) when (ex is CliException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            // Already gone.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _reader.CompleteAsync();
        _tcp.Dispose();
        _writeLock.Dispose();
    }

    private static string Describe(ConnectReturnCode code) => code switch
    {
        ConnectReturnCode.UnacceptableProtocolVersion => "unacceptable protocol version",
        ConnectReturnCode.IdentifierRejected => "client identifier rejected",
        ConnectReturnCode.ServerUnavailable => "server unavailable",
        ConnectReturnCode.BadUserNameOrPassword => "bad user name or password",
        ConnectReturnCode.NotAuthorized => "not authorised",
        _ => $"return code {(byte)code}",
    };
}
