using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Tasks.Sources;

namespace SensorNode.Broker.Transport.Epoll;

/// <summary>
/// Writes into one contiguous pooled buffer that exists only between a write and the end of its flush; a flush
/// sends directly from the calling thread and waits for epoll's writable edge only when the socket's send buffer is
/// full (a slow reader), continuing on the engine's thread.
/// </summary>
internal sealed unsafe class EpollPipeWriter : PipeWriter
{
    // A batch of small PUBLISH packets fits one buffer, so a flush is usually one send.
    private const int InitialSize = 16 * 1024;

    private readonly EpollConnection _connection;

    // Made by the first flush that has to wait: most connections never fill their socket's send buffer, and an idle
    // one should not carry a waiter (about 40 bytes) for it.
    private FlushWaiter? _waiter;
    private byte[]? _buffer;
    private int _sent;
    private int _written;
    private int _flushedMark;
    private int _writeEvents;
    private int _waiting;
    private int _cancelRequested;
    private bool _completed;

    // A send failed with ECONNRESET or EPIPE (the peer reset the connection, or the socket is already shut): what is
    // written from then on is dropped and every flush says so with IsCompleted, as a pipe's flush does once its reader
    // is gone (no exception per lost client).
    private bool _peerGone;

    public EpollPipeWriter(EpollConnection connection) => _connection = connection;

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => _written - _flushedMark;

    public override void Advance(int bytes)
    {
        if ((uint)bytes > (uint)(_buffer?.Length ?? 0) - (uint)_written)
        {
            throw new ArgumentOutOfRangeException(nameof(bytes));
        }

        _written += bytes;
    }

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        EnsureSpace(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public override Span<byte> GetSpan(int sizeHint = 0)
    {
        EnsureSpace(sizeHint);
        return _buffer.AsSpan(_written);
    }

    private void EnsureSpace(int sizeHint)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        int needed = Math.Max(sizeHint, 1);
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(InitialSize, needed));
            return;
        }

        if (_buffer.Length - _written >= needed)
        {
            return;
        }

        int unsent = _written - _sent;
        byte[] target = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, unsent + needed));
        Buffer.BlockCopy(_buffer, _sent, target, 0, unsent);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = target;
        _flushedMark -= _sent;
        _written = unsent;
        _sent = 0;
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        cancellationToken.ThrowIfCancellationRequested();
        _flushedMark = _written;
        while (true)
        {
            if (Interlocked.Exchange(ref _cancelRequested, 0) == 1)
            {
                return new ValueTask<FlushResult>(new FlushResult(isCanceled: true, isCompleted: false));
            }

            int events = Volatile.Read(ref _writeEvents);
            if (TrySendAll())
            {
                return new ValueTask<FlushResult>(new FlushResult(isCanceled: false, isCompleted: _peerGone));
            }

            FlushWaiter waiter = _waiter ??= new FlushWaiter();
            waiter.Core.Reset();
            waiter.Core.RunContinuationsAsynchronously = false;
            Interlocked.Exchange(ref _waiting, 1);
            if ((Volatile.Read(ref _writeEvents) != events || Volatile.Read(ref _cancelRequested) == 1)
                && Interlocked.CompareExchange(ref _waiting, 0, 1) == 1)
            {
                continue;
            }

            return new ValueTask<FlushResult>(waiter, waiter.Core.Version);
        }
    }

    /// <summary>epoll reported room in the send buffer (or an error): a waiting flush goes on sending.</summary>
    internal void OnWritable()
    {
        Interlocked.Increment(ref _writeEvents);
        if (Interlocked.CompareExchange(ref _waiting, 0, 1) != 1)
        {
            return;
        }

        while (true)
        {
            int events = Volatile.Read(ref _writeEvents);
            bool sent;
            try
            {
                sent = TrySendAll();
            }
            catch (Exception ex)
            {
                _waiter!.Core.SetException(ex);
                return;
            }

            if (sent)
            {
                _waiter!.Core.SetResult(new FlushResult(isCanceled: false, isCompleted: _peerGone));
                return;
            }

            Interlocked.Exchange(ref _waiting, 1);

            // A cancel that came while this thread held the wait found no waiter: it is answered here.
            if (Volatile.Read(ref _cancelRequested) == 1 && Interlocked.CompareExchange(ref _waiting, 0, 1) == 1)
            {
                Interlocked.Exchange(ref _cancelRequested, 0);
                _waiter!.Core.SetResult(new FlushResult(isCanceled: true, isCompleted: false));
                return;
            }

            if (Volatile.Read(ref _writeEvents) == events || Interlocked.CompareExchange(ref _waiting, 0, 1) != 1)
            {
                return;
            }
        }
    }

    public override void CancelPendingFlush()
    {
        Volatile.Write(ref _cancelRequested, 1);
        if (Interlocked.CompareExchange(ref _waiting, 0, 1) == 1)
        {
            Interlocked.Exchange(ref _cancelRequested, 0);
            _waiter!.Core.RunContinuationsAsynchronously = true;
            _waiter!.Core.SetResult(new FlushResult(isCanceled: true, isCompleted: false));
        }
    }

    /// <summary>Ends writing: what is still unsent gets one non-blocking attempt (the engine flushed before), then the buffer goes back.</summary>
    public override void Complete(Exception? exception = null)
    {
        if (_completed)
        {
            return;
        }

        if (exception is null && _waiting == 0)
        {
            try
            {
                TrySendAll();
            }
            catch (IOException)
            {
                // The socket failed; it closes next.
            }
        }

        _completed = true;
        if (_waiting == 0)
        {
            Release();
        }
    }

    /// <summary>
    /// Sends from the buffer until it is empty (true) or the socket is full (false). A peer that is gone empties the
    /// buffer unsent (true, with <see cref="_peerGone"/> set); other socket errors are thrown.
    /// </summary>
    private bool TrySendAll()
    {
        if (_peerGone)
        {
            _sent = _written;
        }

        while (_sent < _written)
        {
            nint sent;
            fixed (byte* data = &_buffer![_sent])
            {
                sent = LinuxSockets.Send(_connection.Descriptor, data, _written - _sent);
            }

            if (sent >= 0)
            {
                _sent += (int)sent;
                continue;
            }

            int errno = LinuxSockets.Errno;
            if (errno == LinuxSockets.EINTR)
            {
                continue;
            }

            if (errno == LinuxSockets.EAGAIN)
            {
                return false;
            }

            if (errno is LinuxSockets.ECONNRESET or LinuxSockets.EPIPE)
            {
                _peerGone = true;
                _sent = _written;
                break;
            }

            throw new IOException($"send: {LinuxSockets.Describe(errno)}");
        }

        Release();
        return true;
    }

    private void Release()
    {
        if (_buffer is not null && _sent == _written)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
            _sent = _written = _flushedMark = 0;
        }
        else if (_buffer is not null && _completed)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
    }

    /// <summary>The source of a flush that waits for the writable edge.</summary>
    private sealed class FlushWaiter : IValueTaskSource<FlushResult>
    {
        public ManualResetValueTaskSourceCore<FlushResult> Core;

        public FlushResult GetResult(short token) => Core.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => Core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            Core.OnCompleted(continuation, state, token, flags);
    }
}
