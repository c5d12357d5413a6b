using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using SensorNode.Broker.Diagnostics;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Routing;
using SensorNode.Broker.Sessions;
using SensorNode.Broker.Transport;

namespace SensorNode.Broker;

/// <summary>
/// The MQTT engine: sessions, subscriptions, retained messages and the live connections, independent of
/// how bytes arrive. Transports hand it connections; <see cref="Hosting.BrokerServer"/> wires it to Kestrel.
/// </summary>
public sealed class MqttBroker : IDisposable
{
    private readonly ConcurrentDictionary<MqttConnection, byte> _connections = new();
    private readonly Timer _timeoutTimer;
    private volatile bool _shuttingDown;

    public MqttBroker(BrokerOptions options, ILoggerFactory loggerFactory)
    {
        options.Validate();
        Options = options;
        LoggerFactory = loggerFactory;
        Logger = loggerFactory.CreateLogger("SensorNode.Broker");
        Metrics = new BrokerMetrics();
        Subscriptions = new SubscriptionTrie();
        Retained = new RetainedMessageStore();
        Router = new MessageRouter(Subscriptions, Retained);
        Sessions = new SessionRegistry(options.Sessions, Metrics);
        _timeoutTimer = new Timer(_ => CheckTimeouts(), null, options.TimeoutCheckInterval, options.TimeoutCheckInterval);
    }

    public BrokerOptions Options { get; }

    public BrokerMetrics Metrics { get; }

    public SubscriptionTrie Subscriptions { get; }

    public RetainedMessageStore Retained { get; }

    public MessageRouter Router { get; }

    public SessionRegistry Sessions { get; }

    public ILoggerFactory LoggerFactory { get; }

    internal ILogger Logger { get; }

    public bool IsShuttingDown => _shuttingDown;

    public int ConnectionCount => _connections.Count;

    /// <summary>Publishes a message as if a client had sent it (wills, $SYS, tools).</summary>
    public int Publish(ApplicationMessage message) => Router.Publish(message);

    /// <summary>
    /// Applies the filters of a SUBSCRIBE and returns the SUBACK return codes: the granted QoS, or 0x80 for a
    /// filter that breaks the topic filter rules (§4.7.1). A filter the session already has is replaced [MQTT-3.8.4-3].
    /// </summary>
    public byte[] Subscribe(Session session, IReadOnlyList<TopicSubscription> requested)
    {
        byte[] codes = new byte[requested.Count];
        for (int i = 0; i < requested.Count; i++)
        {
            (string filter, byte qos) = requested[i];
            if (!TopicRules.IsValidTopicFilter(filter))
            {
                codes[i] = SubAckPacket.Failure;
                Logger.LogInformation("Client {ClientId} subscription to invalid filter '{Filter}' refused", session.ClientId, filter);
                continue;
            }

            var subscription = new Subscription(session, filter, qos);
            session.SetSubscription(subscription);
            Subscriptions.Add(subscription);
            codes[i] = qos;
        }

        return codes;
    }

    /// <summary>Queues the retained messages matching each granted filter, with RETAIN=1 [MQTT-3.3.1-6] [MQTT-3.3.1-8].</summary>
    public void SendRetained(Session session, IReadOnlyList<TopicSubscription> requested, byte[] codes)
    {
        List<ApplicationMessage>? matches = null;
        for (int i = 0; i < requested.Count; i++)
        {
            if (codes[i] == SubAckPacket.Failure)
            {
                continue;
            }

            matches ??= [];
            matches.Clear();
            Retained.Match(requested[i].Filter, matches);
            foreach (ApplicationMessage message in matches)
            {
                session.Enqueue(message, Math.Min(message.Qos, codes[i]), retain: true, retainedReplay: true);
            }
        }
    }

    public void Unsubscribe(Session session, string filter)
    {
        if (session.RemoveSubscription(filter))
        {
            Subscriptions.Remove(filter, session);
        }
    }

    /// <summary>Removes a session's subscriptions from routing; the session object is then unreachable.</summary>
    public void DiscardSession(Session session)
    {
        foreach (Subscription subscription in session.GetSubscriptions())
        {
            Subscriptions.Remove(subscription.Filter, session);
        }
    }

    internal void Register(MqttConnection connection) => _connections.TryAdd(connection, 0);

    internal void Unregister(MqttConnection connection) => _connections.TryRemove(connection, out _);

    /// <summary>Stops taking new clients and asks every connection to flush what it has queued and close.</summary>
    public void BeginShutdown()
    {
        _shuttingDown = true;
        foreach (MqttConnection connection in _connections.Keys)
        {
            connection.BeginGracefulClose();
        }
    }

    private void CheckTimeouts()
    {
        long now = Environment.TickCount64;
        foreach (MqttConnection connection in _connections.Keys)
        {
            connection.CheckTimeouts(now);
        }
    }

    public void Dispose() => _timeoutTimer.Dispose();
}
