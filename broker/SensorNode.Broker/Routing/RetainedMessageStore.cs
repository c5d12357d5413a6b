using System.Text;
using SensorNode.Broker.Protocol;

namespace SensorNode.Broker.Routing;

/// <summary>
/// The last retained message per topic (3.1.1 §3.3.1.3), as compact <see cref="RetainedMessage"/> entries in
/// one set keyed by their UTF-8 topics. Messages for subscribers are built from the entries when asked for.
/// </summary>
public sealed class RetainedMessageStore
{
    private const int StackTopicBytes = 256;

    // Held briefly per change; a wildcard match holds it while it walks the set (a few ms at 100,000 messages).
    private readonly Lock _gate = new();
    private readonly HashSet<RetainedMessage> _messages = new(RetainedTopicComparer.Instance);
    private readonly HashSet<RetainedMessage>.AlternateLookup<ReadOnlySpan<byte>> _byTopic;

    public RetainedMessageStore() => _byTopic = _messages.GetAlternateLookup<ReadOnlySpan<byte>>();

    /// <summary>
    /// The store's lock (re-entrant), for a caller that must queue what it matched before any retained publish after
    /// the match takes effect (a subscription's replay must not arrive after a newer value on the same topic).
    /// </summary>
    internal Lock UpdateGate => _gate;

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _messages.Count;
            }
        }
    }

    /// <summary>
    /// Stores a message published with RETAIN=1, replacing the previous one [MQTT-3.3.1-5]; a zero-length
    /// payload removes the topic's retained message [MQTT-3.3.1-10] [MQTT-3.3.1-11].
    /// </summary>
    public void Apply(ApplicationMessage message)
    {
        if (message.PayloadSpan.IsEmpty)
        {
            Remove(message.EncodedTopic[2..]);
        }
        else
        {
            Put(message);
        }
    }

    /// <summary>Keeps <paramref name="message"/> (its buffer, not a copy) as its topic's retained message.</summary>
    public void Put(ApplicationMessage message)
    {
        var entry = RetainedMessage.From(message);
        lock (_gate)
        {
            // Removed first: Add would keep the old entry, and with it the old buffer.
            _messages.Remove(entry);
            _messages.Add(entry);
        }
    }

    public void Remove(string topic)
    {
        Span<byte> utf8 = Encoding.UTF8.GetMaxByteCount(topic.Length) <= StackTopicBytes ? stackalloc byte[StackTopicBytes] : new byte[Encoding.UTF8.GetByteCount(topic)];
        Remove(utf8[..Encoding.UTF8.GetBytes(topic, utf8)]);
    }

    public ApplicationMessage? Find(string topic) => TryGet(topic, out RetainedMessage message) ? message.ToMessage() : null;

    /// <summary>Adds the retained messages whose topics match <paramref name="filter"/>, leaving out expired ones [MQTT-3.3.2-5].</summary>
    public void Match(string filter, List<RetainedMessage> matches)
    {
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        if (!TopicRules.HasWildcard(filter))
        {
            if (TryGet(filter, out RetainedMessage exact) && !exact.IsExpired(now))
            {
                matches.Add(exact);
            }

            return;
        }

        byte[] filterUtf8 = Encoding.UTF8.GetBytes(filter);
        lock (_gate)
        {
            // Counted first: a list doubling its way to 100,000 matches would leave twice their size behind.
            int count = 0;
            foreach (RetainedMessage message in _messages)
            {
                if (!message.IsExpired(now) && TopicRules.Matches(filterUtf8, message.TopicUtf8))
                {
                    count++;
                }
            }

            matches.EnsureCapacity(matches.Count + count);
            foreach (RetainedMessage message in _messages)
            {
                if (!message.IsExpired(now) && TopicRules.Matches(filterUtf8, message.TopicUtf8))
                {
                    matches.Add(message);
                }
            }
        }
    }

    /// <summary>As <see cref="Match(string, List{RetainedMessage})"/>, as messages (tools, the dashboard, tests).</summary>
    public void Match(string filter, List<ApplicationMessage> matches)
    {
        var found = new List<RetainedMessage>();
        Match(filter, found);
        foreach (RetainedMessage message in found)
        {
            matches.Add(message.ToMessage());
        }
    }

    /// <summary>Adds every retained message, expired ones included.</summary>
    public void CopyTo(List<ApplicationMessage> messages)
    {
        lock (_gate)
        {
            foreach (RetainedMessage message in _messages)
            {
                messages.Add(message.ToMessage());
            }
        }
    }

    private void Remove(ReadOnlySpan<byte> topic)
    {
        lock (_gate)
        {
            _byTopic.Remove(topic);
        }
    }

    private bool TryGet(string topic, out RetainedMessage message)
    {
        Span<byte> utf8 = Encoding.UTF8.GetMaxByteCount(topic.Length) <= StackTopicBytes ? stackalloc byte[StackTopicBytes] : new byte[Encoding.UTF8.GetByteCount(topic)];
        utf8 = utf8[..Encoding.UTF8.GetBytes(topic, utf8)];
        lock (_gate)
        {
            return _byTopic.TryGetValue(utf8, out message);
        }
    }
}
