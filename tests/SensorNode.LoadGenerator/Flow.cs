using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;

namespace SensorNode.LoadGenerator;

/// <summary>
/// Fan-in and fan-out: P publishers on sensor/temperature/roomN, S subscribers on sensor/#. Every payload
/// (32 bytes) carries publisher index, sequence number and send timestamp, so the subscribers count what
/// arrived (per publisher, in order), find gaps and duplicates, and measure latency.
/// Max mode is closed-loop: a publisher has at most <c>window</c> messages not yet delivered to every
/// subscriber (and, for QoS 1/2, not yet acknowledged), which bounds every queue in the broker.
/// Rate mode sends a fixed total rate spread over the publishers, for latency.
/// </summary>
internal sealed class Flow
{
    public const int RingSize = 1 << 15;
    public const int PayloadSize = 32;

    private readonly FlowOptions _o;
    private readonly IPEndPoint _ep;
    private readonly Publisher[] _pubs;
    private readonly Subscriber[] _subs;
    private readonly LatencyRecorder _latency = new(2_000_000);
    private readonly CancellationTokenSource _life = new();
    private readonly List<Task> _loops = [];
    private readonly string _run = Guid.NewGuid().ToString("N")[..8];

    public Flow(FlowOptions options)
    {
        _o = options;
        _ep = new IPEndPoint(IPAddress.Parse(options.Host), options.Port);
        _pubs = new Publisher[options.Publishers];
        _subs = new Subscriber[options.Subscribers];
    }

    public async Task<Result> RunAsync(Result result)
    {
        try
        {
            await SetUpAsync();
            if (_o.WarmupSeconds > 0)
            {
                await PhaseAsync(_o.WarmupSeconds, measure: false);
            }

            await PhaseAsync(_o.DurationSeconds, measure: true, result);
            return result;
        }
        finally
        {
            await TearDownAsync();
        }
    }

    private async Task SetUpAsync()
    {
        using var setup = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        int rx = _o.Subscribers > 100 ? 16 * 1024 : 256 * 1024;
        await ForEachAsync(_o.Subscribers, 32, async i =>
        {
            string id = $"bench-s{i}-{_run}";
            if (_o.PersistentSubscribers)
            {
                id = $"bench-durable-s{i}";

                // Start from an empty persistent session: connect once with clean session to discard any leftover.
                MqttLink purge = await MqttLink.ConnectAsync(_ep, id, cleanSession: true, 0, 1024, setup.Token);
                purge.Disconnect();
            }

            MqttLink link = await MqttLink.ConnectAsync(_ep, id, cleanSession: !_o.PersistentSubscribers, 0, rx, setup.Token);
            link.Send(Packets.Subscribe(1, "sensor/#", _o.Qos));
            while (true)
            {
                (byte header, byte[] body) = await link.ReadFrameAsync(setup.Token);
                if (header >> 4 == 9)
                {
                    if (body.Length < 3 || body[2] == 0x80)
                    {
                        throw new IOException("SUBSCRIBE refused");
                    }

                    break;
                }
            }

            _subs[i] = new Subscriber(link, _o.Publishers, _pubs, _latency);
        });

        await ForEachAsync(_o.Publishers, 32, async i =>
        {
            MqttLink link = await MqttLink.ConnectAsync(_ep, $"bench-p{i}-{_run}", cleanSession: true, 0, 64 * 1024, setup.Token);
            _pubs[i] = new Publisher(i, link, $"sensor/temperature/room{i}", _o.Qos, _o.Subscribers, _o.Mode == "max" ? _o.Window : 0);
        });

        foreach (Subscriber s in _subs)
        {
            _loops.Add(Task.Run(() => s.Link.RunAsync(s, _life.Token)));
        }

        foreach (Publisher p in _pubs)
        {
            _loops.Add(Task.Run(() => p.Link.RunAsync(p, _life.Token)));
        }
    }

    private async Task PhaseAsync(double seconds, bool measure, Result? result = null)
    {
        foreach (Subscriber s in _subs)
        {
            s.ResetCounts();
        }

        _latency.Reset(measure);
        long seq0 = _pubs.Sum(p => p.SeqVolatile);
        double cpu0 = Proc.CpuSeconds(_o.BrokerPid);
        double gen0 = Proc.SelfCpuSeconds();
        var clock = Stopwatch.StartNew();

        if (_o.Mode == "max")
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
            await Task.WhenAll(_pubs.Select(p => Task.Run(() => p.RunClosedLoopAsync(stop.Token))));
        }
        else
        {
            // A dedicated thread, awaited without blocking a pool thread (the generator has one core).
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var pacer = new Thread(() =>
            {
                Pace(seconds);
                done.SetResult();
            }) { IsBackground = true, Name = "pacer", Priority = ThreadPriority.AboveNormal };
            pacer.Start();
            await done.Task;
        }

        double sendSeconds = clock.Elapsed.TotalSeconds;

        // Drain: every message delivered to every subscriber and acknowledged, within a bound.
        var drainLimit = Stopwatch.StartNew();
        while (_pubs.Sum(p => p.CompletedVolatile) < _pubs.Sum(p => p.SeqVolatile) && drainLimit.Elapsed < TimeSpan.FromSeconds(_o.DrainSeconds))
        {
            await Task.Delay(1);
        }

        double elapsed = clock.Elapsed.TotalSeconds;
        double cpu1 = Proc.CpuSeconds(_o.BrokerPid);
        double gen1 = Proc.SelfCpuSeconds();
        if (result is null)
        {
            return;
        }

        long published = _pubs.Sum(p => p.SeqVolatile) - seq0;
        long delivered = _subs.Sum(s => s.DeliveredVolatile);
        long expected = published * _o.Subscribers;
        result.Published = published;
        result.Delivered = delivered;
        result.Expected = expected;
        result.Lost = Math.Max(0, expected - delivered) + _subs.Sum(s => s.Gaps);
        result.Duplicates = _subs.Sum(s => s.Duplicates);
        result.Seconds = elapsed;
        result.MsgsPerSec = delivered / elapsed;
        result.BrokerCpuSec = cpu1 - cpu0;
        result.MsgsPerCpuSec = cpu1 > cpu0 ? delivered / (cpu1 - cpu0) : 0;
        result.BrokerCpuPct = 100 * (cpu1 - cpu0) / elapsed;
        result.GenCpuPct = 100 * (gen1 - gen0) / elapsed;
        (result.P50Us, result.P90Us, result.P99Us, result.P999Us) = _latency.Percentiles();
        if (_o.LatencyLog is { } log)
        {
            _latency.WriteLog(log);
        }
        if (drainLimit.Elapsed >= TimeSpan.FromSeconds(_o.DrainSeconds))
        {
            result.Note = $"drain timed out after {_o.DrainSeconds}s";
        }

        result.Note = (result.Note + $" sent for {sendSeconds:F2}s").Trim();
    }

    /// <summary>
    /// Sends at the fixed rate, round robin over the publishers. Even pacing sends one message at a time, evenly
    /// spaced (every 100 µs at 10,000 msg/s), as independent sensors would; tick pacing sends what is due once a
    /// millisecond, a burst of ten at 10,000 msg/s, whose latency includes the burst queueing behind itself.
    /// </summary>
    private void Pace(double seconds)
    {
        if (_o.Pacing == "tick")
        {
            PaceByTicks(seconds);
            return;
        }

        Libc.UsePreciseTimers();
        double nsPerTick = 1e9 / Stopwatch.Frequency;
        long start = (long)(Stopwatch.GetTimestamp() * nsPerTick);
        long interval = (long)(1e9 / _o.Rate);
        long end = start + (long)(seconds * 1e9);
        long sent = 0;
        int next = 0;
        while (true)
        {
            long now = (long)(Stopwatch.GetTimestamp() * nsPerTick);
            if (now >= end)
            {
                return;
            }

            // After a late wake-up the messages due meanwhile go at once: the rate holds over the run.
            SendDue(((now - start) / interval) + 1, ref sent, ref next);

            Libc.SleepUntil(start + (sent * interval));
        }
    }

    private void PaceByTicks(double seconds)
    {
        var clock = Stopwatch.StartNew();
        long sent = 0;
        int next = 0;
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            SendDue((long)(clock.Elapsed.TotalSeconds * _o.Rate), ref sent, ref next);
            Thread.Sleep(1);
        }
    }

    /// <summary>Sends one message at a time, round robin over the publishers, until <paramref name="due"/> have gone.</summary>
    private void SendDue(long due, ref long sent, ref int next)
    {
        while (sent < due)
        {
            _pubs[next].SendBatch(1);
            next = (next + 1) % _pubs.Length;
            sent++;
        }
    }

    private async Task TearDownAsync()
    {
        foreach (Publisher p in _pubs)
        {
            p?.Link.Disconnect();
        }

        foreach (Subscriber s in _subs)
        {
            s?.Link.Disconnect();
        }

        await _life.CancelAsync();
        await Task.WhenAny(Task.WhenAll(_loops), Task.Delay(5000));
        if (_o.PersistentSubscribers)
        {
            // Leave no persistent session behind for the next repetition.
            using var purge = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await ForEachAsync(_o.Subscribers, 8, async i =>
            {
                MqttLink link = await MqttLink.ConnectAsync(_ep, $"bench-durable-s{i}", cleanSession: true, 0, 1024, purge.Token);
                link.Disconnect();
            });
        }
    }

    internal static async Task ForEachAsync(int count, int parallel, Func<int, Task> body)
    {
        int next = -1;
        await Task.WhenAll(Enumerable.Range(0, Math.Min(parallel, Math.Max(1, count))).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                await body(i);
            }
        }));
    }

    /// <summary>One publishing connection: a pre-serialised PUBLISH patched per message, batched sends.</summary>
    internal sealed class Publisher : IFrameHandler
    {
        private const int MaxBatch = 64;
        private readonly byte[] _template;
        private readonly int _packetIdOffset;
        private readonly int _payloadOffset;
        private readonly byte[] _sendBuffer;
        private readonly int[] _ring = new int[RingSize];
        private readonly int _target;
        private readonly byte _qos;
        private readonly SemaphoreSlim? _credits;
        private long _seq;
        private long _completed;

        public Publisher(int index, MqttLink link, string topic, byte qos, int subscribers, int window)
        {
            Index = index;
            Link = link;
            _qos = qos;
            _template = Packets.Publish(topic, qos, retain: false, PayloadSize, out _packetIdOffset, out _payloadOffset);
            _sendBuffer = new byte[_template.Length * MaxBatch];
            _target = subscribers + (qos > 0 ? 1 : 0);
            _credits = window > 0 ? new SemaphoreSlim(Math.Min(window, RingSize / 2)) : null;
        }

        public int Index { get; }

        public MqttLink Link { get; }

        public long SeqVolatile => Volatile.Read(ref _seq);

        public long CompletedVolatile => Volatile.Read(ref _completed);

        public async Task RunClosedLoopAsync(CancellationToken stop)
        {
            SemaphoreSlim credits = _credits!;
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await credits.WaitAsync(stop);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                int n = 1;
                while (n < MaxBatch && credits.Wait(0, CancellationToken.None))
                {
                    n++;
                }

                SendBatch(n);
            }
        }

        public void SendBatch(int n)
        {
            int length = _template.Length;
            Span<byte> buffer = _sendBuffer.AsSpan(0, length * n);
            long seq = _seq;
            for (int k = 0; k < n; k++)
            {
                Span<byte> packet = buffer.Slice(k * length, length);
                _template.CopyTo(packet);
                if (_qos > 0)
                {
                    BinaryPrimitives.WriteUInt16BigEndian(packet[_packetIdOffset..], (ushort)((seq & (RingSize - 1)) + 1));
                }

                Span<byte> payload = packet[_payloadOffset..];
                BinaryPrimitives.WriteInt32LittleEndian(payload, Index);
                BinaryPrimitives.WriteInt64LittleEndian(payload[4..], seq);
                BinaryPrimitives.WriteInt64LittleEndian(payload[12..], Stopwatch.GetTimestamp());
                seq++;
            }

            Volatile.Write(ref _seq, seq);
            Link.Send(buffer);
        }

        /// <summary>One step of a message's completion: a delivery to a subscriber, or the publisher's final ack.</summary>
        public void Step(int slot)
        {
            if (Interlocked.Increment(ref _ring[slot]) == _target)
            {
                Volatile.Write(ref _ring[slot], 0);
                Interlocked.Increment(ref _completed);
                _credits?.Release();
            }
        }

        public void OnFrame(MqttLink link, byte header, ReadOnlySpan<byte> body)
        {
            switch (header >> 4)
            {
                case 4: // PUBACK
                case 7: // PUBCOMP
                    Step((BinaryPrimitives.ReadUInt16BigEndian(body) - 1) & (RingSize - 1));
                    break;
                case 5: // PUBREC -> PUBREL
                    link.QueueAck(6, BinaryPrimitives.ReadUInt16BigEndian(body));
                    break;
            }
        }

        public void AfterChunk(MqttLink link) => link.FlushAcks();
    }

    /// <summary>One subscribing connection: checks order per publisher, acks in batches, records latency.</summary>
    internal sealed class Subscriber(MqttLink link, int publishers, Publisher[] pubs, LatencyRecorder latency) : IFrameHandler
    {
        private readonly long[] _last = Enumerable.Repeat(-1L, publishers).ToArray();
        private long _delivered;

        public MqttLink Link { get; } = link;

        public long DeliveredVolatile => Volatile.Read(ref _delivered);

        public long Gaps { get; private set; }

        public long Duplicates { get; private set; }

        public void ResetCounts()
        {
            Volatile.Write(ref _delivered, 0);
            Gaps = 0;
            Duplicates = 0;
        }

        public void OnFrame(MqttLink link, byte header, ReadOnlySpan<byte> body)
        {
            switch (header >> 4)
            {
                case 3:
                    {
                        ReadOnlySpan<byte> payload = Packets.PublishPayload(header, body, out ushort packetId);
                        int qos = (header >> 1) & 3;
                        if (qos == 1)
                        {
                            link.QueueAck(4, packetId);
                        }
                        else if (qos == 2)
                        {
                            link.QueueAck(5, packetId);
                        }

                        if (payload.Length < 20)
                        {
                            return;
                        }

                        int p = BinaryPrimitives.ReadInt32LittleEndian(payload);
                        long seq = BinaryPrimitives.ReadInt64LittleEndian(payload[4..]);
                        long sent = BinaryPrimitives.ReadInt64LittleEndian(payload[12..]);
                        if ((uint)p >= (uint)_last.Length)
                        {
                            return;
                        }

                        long last = _last[p];
                        if (seq <= last)
                        {
                            Duplicates++;
                            return;
                        }

                        if (seq > last + 1 && last >= 0)
                        {
                            Gaps += seq - last - 1;
                        }

                        _last[p] = seq;
                        Volatile.Write(ref _delivered, _delivered + 1);
                        latency.Add(sent, Stopwatch.GetTimestamp() - sent);
                        pubs[p].Step((int)(seq & (RingSize - 1)));
                        break;
                    }

                case 6: // PUBREL -> PUBCOMP
                    link.QueueAck(7, BinaryPrimitives.ReadUInt16BigEndian(body));
                    break;
            }
        }

        public void AfterChunk(MqttLink link) => link.FlushAcks();
    }
}

internal sealed class FlowOptions
{
    public string Host { get; set; } = "127.0.0.1";
    public int Port { get; set; } = 1883;
    public int BrokerPid { get; set; }
    public int Publishers { get; set; } = 100;
    public int Subscribers { get; set; } = 1;
    public byte Qos { get; set; }
    public string Mode { get; set; } = "max";
    public double Rate { get; set; } = 10_000;

    /// <summary>"even": one message at a time, evenly spaced; "tick": what is due every millisecond, in one burst.</summary>
    public string Pacing { get; set; } = "even";
    public int Window { get; set; } = 32;
    public double WarmupSeconds { get; set; } = 1;
    public double DurationSeconds { get; set; } = 5;
    public double DrainSeconds { get; set; } = 20;
    public bool PersistentSubscribers { get; set; }

    /// <summary>A file for every measured message's send time and latency (<see cref="LatencyRecorder.WriteLog"/>).</summary>
    public string? LatencyLog { get; set; }
}

/// <summary>Latency samples in Stopwatch ticks with their send times, bounded in count.</summary>
internal sealed class LatencyRecorder(int capacity)
{
    private readonly long[] _samples = new long[capacity];
    private readonly long[] _sentAt = new long[capacity];
    private int _count;
    private volatile bool _enabled;

    public void Reset(bool enabled)
    {
        _enabled = false;
        Volatile.Write(ref _count, 0);
        _enabled = enabled;
    }

    public void Add(long sentAt, long ticks)
    {
        if (!_enabled)
        {
            return;
        }

        int i = Interlocked.Increment(ref _count) - 1;
        if (i < _samples.Length)
        {
            _samples[i] = ticks;
            _sentAt[i] = sentAt;
        }
    }

    public (double P50Us, double P90Us, double P99Us, double P999Us) Percentiles()
    {
        _enabled = false;
        int n = Math.Min(Volatile.Read(ref _count), _samples.Length);
        if (n == 0)
        {
            return (0, 0, 0, 0);
        }

        long[] sorted = _samples.AsSpan(0, n).ToArray();
        Array.Sort(sorted);
        double toUs = 1_000_000.0 / Stopwatch.Frequency;
        double At(double quantile) => sorted[Math.Min(n - 1, (int)(n * quantile))] * toUs;
        return (At(0.50), At(0.90), At(0.99), At(0.999));
    }

    /// <summary>
    /// Writes one line per recorded message, in the order they arrived: microseconds since the first send, latency in
    /// microseconds. For finding when the slow ones happen (periodic work, collections), not just how many there are.
    /// </summary>
    public void WriteLog(string path)
    {
        int n = Math.Min(Volatile.Read(ref _count), _samples.Length);
        if (n == 0)
        {
            return;
        }

        double toUs = 1_000_000.0 / Stopwatch.Frequency;
        long first = long.MaxValue;
        for (int i = 0; i < n; i++)
        {
            first = Math.Min(first, _sentAt[i]);
        }

        using var writer = new StreamWriter(path);
        for (int i = 0; i < n; i++)
        {
            writer.Write(((_sentAt[i] - first) * toUs).ToString("F1", System.Globalization.CultureInfo.InvariantCulture));
            writer.Write(' ');
            writer.WriteLine((_samples[i] * toUs).ToString("F1", System.Globalization.CultureInfo.InvariantCulture));
        }
    }
}
