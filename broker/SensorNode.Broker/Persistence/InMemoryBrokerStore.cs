using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using SensorNode.Broker.Protocol;

namespace SensorNode.Broker.Persistence;

/// <summary>
/// The store for users who ask for no persistence: the same contract as <see cref="SqliteBrokerStore"/>,
/// kept in memory, so state survives a broker restart inside one process but not the process. Writes are
/// applied and their callbacks run at once, on the caller's thread.
/// </summary>
/// <param name="keepsRetained">
/// False for a store its broker opens itself: it is disposed with the broker and never loaded again, and the broker
/// holds the retained messages, so a second index of them would only cost memory (issue #9).
/// </param>
public sealed class InMemoryBrokerStore(bool keepsRetained = true) : IBrokerStore
{
    private readonly object _gate = new();
    // Shares each message's buffer with the broker's own retained store: a second index, not a second copy.
    private readonly Routing.RetainedMessageStore? _retained = keepsRetained ? new() : null;
    private readonly Dictionary<string, SessionRecord> _sessions = new(StringComparer.Ordinal);
    // Each message with the number of queue entries that refer to it: it goes with the last of them.
    private readonly Dictionary<long, (ApplicationMessage Message, int References)> _messages = [];
    private long _lastPurge = Environment.TickCount64;
    private readonly Dictionary<string, (ApplicationMessage Will, long DueAt)> _wills = new(StringComparer.Ordinal);
    private long _lastMessageId;

    public long SizeOnDisk => 0;

    /// <summary>Whether retained messages are kept (see the constructor); when not, their writes may be left out.</summary>
    public bool KeepsRetained => _retained is not null;

    public StoredState Load()
    {
        lock (_gate)
        {
            var state = new StoredState { LastMessageId = _lastMessageId };
            _retained?.CopyTo(state.Retained);

            foreach ((string clientId, (ApplicationMessage will, long dueAt)) in _wills)
            {
                state.DelayedWills.Add((clientId, will, dueAt));
            }

            foreach ((string clientId, SessionRecord record) in _sessions)
            {
                var session = new StoredSession(clientId) { OfflineSince = record.OfflineSince, ExpiryInterval = record.ExpiryInterval };
                foreach ((string filter, SubscriptionRecord subscription) in record.Subscriptions)
                {
                    session.Subscriptions.Add((filter, subscription.Qos, StoreOperation.UnpackOptions(subscription.Options, subscription.Identifier)));
                }

                foreach ((long sequence, QueuedRecord queued) in record.Queue.OrderBy(e => e.Key))
                {
                    if (_messages.TryGetValue(queued.MessageId, out (ApplicationMessage Message, int) message))
                    {
                        session.Queue.Add(new StoredQueuedMessage(sequence, message.Message, queued.Qos, queued.Retain, queued.PacketId, queued.State, queued.SubscriptionIds, queued.SharedVia));
                    }
                }

                session.InboundQos2.AddRange(record.Inbound.Order());
                state.Sessions.Add(session);
            }

            return state;
        }
    }

    public void Submit(StoreOperation operation) => Submit([operation]);

    public void Submit(ReadOnlySpan<StoreOperation> operations, Action? onDurable = null)
    {
        lock (_gate)
        {
            foreach (ref readonly StoreOperation operation in operations)
            {
                Apply(operation);
            }

            PurgeIfDue();
        }

        onDurable?.Invoke();
    }

    public Task FlushAsync() => Task.CompletedTask;

    public void Dispose()
    {
    }

    private void Apply(in StoreOperation op)
    {
        switch (op.Kind)
        {
            case StoreOperationKind.PutRetained:
                _retained?.Put(op.Message!);
                break;
            case StoreOperationKind.DeleteRetained:
                _retained?.Remove(op.Key);
                break;
            case StoreOperationKind.PutSession:
                _sessions.TryAdd(op.Key, new SessionRecord());
                _sessions[op.Key].OfflineSince = null;
                _sessions[op.Key].ExpiryInterval = (uint)op.Sequence;
                break;
            case StoreOperationKind.MarkSessionOffline:
                if (Session(op.Key) is { } offline)
                {
                    offline.OfflineSince = DateTimeOffset.FromUnixTimeSeconds(op.Sequence);
                }

                break;
            case StoreOperationKind.DeleteSession:
                if (_sessions.Remove(op.Key, out SessionRecord? deleted))
                {
                    foreach (QueuedRecord queued in deleted.Queue.Values)
                    {
                        Release(queued.MessageId);
                    }
                }

                _wills.Remove(op.Key);
                break;
            case StoreOperationKind.PutWill:
                _wills[op.Key] = (op.Message!, op.Sequence);
                break;
            case StoreOperationKind.DeleteWill:
                _wills.Remove(op.Key);
                break;
            case StoreOperationKind.PutSubscription:
                if (Session(op.Key) is { } withSubscription)
                {
                    withSubscription.Subscriptions[op.Topic!] = new SubscriptionRecord(op.Qos, op.PacketId, op.Sequence);
                }

                break;
            case StoreOperationKind.DeleteSubscription:
                Session(op.Key)?.Subscriptions.Remove(op.Topic!);
                break;
            case StoreOperationKind.PutMessage:
                _messages[op.MessageId] = (op.Message!, 0);
                _lastMessageId = Math.Max(_lastMessageId, op.MessageId);
                break;
            case StoreOperationKind.PutQueued:
                if (Session(op.Key) is { } target && _messages.ContainsKey(op.MessageId))
                {
                    CollectionsMarshal.GetValueRefOrNullRef(_messages, op.MessageId).References++;
                    if (target.Queue.Remove(op.Sequence, out QueuedRecord replaced))
                    {
                        Release(replaced.MessageId);
                    }

                    target.Queue[op.Sequence] = new QueuedRecord(op.MessageId, op.Qos, op.Retain, 0, QueuedState.Queued, op.SubscriptionIds, op.Topic);
                }

                break;
            case StoreOperationKind.UpdateQueued:
                if (Session(op.Key) is { } owner && owner.Queue.TryGetValue(op.Sequence, out QueuedRecord existing))
                {
                    owner.Queue[op.Sequence] = existing with { PacketId = op.PacketId, State = op.State };
                }

                break;
            case StoreOperationKind.DeleteQueued:
                if (Session(op.Key) is { } dequeued && dequeued.Queue.Remove(op.Sequence, out QueuedRecord removed))
                {
                    Release(removed.MessageId);
                }

                break;
            case StoreOperationKind.PutInbound:
                Session(op.Key)?.Inbound.Add(op.PacketId);
                break;
            case StoreOperationKind.DeleteInbound:
                Session(op.Key)?.Inbound.Remove(op.PacketId);
                break;
        }
    }

    private SessionRecord? Session(string clientId) => _sessions.GetValueOrDefault(clientId);

    /// <summary>As the SQLite store, every 30 s: messages no queue took (their sessions were gone) are dropped.</summary>
    private void PurgeIfDue()
    {
        if (Environment.TickCount64 - _lastPurge < SqliteBrokerStore.PurgeInterval.TotalMilliseconds)
        {
            return;
        }

        _lastPurge = Environment.TickCount64;
        foreach ((long messageId, (ApplicationMessage _, int references)) in _messages)
        {
            if (references == 0)
            {
                _messages.Remove(messageId);
            }
        }
    }

    private void Release(long messageId)
    {
        ref (ApplicationMessage Message, int References) entry = ref CollectionsMarshal.GetValueRefOrNullRef(_messages, messageId);
        if (!Unsafe.IsNullRef(ref entry) && --entry.References <= 0)
        {
            _messages.Remove(messageId);
        }
    }

    /// <summary>Messages held for queues (tests: none is kept once no queue refers to it).</summary>
    internal int MessageCount
    {
        get
        {
            lock (_gate)
            {
                return _messages.Count;
            }
        }
    }

    private sealed class SessionRecord
    {
        public Dictionary<string, SubscriptionRecord> Subscriptions { get; } = new(StringComparer.Ordinal);

        public Dictionary<long, QueuedRecord> Queue { get; } = [];

        public HashSet<ushort> Inbound { get; } = [];

        public DateTimeOffset? OfflineSince { get; set; }

        public uint ExpiryInterval { get; set; } = uint.MaxValue;
    }

    private readonly record struct SubscriptionRecord(byte Qos, int Options, long Identifier);

    private readonly record struct QueuedRecord(long MessageId, byte Qos, bool Retain, ushort PacketId, QueuedState State, uint[]? SubscriptionIds, string? SharedVia);
}
