using System.Collections.Concurrent;
using SensorNode.Broker.Protocol;

namespace SensorNode.Broker.Routing;

/// <summary>The last retained message per topic (3.1.1 §3.3.1.3).</summary>
public sealed class RetainedMessageStore
{
    private readonly ConcurrentDictionary<string, ApplicationMessage> _messages = new(StringComparer.Ordinal);

    public int Count => _messages.Count;

    /// <summary>
    /// Stores a message published with RETAIN=1, replacing the previous one [MQTT-3.3.1-5]; a zero-length
    /// payload removes the topic's retained message [MQTT-3.3.1-10] [MQTT-3.3.1-11].
    /// </summary>
    public void Apply(ApplicationMessage message)
    {
        if (message.PayloadSpan.IsEmpty)
        {
            _messages.TryRemove(message.Topic, out _);
        }
        else
        {
            _messages[message.Topic] = message;
        }
    }

    public ApplicationMessage? Find(string topic) => _messages.TryGetValue(topic, out ApplicationMessage? message) ? message : null;

    /// <summary>Adds the retained messages whose topics match <paramref name="filter"/>, leaving out expired ones [MQTT-3.3.2-5].</summary>
    public void Match(string filter, List<ApplicationMessage> matches)
    {
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        if (!TopicRules.HasWildcard(filter))
        {
            if (_messages.TryGetValue(filter, out ApplicationMessage? exact) && !exact.IsExpired(now))
            {
                matches.Add(exact);
            }

            return;
        }

        foreach (KeyValuePair<string, ApplicationMessage> entry in _messages)
        {
            if (!entry.Value.IsExpired(now) && TopicRules.Matches(filter, entry.Key))
            {
                matches.Add(entry.Value);
            }
        }
    }
}
