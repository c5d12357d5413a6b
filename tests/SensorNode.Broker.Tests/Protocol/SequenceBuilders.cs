using System.Buffers;

namespace SensorNode.Broker.Tests.Protocol;

/// <summary>Builds multi-segment <see cref="ReadOnlySequence{T}"/>s, as a pipe hands them out.</summary>
internal static class SequenceBuilders
{
    /// <summary>One segment per part, in order (empty parts make empty segments).</summary>
    public static ReadOnlySequence<byte> FromSegments(IReadOnlyList<ReadOnlyMemory<byte>> parts)
    {
        if (parts.Count == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segment(parts[0]);
        Segment last = first;
        for (int i = 1; i < parts.Count; i++)
        {
            last = last.Append(parts[i]);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    public static ReadOnlySequence<byte> FromSegments(params byte[][] parts) =>
        FromSegments(parts.Select(p => (ReadOnlyMemory<byte>)p).ToList());

    /// <summary>Cuts <paramref name="data"/> at the given offsets (ascending) into one segment per piece.</summary>
    public static ReadOnlySequence<byte> Split(byte[] data, params int[] cuts)
    {
        var parts = new List<ReadOnlyMemory<byte>>();
        int start = 0;
        foreach (int cut in cuts)
        {
            parts.Add(data.AsMemory(start, cut - start));
            start = cut;
        }

        parts.Add(data.AsMemory(start));
        return FromSegments(parts);
    }

    /// <summary>Every byte in a segment of its own, with an empty segment between each pair.</summary>
    public static ReadOnlySequence<byte> BytewiseWithEmptySegments(byte[] data)
    {
        var parts = new List<ReadOnlyMemory<byte>>();
        for (int i = 0; i < data.Length; i++)
        {
            parts.Add(data.AsMemory(i, 1));
            parts.Add(ReadOnlyMemory<byte>.Empty);
        }

        return FromSegments(parts);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}

/// <summary>
/// An <see cref="IBufferWriter{T}"/> that hands out small chunks, like a pipe's segments: every span it returns
/// is exactly the room left in the current chunk, so writers must cope with short spans.
/// </summary>
internal sealed class ChunkedBufferWriter(int chunkSize) : IBufferWriter<byte>
{
    private readonly List<ReadOnlyMemory<byte>> _sealed = [];
    private byte[]? _current;
    private int _used;

    public int ChunkCount => _sealed.Count + (_current is null ? 0 : 1);

    public void Advance(int count)
    {
        if (_current is null || count < 0 || _used + count > _current.Length)
        {
            throw new InvalidOperationException("advanced past the span handed out");
        }

        _used += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        int need = Math.Max(sizeHint, 1);
        if (_current is null || _current.Length - _used < need)
        {
            Seal();
            _current = new byte[Math.Max(need, chunkSize)];
            _used = 0;
        }

        return _current.AsMemory(_used);
    }

    public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public ReadOnlySequence<byte> ToSequence()
    {
        var parts = new List<ReadOnlyMemory<byte>>(_sealed);
        if (_current is not null)
        {
            parts.Add(_current.AsMemory(0, _used));
        }

        return SequenceBuilders.FromSegments(parts);
    }

    private void Seal()
    {
        if (_current is not null)
        {
            _sealed.Add(_current.AsMemory(0, _used));
        }
    }
}
