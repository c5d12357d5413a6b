using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Transport;

/// <summary>
/// One client connection: a read loop that parses frames in place from the transport's pipe and handles
/// them synchronously, and a write loop that drains the session's outbound queue in batches, flushing
/// once per batch. The read loop never waits on other clients; the write loop never blocks the reader.
/// </summary>
internal sealed partial class MqttConnection : ISessionConnection, IThreadPoolWorkItem
{
    private const int MaxBatchPackets = 256;
    private static readonly TimeSpan StalledWriteGrace = TimeSpan.FromSeconds(1);
    private static readonly ConnectionAbortedException OwnTransportAbort = new("closed by the broker");
    private const int NoReason = -1;

    private readonly ConnectionContext _context;
    private readonly MqttBroker _broker;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly ILogger _logger;

    /// <summary>Batch lists lent to writers for one write round, so idle connections hold none.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentBag<List<OutboundPacket>> BatchPool = [];

    private readonly long _acceptedAt = Environment.TickCount64;
    private long _lastReceivedAt = Environment.TickCount64;
    private long _keepAliveLimitMs;
    private int _closeReason = NoReason;
    private volatile bool _gracefulClose;
    private bool _flushBeforeClose;

    // A flush was cancelled in the middle: what reached the socket is unknown (a packet may be cut short, and flushing
    // again would repeat part of it), so nothing more is written and the connection is cut.
    private bool _outputBroken;
    private bool _flushAfterRead;
    private int _publishesThisSecond;
    private long _rateWindowStart = Environment.TickCount64;
    private byte[]? _scratch;

    // The writer is a pool work item that runs only while there is output (an idle connection holds no writer):
    // SignalOutput marks output pending and schedules a pass unless one is running; a pass ends idle, or stopped.
    private const int WriterIdle = 0;
    private const int WriterRunning = 1;
    private const int WriterStopped = 2;
    private int _writerState = WriterStopped;
    private int _outputPending;
    private bool _writerStarted;
    private TaskCompletionSource? _writerDone;

    private readonly bool _ownsTransport;

    /// <param name="ownsTransport">True when the connection disposes <paramref name="context"/> once it has closed (transports other than Kestrel's).</param>
    public MqttConnection(ConnectionContext context, MqttBroker broker, bool ownsTransport = false)
    {
        _context = context;
        _ownsTransport = ownsTransport;
        _broker = broker;
        _input = context.Transport.Input;
        _output = context.Transport.Output;
        _logger = broker.LoggerFactory.CreateLogger("SensorNode.Broker.Connection");
    }

    /// <summary>The peer's address and port, formatted when first logged.</summary>
    public string RemoteEndPoint => _remoteEndPoint ??= _context.RemoteEndPoint?.ToString() ?? "unknown";

    private string? _remoteEndPoint;

    /// <summary>
    /// Made again for each use (admission, login, release) rather than kept: an idle connection's memory counts more
    /// than two small objects of garbage per connect.
    /// </summary>
    private System.Net.IPAddress? RemoteAddress => (_context.RemoteEndPoint as System.Net.IPEndPoint)?.Address;

    /// <summary>Set when the connection is one too many: its CONNECT is answered with this refusal.</summary>
    private DisconnectReason? _refusal;

    /// <summary>A refused login's answer waits this long, which makes guessing passwords slow.</summary>
    private TimeSpan _delayRefusal;

    private DisconnectReason? CloseReason => _closeReason == NoReason ? null : (DisconnectReason)_closeReason;

    public async Task RunAsync()
    {
        _broker.Register(this);
        _refusal = _broker.Admit(RemoteAddress);
        _broker.Metrics.CountConnectionAccepted();
        CancellationTokenRegistration closeRequested = default;
        if (_context.Features.Get<IConnectionLifetimeNotificationFeature>() is { } lifetime)
        {
            closeRequested = lifetime.ConnectionClosedRequested.Register(static state => ((MqttConnection)state!).BeginGracefulClose(), this);
        }

        if (_broker.IsShuttingDown)
        {
            BeginGracefulClose();
        }

        // Every connection carries this method's state machine while it waits for input, so the loop keeps only what must
        // outlive an await: what one read returned is handled synchronously (HandleRead), and the rare rounds that must
        // wait (a login on the pool, a throttled client, an AUTH challenge to flush) continue in a method of their own.
        try
        {
            while (true)
            {
                ReadResult result = await _input.ReadAsync();
                if (result.IsCanceled || CloseReason is not null)
                {
                    break;
                }

                ReadRound round = HandleRead(result);
                bool keepReading;
                if (round.HasLogin || round.Throttled || _flushAfterRead)
                {
                    keepReading = await FinishRoundSlowlyAsync(round);
                }
                else
                {
                    keepReading = FinishRound(round);
                }

                if (!keepReading)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ConnectionAbortedException or ConnectionResetException or OperationCanceledException)
        {
            SetCloseReason(DisconnectReason.UnspecifiedError);
            _logger.LogDebug("Connection {Remote} ({ClientId}) lost: {Message}", RemoteEndPoint, _session?.ClientId, ex.Message);
        }
        catch (Exception ex)
        {
            SetCloseReason(DisconnectReason.ImplementationSpecificError);
            _logger.LogError(ex, "Connection {Remote} ({ClientId}) failed", RemoteEndPoint, _session?.ClientId);
        }
        finally
        {
            await EndConnectionAsync(closeRequested);
        }
    }

    /// <summary>What handling the bytes of one read left to do.</summary>
    private struct ReadRound
    {
        public bool KeepReading;
        public bool Throttled;
        public bool Ended;
        public bool MidPacket;
        public bool HasLogin;
        public byte LoginHeader;
        public ReadOnlySequence<byte> LoginBody;
        public SequencePosition Unread;
    }

    /// <summary>
    /// Handles the whole packets of one read and gives back what it examined, except the packet of a login that must
    /// be handled on the pool, which stays in the buffer until then.
    /// </summary>
    private ReadRound HandleRead(in ReadResult result)
    {
        ReadOnlySequence<byte> buffer = result.Buffer;
        long received = buffer.Length;
        var round = new ReadRound { KeepReading = true };
        int maxPacketSize = _broker.Options.MaxPacketSize;
        int rate = _broker.Options.MaxPublishRatePerClient;
        int batch = OutputBatch.Begin();
        try
        {
            while (round.KeepReading && !buffer.IsEmpty)
            {
                // Judge the fixed header as soon as its first byte is here, so garbage (an HTTP request, a
                // non-CONNECT first packet) is refused without waiting for a body that may never come.
                CheckFirstByte(buffer.FirstSpan[0]);
                if (rate > 0 && _publishesThisSecond >= rate && MqttPacketDecoder.TypeOf(buffer.FirstSpan[0]) == PacketType.Publish)
                {
                    // Over the publish rate: this PUBLISH waits, unread, until the second is over.
                    round.Throttled = true;
                    break;
                }

                if (!MqttFrameReader.TryReadFrame(ref buffer, maxPacketSize, out byte header, out ReadOnlySequence<byte> body))
                {
                    break;
                }

                // Only whole packets count as activity for keep alive [MQTT-3.1.2-24]: a trickle of bytes does not.
                Volatile.Write(ref _lastReceivedAt, Environment.TickCount64);
                if ((_session is null && LoginMayBeSlow) || (MqttPacketDecoder.TypeOf(header) == PacketType.Auth && _broker.Options.EnhancedAuthenticators.Count > 0))
                {
                    // Handled on a pool thread; the rest of the buffer waits for the next round.
                    round.HasLogin = true;
                    round.LoginHeader = header;
                    round.LoginBody = body;
                    break;
                }

                round.KeepReading = HandlePacket(header, body);
            }
        }
        catch (MqttProtocolException ex)
        {
            round.KeepReading = OnProtocolError(ex);
        }
        finally
        {
            OutputBatch.End(batch);
        }

        _broker.Metrics.CountReceived(received - buffer.Length);
        round.Ended = result.IsCompleted;
        round.MidPacket = !buffer.IsEmpty;
        if (round.HasLogin)
        {
            round.Unread = buffer.Start;
        }
        else
        {
            // A throttled read leaves its rest unexamined, so the next read returns it at once.
            _input.AdvanceTo(buffer.Start, round.Throttled ? buffer.Start : buffer.End);
        }

        return round;
    }

    /// <summary>The end of a round that needs no waiting: false when the connection is done reading.</summary>
    private bool FinishRound(in ReadRound round)
    {
        if (!round.KeepReading)
        {
            return false;
        }

        StartNewRateWindowIfDue();
        return !EndOfInput(round);
    }

    /// <summary>The end of a round that waits: the login on the pool, the rest of a throttled second, a flush.</summary>
    private async Task<bool> FinishRoundSlowlyAsync(ReadRound round)
    {
        bool keepReading = round.HasLogin ? await HandleLoginOnPoolAsync(round.LoginHeader, round.LoginBody, round.Unread) : round.KeepReading;
        if (!keepReading)
        {
            return false;
        }

        if (!StartNewRateWindowIfDue() && round.Throttled)
        {
            // Too fast: stop reading until the second is over; TCP pushes back on this client alone.
            await Task.Delay((int)Math.Max(1, 1000 - (Environment.TickCount64 - _rateWindowStart)));
            _rateWindowStart = Environment.TickCount64;
            _publishesThisSecond = 0;
        }

        if (_flushAfterRead)
        {
            // Packets written by the reader itself before the writer runs (an AUTH challenge during CONNECT).
            _flushAfterRead = false;
            await _output.FlushAsync();
        }

        // After a login the rest of the read was left unexamined: the next read returns it (a fire-and-forget client's
        // PUBLISH and DISCONNECT behind its CONNECT), and the end of the stream with it, if that came.
        return round.HasLogin || !EndOfInput(round);
    }

    private bool StartNewRateWindowIfDue()
    {
        if (_broker.Options.MaxPublishRatePerClient <= 0 || Environment.TickCount64 - _rateWindowStart < 1000)
        {
            return false;
        }

        _rateWindowStart = Environment.TickCount64;
        _publishesThisSecond = 0;
        return true;
    }

    /// <summary>The peer ended its side: the connection closes, with a line when that cut a packet short.</summary>
    private bool EndOfInput(in ReadRound round)
    {
        if (!round.Ended)
        {
            return false;
        }

        SetCloseReason(DisconnectReason.UnspecifiedError);
        if (round.MidPacket)
        {
            _logger.LogInformation("Connection {Remote} ({ClientId}) closed in the middle of a packet", RemoteEndPoint, _session?.ClientId);
        }

        return true;
    }

    /// <summary>
    /// Everything a closing connection must do, each step run even when an earlier one fails (a failure is logged):
    /// a connection that skipped its unregistering or its socket's disposal would leak both.
    /// </summary>
    private async Task EndConnectionAsync(CancellationTokenRegistration closeRequested)
    {
        try
        {
            await closeRequested.DisposeAsync();
            await StopWriterAsync();
            EndSession();
        }
        catch (Exception ex)
        {
            _logger.LogError(ex, "Ending the session of {Remote} ({ClientId}) failed", RemoteEndPoint, _session?.ClientId);
        }
        finally
        {
            _broker.Unregister(this);
            _broker.Release(RemoteAddress);
            try
            {
                await CloseTransportAsync();
            }
            catch (Exception ex)
            {
                _logger.LogError(ex, "Closing {Remote} failed", RemoteEndPoint);
            }
            finally
            {
                if (_scratch is not null)
                {
                    ArrayPool<byte>.Shared.Return(_scratch);
                }

                if (_ownsTransport)
                {
                    await _context.DisposeAsync();
                }
            }
        }
    }

    private void CheckFirstByte(byte header)
    {
        if (_session is null && MqttPacketDecoder.TypeOf(header) != (_pendingAuth is null ? PacketType.Connect : PacketType.Auth))
        {
            throw MqttProtocolException.ProtocolError($"first packet must be CONNECT, got type {header >> 4} [MQTT-3.1.0-1]");
        }

        MqttPacketDecoder.CheckFixedHeader(header, _level);
    }

    /// <summary>Bodies that straddle pipe segments are copied once into a per-connection buffer; most never do.</summary>
    private ReadOnlySpan<byte> Linearize(in ReadOnlySequence<byte> body)
    {
        if (body.IsSingleSegment)
        {
            return body.FirstSpan;
        }

        int length = (int)body.Length;
        if (_scratch is null || _scratch.Length < length)
        {
            if (_scratch is not null)
            {
                ArrayPool<byte>.Shared.Return(_scratch);
            }

            _scratch = ArrayPool<byte>.Shared.Rent(length);
        }

        body.CopyTo(_scratch);
        return _scratch.AsSpan(0, length);
    }

    public void SignalOutput()
    {
        Volatile.Write(ref _outputPending, 1);
        if (Interlocked.CompareExchange(ref _writerState, WriterRunning, WriterIdle) == WriterIdle)
        {
            if (!OutputBatch.TryDefer(this))
            {
                ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
            }
        }
    }

    /// <summary>
    /// Socket completions run on the socket engine's threads (see Program.cs of the host), which must never wait: a
    /// CONNECT that may hash a password or call an authenticator, and every AUTH exchange (re-authentication included),
    /// are handled on a pool thread instead.
    /// </summary>
    private bool LoginMayBeSlow => _broker.Security.ChecksPasswords || _broker.Options.Authenticator is not null || _broker.Options.EnhancedAuthenticators.Count > 0;

    // Not inline in the read loop, whose state machine every connection carries: the closure, the packet and the
    // buffer position would be fields of it.
    private async Task<bool> HandleLoginOnPoolAsync(byte header, ReadOnlySequence<byte> body, SequencePosition unread)
    {
        bool keepReading = await Task.Run(() => HandleLogin(header, body));
        _input.AdvanceTo(unread, unread);
        return keepReading;
    }

    private bool HandleLogin(byte header, ReadOnlySequence<byte> body)
    {
        int batch = OutputBatch.Begin();
        try
        {
            return HandlePacket(header, body);
        }
        catch (MqttProtocolException ex)
        {
            return OnProtocolError(ex);
        }
        finally
        {
            OutputBatch.End(batch);
        }
    }

    /// <summary>A malformed or forbidden packet: counted, logged, and the connection closes with its reason.</summary>
    private bool OnProtocolError(MqttProtocolException ex)
    {
        _broker.Metrics.CountProtocolError();
        SetCloseReason(ex.Reason);
        _logger.LogWarning("Closing {Remote} ({ClientId}): {Reason}: {Message}", RemoteEndPoint, _session?.ClientId ?? "before CONNECT", ex.Reason, ex.Message);
        return false;
    }

    /// <summary>Runs a write pass on this thread until its first wait (see <see cref="OutputBatch"/>).</summary>
    internal void StartWritePass() => _ = WritePassAsync();

    void IThreadPoolWorkItem.Execute() => _ = WritePassAsync();

    /// <summary>Closes without a DISCONNECT from the client: takeover, keep-alive expiry, write failure.</summary>
    public void Close(DisconnectReason reason)
    {
        if (SetCloseReason(reason))
        {
            try
            {
                // The reader ends; a flush in progress is left to StopWriterAsync, which gives it a moment before
                // cancelling it (a cancelled flush leaves the output unusable, and the DISCONNECT would not go out).
                _input.CancelPendingRead();
            }
            catch (ObjectDisposedException)
            {
                // The transport closed meanwhile: nothing left to cancel.
            }
        }
    }

    /// <summary>Server shutdown: send what is queued, then close.</summary>
    public void BeginGracefulClose()
    {
        _gracefulClose = true;
        if (SetCloseReason(DisconnectReason.ServerShuttingDown))
        {
            _input.CancelPendingRead();
        }
    }

    private bool SetCloseReason(DisconnectReason reason) => Interlocked.CompareExchange(ref _closeReason, (int)reason, NoReason) == NoReason;

    /// <summary>Connect deadline before CONNECT, then 1.5 × keep alive without a packet [MQTT-3.1.2-24].</summary>
    public void CheckTimeouts(long now)
    {
        if (_session is null)
        {
            if (now - _acceptedAt > (long)_broker.Options.ConnectTimeout.TotalMilliseconds)
            {
                _logger.LogInformation("Closing {Remote}: no CONNECT within {Timeout}", RemoteEndPoint, _broker.Options.ConnectTimeout);
                Close(DisconnectReason.MaximumConnectTime);
            }

            return;
        }

        long limit = Volatile.Read(ref _keepAliveLimitMs);
        if (limit > 0 && now - Volatile.Read(ref _lastReceivedAt) > limit)
        {
            _logger.LogInformation("Closing {Remote} ({ClientId}): keep alive expired", RemoteEndPoint, _session.ClientId);
            Close(DisconnectReason.KeepAliveTimeout);
        }
    }

    /// <summary>From now on output is written; called once the session is attached (the CONNACK is queued).</summary>
    private void StartWriter()
    {
        _writerStarted = true;
        Interlocked.CompareExchange(ref _writerState, WriterIdle, WriterStopped);
        SignalOutput();
    }

    private async Task StopWriterAsync()
    {
        if (!_writerStarted)
        {
            return;
        }

        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _writerDone, done);
        bool running = Interlocked.Exchange(ref _writerState, WriterStopped) == WriterRunning;
        if (!running && !_gracefulClose)
        {
            return;
        }

        // On shutdown the writer sends what is queued, for a bounded time; otherwise a peer that stopped
        // reading must not keep the writer (and so this connection) waiting on a flush.
        using var deadline = new CancellationTokenSource(_broker.Options.ShutdownTimeout);
        if (running)
        {
            // A healthy peer takes what is being written at once; a stalled one has its flush cancelled, after the
            // shutdown deadline when closing gracefully, else after a moment.
            Task patience = _gracefulClose ? Task.Delay(Timeout.Infinite, deadline.Token) : Task.Delay(StalledWriteGrace);
            if (await Task.WhenAny(done.Task, patience) != done.Task)
            {
                _output.CancelPendingFlush();
            }

            await done.Task;
        }

        if (_gracefulClose && !deadline.IsCancellationRequested)
        {
            using CancellationTokenRegistration cancel = deadline.Token.Register(static o => ((PipeWriter)o!).CancelPendingFlush(), _output);
            await WriteOrCloseAsync();
        }
    }

    /// <summary>One writer pass: writes until nothing is pending, then goes idle (or ends, once stopped).</summary>
    private async Task WritePassAsync()
    {
        try
        {
            do
            {
                Interlocked.Exchange(ref _outputPending, 0);
                if (!await WriteOrCloseAsync())
                {
                    EndWriter();
                    return;
                }
            }
            while (ContinueWriting());
        }
        catch (Exception ex)
        {
            // A bug must cost this connection, never leave it hanging with a writer that looks busy forever.
            _logger.LogError(ex, "Writing to {Remote} ({ClientId}) failed", RemoteEndPoint, _session?.ClientId);
            Close(DisconnectReason.ImplementationSpecificError);
            EndWriter();
        }
    }

    /// <summary>Goes idle; true when output came meanwhile and this pass may go on, false when it ends.</summary>
    private bool ContinueWriting()
    {
        if (Interlocked.CompareExchange(ref _writerState, WriterIdle, WriterRunning) != WriterRunning)
        {
            Volatile.Read(ref _writerDone)?.TrySetResult();
            return false;
        }

        return Volatile.Read(ref _outputPending) == 1
            && Interlocked.CompareExchange(ref _writerState, WriterRunning, WriterIdle) == WriterIdle;
    }

    /// <summary>The transport is gone: no more passes.</summary>
    private void EndWriter()
    {
        if (Interlocked.Exchange(ref _writerState, WriterStopped) == WriterStopped)
        {
            Volatile.Read(ref _writerDone)?.TrySetResult();
        }
    }

    private async ValueTask<bool> WriteOrCloseAsync()
    {
        try
        {
            return await WriteQueuedAsync();
        }
        catch (Exception ex) when (ex is IOException or ConnectionAbortedException or ConnectionResetException or InvalidOperationException or OperationCanceledException or System.Net.Sockets.SocketException)
        {
            _logger.LogDebug("Write to {Remote} failed: {Message}", RemoteEndPoint, ex.Message);
            Close(DisconnectReason.UnspecifiedError);
            return false;
        }
    }

    /// <summary>Writes everything the session has for this connection, one flush per batch. False once the transport is gone.</summary>
    private async ValueTask<bool> WriteQueuedAsync()
    {
        if (!BatchPool.TryTake(out List<OutboundPacket>? batch))
        {
            batch = new List<OutboundPacket>(64);
        }

        try
        {
            return await WriteQueuedAsync(batch);
        }
        finally
        {
            batch.Clear();
            if (batch.Capacity <= 1024)
            {
                BatchPool.Add(batch);
            }
        }
    }

    private async ValueTask<bool> WriteQueuedAsync(List<OutboundPacket> batch)
    {
        while (true)
        {
            batch.Clear();
            if (_session!.DrainOutbound(this, batch, MaxBatchPackets))
            {
                await _broker.Store.FlushAsync();
            }

            if (batch.Count == 0)
            {
                return true;
            }

            int qos0 = 0, qos1 = 0, qos2 = 0;
            long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            foreach (ref OutboundPacket packet in CollectionsMarshal.AsSpan(batch))
            {
                if (WritePacket(packet, now) && packet.Type == PacketType.Publish)
                {
                    _ = packet.Qos switch { 0 => qos0++, 1 => qos1++, _ => qos2++ };
                }
            }

            batch.Clear();
            CountSent(0, qos0);
            CountSent(1, qos1);
            CountSent(2, qos2);
            if (_output.CanGetUnflushedBytes)
            {
                _broker.Metrics.CountSent(_output.UnflushedBytes);
            }

            FlushResult flush = await _output.FlushAsync();
            if (flush.IsCanceled)
            {
                _outputBroken = true;
                return false;
            }

            if (flush.IsCompleted)
            {
                // The transport's other end is gone (the peer reset the connection): so is the connection.
                _logger.LogDebug("Write to {Remote} ({ClientId}) found the peer gone", RemoteEndPoint, _session?.ClientId);
                _outputBroken = true;
                Close(DisconnectReason.UnspecifiedError);
                return false;
            }
        }
    }

    private void CountSent(byte qos, int count)
    {
        if (count > 0)
        {
            _broker.Metrics.CountMessagesSent(qos, count);
        }
    }

    /// <summary>Writes one packet in the connection's protocol version; false when a PUBLISH was skipped.</summary>
    private bool WritePacket(in OutboundPacket packet, long nowUnixMs)
    {
        bool v5 = _level == ProtocolLevel.V500;
        switch (packet.Type)
        {
            case PacketType.Publish when v5:
                if (!WritePublishV5(packet, nowUnixMs))
                {
                    _broker.Metrics.CountDropped(Diagnostics.DropReason.TooLargeForClient);
                    if (packet.Qos > 0)
                    {
                        _session?.Abandon(packet.PacketId);
                    }

                    return false;
                }

                return true;
            case PacketType.Publish:
                MqttPacketWriter.WritePublish(_output, packet.Message!, packet.Qos, packet.Retain, packet.Dup, packet.PacketId);
                return true;
            case PacketType.ConnAck when v5:
                MqttPacketWriter.WriteConnAck(_output, packet.SessionPresent, ReasonCode.Success, packet.Properties);
                return true;
            case PacketType.ConnAck:
                MqttPacketWriter.WriteConnAck(_output, packet.SessionPresent, packet.ReturnCode);
                return true;
            case PacketType.SubAck when v5:
                MqttPacketWriter.WriteSubAck(_output, packet.PacketId, packet.ReturnCodes, properties: null);
                return true;
            case PacketType.SubAck:
                MqttPacketWriter.WriteSubAck(_output, packet.PacketId, packet.ReturnCodes);
                return true;
            case PacketType.UnsubAck when v5:
                MqttPacketWriter.WriteUnsubAck(_output, packet.PacketId, packet.UnsubAckCodes ?? [ReasonCode.Success], properties: null);
                return true;
            case PacketType.PingResp:
                MqttPacketWriter.WriteEmpty(_output, PacketType.PingResp);
                return true;
            case PacketType.Auth:
                MqttPacketWriter.WriteAuth(_output, packet.Reason, packet.Properties);
                return true;
            default:
                if (v5 && packet.Reason != ReasonCode.Success)
                {
                    MqttPacketWriter.WriteAck(_output, packet.Type, packet.PacketId, packet.Reason, properties: null);
                }
                else
                {
                    MqttPacketWriter.WriteAck(_output, packet.Type, packet.PacketId);
                }

                return true;
        }
    }

    private async Task CloseTransportAsync()
    {
        try
        {
            if (TellClientWhyAsync() is { } told)
            {
                await told;
            }

            if (_flushBeforeClose && _delayRefusal > TimeSpan.Zero)
            {
                await Task.Delay(_delayRefusal);
            }

            // What is left (a refusal, a DISCONNECT) goes out unless the peer stopped reading; then the socket is cut.
            if (!_outputBroken && (_gracefulClose || _flushBeforeClose || CloseReason == DisconnectReason.NormalDisconnection) && await FlushBrieflyAsync())
            {
                await _output.CompleteAsync();
            }
            else
            {
                // Our own transports ignore the reason; Kestrel's logs it.
                _context.Abort(_ownsTransport ? OwnTransportAbort : new ConnectionAbortedException(CloseReason?.ToString() ?? "closed"));
            }
        }
        catch (Exception ex) when (ex is IOException or ConnectionAbortedException or ConnectionResetException or InvalidOperationException or OperationCanceledException)
        {
            _logger.LogDebug("Closing {Remote}: {Message}", RemoteEndPoint, ex.Message);
        }
    }

    /// <summary>
    /// An MQTT 5 client whose connection the broker ends is told why with a DISCONNECT reason code before the
    /// socket closes (§3.14; e.g. 0x8E session taken over, 0x8D keep alive, 0x81 malformed, 0x8B shutting down).
    /// Nothing is sent when the socket is already gone or the client itself disconnected.
    /// </summary>
    private Task? TellClientWhyAsync()
    {
        if (_level != ProtocolLevel.V500 || _session is null || _flushBeforeClose || _outputBroken
            || CloseReason is not { } reason || reason is DisconnectReason.NormalDisconnection or DisconnectReason.UnspecifiedError)
        {
            return null;
        }

        MqttPacketWriter.WriteDisconnect(_output, (ReasonCode)(byte)reason, properties: null);
        _flushBeforeClose = true;
        return FlushBrieflyAsync().AsTask();
    }

    /// <summary>Flushes for at most a second; false when the peer did not take the bytes (or is gone).</summary>
    private async ValueTask<bool> FlushBrieflyAsync()
    {
        ValueTask<FlushResult> flush = _output.FlushAsync();
        FlushResult result;
        if (flush.IsCompletedSuccessfully)
        {
            result = flush.Result;
        }
        else
        {
            // A peer that no longer reads must not hold the close up.
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            using CancellationTokenRegistration cancel = timeout.Token.Register(static o => ((PipeWriter)o!).CancelPendingFlush(), _output);
            result = await flush;
        }

        // Cancelled: the peer did not take the bytes in time. Completed: the peer is gone (our epoll transport says so).
        bool undelivered = result.IsCanceled || result.IsCompleted;
        _outputBroken |= undelivered;
        return !undelivered;
    }
}
