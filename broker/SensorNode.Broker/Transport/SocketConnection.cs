using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace SensorNode.Broker.Transport;

/// <summary>
/// One accepted plain-TCP socket as the engine's connection: the socket's stream read through a pipe reader that
/// waits for data before renting a buffer (zero-byte reads) and written through a pipe writer that holds a buffer
/// only between a write and its flush. An idle connection therefore holds no buffer at all, and none of
/// Kestrel's per-connection pipes, send and receive loops; see <see cref="TcpMqttListener"/>.
/// </summary>
internal sealed class SocketConnection : PlainTcpConnection, IThreadPoolWorkItem
{
    // A batch of small PUBLISH packets fits one buffer, so a flush is one send.
    private const int WriteBufferSize = 16 * 1024;

    private static readonly StreamPipeReaderOptions ReaderOptions = new(bufferSize: 4096, minimumReadSize: 1024, leaveOpen: true, useZeroByteReads: true);
    private static readonly StreamPipeWriterOptions WriterOptions = new(minimumBufferSize: WriteBufferSize, leaveOpen: true);

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly TcpMqttListener _listener;
    private int _closed;

    public SocketConnection(Socket socket, TcpMqttListener listener)
    {
        _socket = socket;
        _listener = listener;
        _stream = new FairNetworkStream(socket);
        Input = PipeReader.Create(_stream, ReaderOptions);
        Output = PipeWriter.Create(_stream, WriterOptions);
    }

    public override PipeReader Input { get; }

    public override PipeWriter Output { get; }

    protected override long SocketHandle => _socket.Handle;

    public override EndPoint? RemoteEndPoint
    {
        get => _socket.RemoteEndPoint;
        set => throw new NotSupportedException();
    }

    public override EndPoint? LocalEndPoint
    {
        get => _socket.LocalEndPoint;
        set => throw new NotSupportedException();
    }

    /// <summary>Runs the MQTT connection on a pool thread, so that the accept loop is never held by a client.</summary>
    public void Execute() => _ = new MqttConnection(this, _listener.Broker, ownsTransport: true).RunAsync();

    public override void Abort(ConnectionAbortedException abortReason) => CloseSocket();

    public override async ValueTask DisposeAsync()
    {
        await Input.CompleteAsync();
        bool aborted = Volatile.Read(ref _closed) != 0;

        // Normally the engine completed the output already (or aborted). Completing flushes what is left, which a
        // peer that stopped reading must not hold up for long.
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
        using (timeout.Token.Register(static o => ((PipeWriter)o!).CancelPendingFlush(), Output))
        {
            try
            {
                await Output.CompleteAsync();
            }
            catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
            {
                // The peer is gone or stalled; the socket is closed below either way.
            }
        }

        if (!aborted)
        {
            await LingerAsync();
        }

        CloseSocket();
        _listener.ConnectionEnded();
        await base.DisposeAsync();
    }

    /// <summary>
    /// A graceful close: our side is shut (FIN after the last byte), then what the peer still sends (a PUBACK, a
    /// PINGREQ) is read and dropped until it closes too, for at most a second. Closing a socket with unread input
    /// would send a reset instead, which makes the peer's stack drop the last packets we sent it.
    /// </summary>
    private async ValueTask LingerAsync()
    {
        byte[] sink = System.Buffers.ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            _socket.Shutdown(SocketShutdown.Send);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            for (int total = 0; total < 64 * 1024;)
            {
                int read = await _socket.ReceiveAsync(sink, SocketFlags.None, timeout.Token);
                if (read == 0)
                {
                    break;
                }

                total += read;
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer reset, is gone, or keeps sending: the socket is closed now either way.
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(sink);
        }
    }

    /// <summary>
    /// Socket completions run inline on the runtime's socket engine threads (see Program.cs of the host), and a read
    /// that finds data completes at once: a publisher that never lets its socket run dry would keep its read loop, and
    /// so an engine thread and every other socket it serves, to itself. After a run of such reads the loop goes on
    /// from the thread pool instead.
    /// </summary>
    private sealed class FairNetworkStream(Socket socket) : NetworkStream(socket, ownsSocket: false)
    {
        private const int MaxReadsInRow = 16;
        private int _readsInRow;

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            ValueTask<int> read = base.ReadAsync(buffer, cancellationToken);
            if (!read.IsCompleted)
            {
                _readsInRow = 0;
                return read;
            }

            if (++_readsInRow < MaxReadsInRow)
            {
                return read;
            }

            _readsInRow = 0;
            return YieldThenAsync(read);
        }

        private static async ValueTask<int> YieldThenAsync(ValueTask<int> read)
        {
            await Task.Yield();
            return await read;
        }
    }

    private void CloseSocket()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // The peer is already gone.
        }

        _stream.Dispose();
        _socket.Dispose();
    }
}
