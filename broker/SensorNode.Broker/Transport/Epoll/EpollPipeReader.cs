using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Tasks.Sources;

namespace SensorNode.Broker.Transport.Epoll;

/// <summary>
/// Reads a non-blocking socket into one contiguous pooled buffer that exists only while there is unconsumed input:
/// an idle connection holds no buffer. A read first tries <c>recv</c>; only when the socket is empty does it wait for
/// epoll's edge, and the wait is completed by the engine's thread, which receives the data and runs the reader's
/// continuation inline (no thread hop between the socket and the MQTT engine).
/// </summary>
internal sealed unsafe class EpollPipeReader : PipeReader, IValueTaskSource<ReadResult>
{
    private const int InitialSize = 4096;
    private const int MinimumReadSize = 1024;

    private readonly EpollConnection _connection;
    // The wait's result is only "cancelled or not": the read result is built from the buffer when it is taken.
    private ManualResetValueTaskSourceCore<bool> _pending;
    private byte[]? _buffer;
    private int _start;
    private int _end;
    private int _examined;
    private int _readEvents;

    // Set when a receive came back short, with the _readEvents count seen before it: the socket was empty then, and
    // with edge-triggered readiness anything that arrives later is announced by a new event, so until one comes the
    // next read need not ask the kernel (a receive that would only say EAGAIN, once per message at light load). A
    // hang-up turns this off: an end of stream already queued behind the data is announced by no later event.
    private bool _empty;
    private int _emptyAt;
    private bool _hangUpSeen;

    // Receives in a row that found data at once, so that the read loop never waited: after MaxReadsInRow the reader
    // lets the engine serve its other connections first (a publisher that never lets its socket run dry would keep
    // the engine's thread to itself).
    private int _readsInRow;
    private const int MaxReadsInRow = 16;
    private int _waiting;
    private int _cancelRequested;
    private bool _endOfStream;
    private bool _completed;

    public EpollPipeReader(EpollConnection connection) => _connection = connection;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        cancellationToken.ThrowIfCancellationRequested();
        while (true)
        {
            if (Interlocked.Exchange(ref _cancelRequested, 0) == 1)
            {
                return new ValueTask<ReadResult>(Result(canceled: true));
            }

            if (_end > _examined || _endOfStream)
            {
                return new ValueTask<ReadResult>(Result(canceled: false));
            }

            int events = Volatile.Read(ref _readEvents);
            if (!(_empty && _emptyAt == events))
            {
                if (_readsInRow >= MaxReadsInRow && EpollEngine.TryYield(this))
                {
                    // Waits as if the socket were empty; the engine resumes it after the other ready connections.
                    _readsInRow = 0;
                }
                else if (TryReceive())
                {
                    _readsInRow++;
                    return new ValueTask<ReadResult>(Result(canceled: false));
                }
            }

            _readsInRow = 0;

            _pending.Reset();
            _pending.RunContinuationsAsynchronously = false;
            Interlocked.Exchange(ref _waiting, 1);

            // An edge (or a cancel) that came after the recv above found no waiter: take the wait back and look again.
            if ((Volatile.Read(ref _readEvents) != events || Volatile.Read(ref _cancelRequested) == 1)
                && Interlocked.CompareExchange(ref _waiting, 0, 1) == 1)
            {
                continue;
            }

            return new ValueTask<ReadResult>(this, _pending.Version);
        }
    }

    /// <summary>epoll reported input (or an error, or the peer's close): a waiting read receives it now.</summary>
    /// <summary>A read that yielded to the engine's other connections goes on (on the engine's thread).</summary>
    internal void Resume() => OnReadable(hangUp: false);

    internal void OnReadable(bool hangUp)
    {
        if (hangUp)
        {
            _hangUpSeen = true;
        }

        Interlocked.Increment(ref _readEvents);
        if (Interlocked.CompareExchange(ref _waiting, 0, 1) != 1)
        {
            return;
        }

        while (true)
        {
            int events = Volatile.Read(ref _readEvents);
            bool received;
            try
            {
                received = TryReceive();
            }
            catch (Exception ex)
            {
                _pending.SetException(ex);
                return;
            }

            if (received)
            {
                _pending.SetResult(false);
                return;
            }

            Interlocked.Exchange(ref _waiting, 1);

            // A cancel that came while this thread held the wait found no waiter: it is answered here.
            if (Volatile.Read(ref _cancelRequested) == 1 && Interlocked.CompareExchange(ref _waiting, 0, 1) == 1)
            {
                Interlocked.Exchange(ref _cancelRequested, 0);
                _pending.SetResult(true);
                return;
            }

            if (Volatile.Read(ref _readEvents) == events || Interlocked.CompareExchange(ref _waiting, 0, 1) != 1)
            {
                return;
            }
        }
    }

    public override bool TryRead(out ReadResult result)
    {
        ObjectDisposedException.ThrowIf(_completed, this);
        if (Interlocked.Exchange(ref _cancelRequested, 0) == 1)
        {
            result = Result(canceled: true);
            return true;
        }

        if (_end > _examined || _endOfStream || TryReceive())
        {
            result = Result(canceled: false);
            return true;
        }

        result = default;
        return false;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        if (_buffer is null)
        {
            return;
        }

        int consumedAt = IndexOf(consumed);
        int examinedAt = Math.Max(consumedAt, IndexOf(examined));
        _start = consumedAt;
        _examined = examinedAt;
        if (_start == _end)
        {
            // Everything consumed: the buffer goes back to the pool, so that a connection waiting for input holds none.
            ReturnBuffer();
        }
    }

    private int IndexOf(SequencePosition position)
    {
        if (position.GetObject() is null)
        {
            return _start;
        }

        if (!ReferenceEquals(position.GetObject(), _buffer))
        {
            throw new InvalidOperationException("the position is not from this reader's last result");
        }

        int index = position.GetInteger() & int.MaxValue;
        if (index < _start || index > _end)
        {
            throw new ArgumentOutOfRangeException(nameof(position), "the position is outside the unconsumed input");
        }

        return index;
    }

    public override void CancelPendingRead()
    {
        Volatile.Write(ref _cancelRequested, 1);
        if (Interlocked.CompareExchange(ref _waiting, 0, 1) == 1)
        {
            Interlocked.Exchange(ref _cancelRequested, 0);

            // The caller may be another connection (a takeover) or a timer: the reader's loop must not run on its stack.
            _pending.RunContinuationsAsynchronously = true;
            _pending.SetResult(true);
        }
    }

    /// <summary>Drops a cancel requested after the last read (see <see cref="EpollConnection"/>'s linger).</summary>
    internal void ForgetCancel() => Interlocked.Exchange(ref _cancelRequested, 0);

    public override void Complete(Exception? exception = null)
    {
        if (_completed)
        {
            return;
        }

        _completed = true;
        ReturnBuffer();
    }

    /// <summary>
    /// Receives what the socket has into the buffer: true when something was received or the stream ended (a close or
    /// a reset by the peer), false when the socket is empty (EAGAIN). Another socket error is thrown as the connection's end.
    /// </summary>
    private bool TryReceive()
    {
        if (_endOfStream)
        {
            return true;
        }

        EnsureSpace();
        while (true)
        {
            int events = Volatile.Read(ref _readEvents);
            int space = _buffer!.Length - _end;
            nint received;
            fixed (byte* data = &_buffer[_end])
            {
                received = LinuxSockets.Receive(_connection.Descriptor, data, space);
            }

            if (received > 0)
            {
                _end += (int)received;
                _empty = received < space && !_hangUpSeen;
                _emptyAt = events;
                return true;
            }

            if (received == 0)
            {
                _endOfStream = true;
                ReleaseIfEmpty();
                return true;
            }

            int errno = LinuxSockets.Errno;
            if (errno == LinuxSockets.EINTR)
            {
                continue;
            }

            ReleaseIfEmpty();
            if (errno == LinuxSockets.EAGAIN)
            {
                return false;
            }

            if (errno == LinuxSockets.ECONNRESET)
            {
                // As common as a close for a client that is killed with unread input: an end of stream, not an
                // exception thrown through the read loop (three throws and a few KB of garbage per connection).
                _endOfStream = true;
                return true;
            }

            throw new IOException($"recv: {LinuxSockets.Describe(errno)}");
        }
    }

    private void EnsureSpace()
    {
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(InitialSize);
            return;
        }

        if (_buffer.Length - _end >= MinimumReadSize)
        {
            return;
        }

        int unconsumed = _end - _start;
        byte[] target = unconsumed + MinimumReadSize <= _buffer.Length ? _buffer : ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, unconsumed + MinimumReadSize));
        Buffer.BlockCopy(_buffer, _start, target, 0, unconsumed);
        if (!ReferenceEquals(target, _buffer))
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = target;
        }

        _examined -= _start;
        _end = unconsumed;
        _start = 0;
    }

    /// <summary>A receive that brought nothing gives an otherwise empty buffer back.</summary>
    private void ReleaseIfEmpty()
    {
        if (_start == _end)
        {
            ReturnBuffer();
        }
    }

    private void ReturnBuffer()
    {
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
            _start = _end = _examined = 0;
        }
    }

    private ReadResult Result(bool canceled)
    {
        ReadOnlySequence<byte> data = _buffer is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(_buffer, _start, _end - _start);
        return new ReadResult(data, canceled, _endOfStream);
    }

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => Result(canceled: _pending.GetResult(token));

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _pending.GetStatus(token);

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _pending.OnCompleted(continuation, state, token, flags);
}
