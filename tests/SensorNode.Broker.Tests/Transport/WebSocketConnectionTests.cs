using System.Buffers;
using System.IO.Pipelines;
using System.Net.WebSockets;
using Microsoft.Extensions.Logging.Abstractions;
using SensorNode.Broker.Http;

namespace SensorNode.Broker.Tests.Transport;

/// <summary>The WebSocket adapter between Kestrel's WebSocket and the MQTT engine's pipes, against scripted peers.</summary>
public sealed class WebSocketConnectionTests
{
    /// <summary>A peer that sends <paramref name="bytes"/> one-byte binary fragments of one message, then nothing.</summary>
    private sealed class OneByteFragments(int bytes) : WebSocket
    {
        private int _sent;

        public override WebSocketCloseStatus? CloseStatus => null;

        public override string? CloseStatusDescription => null;

        public override WebSocketState State => WebSocketState.Open;

        public override string? SubProtocol => "mqtt";

        public override async ValueTask<ValueWebSocketReceiveResult> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
        {
            if (_sent == bytes)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            buffer.Span[0] = (byte)_sent;
            _sent++;
            return new ValueWebSocketReceiveResult(1, WebSocketMessageType.Binary, endOfMessage: false);
        }

        public override Task<WebSocketReceiveResult> ReceiveAsync(ArraySegment<byte> buffer, CancellationToken cancellationToken) => throw new NotSupportedException();

        public override Task SendAsync(ArraySegment<byte> buffer, WebSocketMessageType messageType, bool endOfMessage, CancellationToken cancellationToken) => Task.CompletedTask;

        public override ValueTask SendAsync(ReadOnlyMemory<byte> buffer, WebSocketMessageType messageType, bool endOfMessage, CancellationToken cancellationToken) =>
            GoneAway ? throw new WebSocketException(WebSocketError.InvalidState, "The WebSocket is in an invalid state ('Aborted')") : ValueTask.CompletedTask;

        /// <summary>Sends fail as they do once the peer has gone.</summary>
        public bool GoneAway { get; init; }

        public override Task CloseAsync(WebSocketCloseStatus closeStatus, string? statusDescription, CancellationToken cancellationToken) => Task.CompletedTask;

        public override Task CloseOutputAsync(WebSocketCloseStatus closeStatus, string? statusDescription, CancellationToken cancellationToken) => Task.CompletedTask;

        public override void Abort()
        {
        }

        public override void Dispose()
        {
        }
    }

    /// <summary>
    /// MQTT over WebSocket (§6) lets a packet span any number of WebSocket frames. A partial packet waits in the
    /// connection's input pipe, bounded by bytes; the memory behind those bytes must be bounded too. Before the fix
    /// every one-byte frame took a 4 KB pipe segment of its own: 7 MB of one-byte frames held 4 GB.
    /// </summary>
    [Fact]
    public async Task One_byte_fragments_are_packed_into_the_input_pipe_not_given_a_segment_each()
    {
        const int Bytes = 20_000;
        var connection = new WebSocketConnection(new OneByteFragments(Bytes), remote: null, local: null, maxPacketSize: 1024 * 1024, NullLogger.Instance);
        int segments = 0;
        long buffered = 0;
        Task run = connection.RunAsync(async context =>
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            while (true)
            {
                // Like the MQTT reader with a packet not yet complete: everything examined, nothing consumed.
                ReadResult result = await context.Transport.Input.ReadAsync(deadline.Token);
                if (result.Buffer.Length >= Bytes)
                {
                    buffered = result.Buffer.Length;
                    foreach (ReadOnlyMemory<byte> _ in result.Buffer)
                    {
                        segments++;
                    }

                    context.Transport.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
                    break;
                }

                context.Transport.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            }

            connection.Abort(new Microsoft.AspNetCore.Connections.ConnectionAbortedException());
        });
        await run.WaitAsync(TimeSpan.FromSeconds(15));

        Assert.Equal(Bytes, buffered);
        Assert.True(segments <= (Bytes / 4096) + 2, $"{Bytes} one-byte fragments took {segments} pipe segments (at 4 KB each)");
    }

    /// <summary>
    /// A peer that has gone makes the WebSocket's send fail; the engine must see that as the transport's abort (its
    /// normal end of a connection), not as an unexpected exception logged as a broker failure with a stack trace.
    /// </summary>
    [Fact]
    public async Task A_failed_send_reaches_the_engine_as_the_connection_aborted()
    {
        var connection = new WebSocketConnection(new OneByteFragments(0) { GoneAway = true }, remote: null, local: null, maxPacketSize: 1024, NullLogger.Instance);
        Exception? seen = null;
        Task run = connection.RunAsync(async context =>
        {
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                while (!deadline.IsCancellationRequested)
                {
                    await context.Transport.Output.WriteAsync(new byte[] { 0xD0, 0x00 }, deadline.Token);
                }
            }
            catch (Exception ex)
            {
                seen = ex;
            }

            connection.Abort(new Microsoft.AspNetCore.Connections.ConnectionAbortedException());
        });
        await run.WaitAsync(TimeSpan.FromSeconds(15));

        Assert.IsType<Microsoft.AspNetCore.Connections.ConnectionAbortedException>(seen);
    }
}
