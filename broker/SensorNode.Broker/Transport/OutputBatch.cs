namespace SensorNode.Broker.Transport;

/// <summary>
/// Writers signalled while a thread handles input start on that thread once the input is handled, rather than as
/// pool work items: at light load a message goes from the publisher's socket to the subscribers' sockets without a
/// thread hop, and each subscriber gets one write for everything the batch queued for it. Batches nest: the epoll
/// engine opens one around all the events of one wait, so a subscriber fed by ten publishers that woke the engine
/// together gets one write, not ten (fewer system calls per message, and the last message of a burst out sooner).
/// An outer batch still starts its writers every <see cref="MaxNestedBatches"/> inner ones: a publisher whose socket
/// never runs dry keeps its read loop, and so the engine's batch, going without end.
/// </summary>
internal static class OutputBatch
{
    // A wide fan-out goes to the pool so that one engine thread does not write to hundreds of sockets in a row.
    private const int MaxInlineWritersPerBatch = 16;
    private const int MaxNestedBatches = 16;

    [ThreadStatic]
    private static List<MqttConnection>? t_writers;
    [ThreadStatic]
    private static int t_depth;
    [ThreadStatic]
    private static int t_nestedEnded;

    /// <summary>Opens a batch; pass what it returns to <see cref="End"/>.</summary>
    public static int Begin()
    {
        t_depth++;
        return t_writers?.Count ?? 0;
    }

    /// <summary>Defers <paramref name="writer"/> to the end of the open batch; false when none is open on this thread.</summary>
    public static bool TryDefer(MqttConnection writer)
    {
        if (t_depth == 0)
        {
            return false;
        }

        (t_writers ??= []).Add(writer);
        return true;
    }

    /// <summary>Closes a batch; the outermost one starts the writers deferred in it (each runs until its first wait).</summary>
    public static void End(int mark)
    {
        List<MqttConnection>? writers = t_writers;
        if (writers is not null && writers.Count - mark > MaxInlineWritersPerBatch)
        {
            int keep = mark + MaxInlineWritersPerBatch;
            for (int i = keep; i < writers.Count; i++)
            {
                ThreadPool.UnsafeQueueUserWorkItem(writers[i], preferLocal: false);
            }

            writers.RemoveRange(keep, writers.Count - keep);
        }

        if (--t_depth > 0 && ++t_nestedEnded < MaxNestedBatches)
        {
            return;
        }

        t_nestedEnded = 0;
        if (writers is not { Count: > 0 })
        {
            return;
        }

        // Taken off the thread while the writers start, in case one of them opens a batch of its own.
        t_writers = null;
        for (int i = 0; i < writers.Count; i++)
        {
            writers[i].StartWritePass();
        }

        writers.Clear();
        t_writers ??= writers;
    }
}
