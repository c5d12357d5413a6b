using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace SensorNode.Broker.Http;

/// <summary>
/// An accepted WebSocket presented to the MQTT engine as a connection like any TCP one: two pipes, one filled from
/// the WebSocket's binary messages, one drained into binary messages. MQTT packets may span WebSocket messages and
/// one message may hold several packets (MQTT 3.1.1 §6); a text message closes the connection [MQTT-6.0.0-1].
/// </summary>
internal sealed class WebSocketConnection : ConnectionContext
{
    private readonly WebSocket _socket;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _aborted = new();

    public WebSocketConnection(WebSocket socket, EndPoint? remote, EndPoint? local, int maxPacketSize, ILogger logger)
    {
        _socket = socket;
        _logger = logger;

        // As with TCP, a partial packet stays in the input pipe until it is complete, so the pipe must hold the largest one.
        long inputLimit = maxPacketSize + 64L * 1024;
        _input = new Pipe(new PipeOptions(pauseWriterThreshold: inputLimit, resumeWriterThreshold: inputLimit / 2, useSynchronizationContext: false));
        _output = new Pipe(new PipeOptions(pauseWriterThreshold: 256 * 1024, resumeWriterThreshold: 128 * 1024, useSynchronizationContext: false));
        Transport = new DuplexPipe(_input.Reader, _output.Writer);
        RemoteEndPoint = remote;
        LocalEndPoint = local;
        ConnectionClosed = _aborted.Token;
    }

    public override string ConnectionId { get; set; } = "ws-" + Guid.NewGuid().ToString("N")[..12];

    public override IFeatureCollection Features { get; } = new FeatureCollection();

    public override IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();

    public override IDuplexPipe Transport { get; set; }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        _aborted.Cancel();

        // After our close frame (a text message was refused) the peer gets a moment to read it; CloseAsync cuts later.
        if (_socket.State != WebSocketState.CloseSent)
        {
            _socket.Abort();
        }
    }

    /// <summary>Runs the MQTT connection over the WebSocket until either side ends it.</summary>
    public async Task RunAsync(Func<ConnectionContext, Task> onConnected)
    {
        Task receiving = ReceiveAsync();
        Task sending = SendAsync();
        try
        {
            await onConnected(this);
        }
        finally
        {
            // The engine is done: the input is no longer read and its output is complete (or the connection was aborted).
            await _input.Reader.CompleteAsync();
            await _output.Writer.CompleteAsync();
            await sending;
            await CloseAsync();
            await receiving;
            _aborted.Dispose();
        }
    }

    private async Task ReceiveAsync()
    {
        PipeWriter writer = _input.Writer;
        try
        {
            while (true)
            {
                // Whatever the current segment has left: a new 4 KB segment per receive would let a peer that sends
                // one-byte fragments hold 4 KB of memory per byte it sent (the pause threshold counts bytes, not segments).
                Memory<byte> memory = writer.GetMemory();
                ValueWebSocketReceiveResult result = await _socket.ReceiveAsync(memory, _aborted.Token);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    break;
                }

                if (result.MessageType == WebSocketMessageType.Text)
                {
                    _logger.LogInformation("Closing WebSocket {Remote}: a text message is not allowed for MQTT", RemoteEndPoint);
                    await _socket.CloseOutputAsync(WebSocketCloseStatus.InvalidMessageType, "MQTT needs binary messages", CancellationToken.None);
                    break;
                }

                writer.Advance(result.Count);
                FlushResult flush = await writer.FlushAsync();
                if (flush.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            _logger.LogDebug("WebSocket {Remote} receive ended: {Message}", RemoteEndPoint, ex.Message);
        }

        // Ending the input without an error: the engine sees the socket closed, as with TCP.
        await writer.CompleteAsync();
    }

    private async Task SendAsync()
    {
        PipeReader reader = _output.Reader;
        try
        {
            while (true)
            {
                ReadResult result = await reader.ReadAsync();
                ReadOnlySequence<byte> buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    // One WebSocket message per flush: a batch of packets, possibly spread over pipe segments.
                    SequencePosition position = buffer.Start;
                    while (buffer.TryGet(ref position, out ReadOnlyMemory<byte> segment))
                    {
                        bool last = position.GetObject() is null;
                        await _socket.SendAsync(segment, WebSocketMessageType.Binary, last, _aborted.Token);
                    }
                }

                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }

            await reader.CompleteAsync();
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            _logger.LogDebug("WebSocket {Remote} send ended: {Message}", RemoteEndPoint, ex.Message);

            // The engine's next flush sees the output gone and ends the connection; the receive side ends too. As the
            // transport's abort, not the WebSocket's own exception: a peer going away is not an engine failure.
            await reader.CompleteAsync(new ConnectionAbortedException(ex.Message, ex));
            _socket.Abort();
        }
    }

    /// <summary>The close handshake, bounded: a peer that does not answer is cut after two seconds.</summary>
    private async Task CloseAsync()
    {
        if (_socket.State == WebSocketState.CloseSent)
        {
            CutLater();
            return;
        }

        if (_socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            _socket.Abort();
            return;
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException or ObjectDisposedException)
        {
            _socket.Abort();
            return;
        }

        CutLater();
    }

    /// <summary>Waits briefly for the peer's close frame (the receive loop sees it), then cuts.</summary>
    private void CutLater() => _ = Task.Delay(TimeSpan.FromSeconds(2)).ContinueWith(_ => _socket.Abort(), TaskScheduler.Default);

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
