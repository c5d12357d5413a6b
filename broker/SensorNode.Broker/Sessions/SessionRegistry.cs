using System.Collections.Concurrent;
using SensorNode.Broker.Diagnostics;
using SensorNode.Broker.Persistence;

namespace SensorNode.Broker.Sessions;

/// <summary>What opening a session for a CONNECT found and did.</summary>
/// <param name="OutputHeld">
/// The new session sends nothing, not even CONNACK, until <see cref="Session.ReleaseOutput"/>: it replaced a stored
/// session, whose deletion must be durable first.
/// </param>
public readonly record struct SessionOpenResult(Session Session, bool SessionPresent, Session? Discarded, ISessionConnection? TakenOver, bool OutputHeld = false);

/// <summary>All sessions by client identifier; decides session reuse and takeover at CONNECT (3.1.1 §3.1.2.4, §3.1.4).</summary>
public sealed class SessionRegistry
{
    private readonly SessionLimits _limits;
    private readonly BrokerMetrics _metrics;
    private readonly IBrokerStore? _store;
    private readonly QueueBudget _budget;

    public SessionRegistry(SessionLimits limits, BrokerMetrics metrics, IBrokerStore? store = null)
    {
        _limits = limits;
        _metrics = metrics;
        _store = store;
        _budget = new QueueBudget(limits, metrics) { Sessions = () => _sessions.Values };
    }

    private readonly ConcurrentDictionary<string, Session> _sessions = new(StringComparer.Ordinal);
    private readonly object _gate = new();

    public int Count => _sessions.Count;

    /// <summary>The broker-wide bound on queued bytes.</summary>
    public QueueBudget Budget => _budget;

    public ICollection<Session> Sessions => _sessions.Values;

    public Session? Find(string clientId) => _sessions.TryGetValue(clientId, out Session? session) ? session : null;

    /// <summary>
    /// Finds or creates the session for a client and attaches <paramref name="connection"/> to it, as one step
    /// so that two CONNECTs with the same id cannot both think they own it. A connection already using the
    /// client id is returned as taken over, for the caller to close [MQTT-3.1.4-2]. CleanSession=1 discards
    /// any previous session [MQTT-3.1.2-6]; CleanSession=0 resumes one if it exists [MQTT-3.1.2-4], unless it is a
    /// clean session, which lasts only as long as its connection [MQTT-3.1.2-6].
    /// </summary>
    /// <remarks>
    /// <paramref name="expiryInterval"/> is the MQTT 5 Session Expiry Interval (3.1.1: 0 for CleanSession=1,
    /// <see cref="Session.NeverExpires"/> for 0); a session that may outlive its connection is kept in the store.
    /// </remarks>
    /// <remarks>
    /// With <paramref name="holdOutputWhenReplacingStored"/>, a new session that replaces a stored one holds its output
    /// (<see cref="SessionOpenResult.OutputHeld"/>): a CONNACK saying "no session" must not reach the client while a
    /// crash could still bring the old session back.
    /// </remarks>
    public SessionOpenResult Open(string clientId, bool cleanStart, ISessionConnection connection, bool reportSessionPresent = true, uint? expiryInterval = null, Protocol.V5.MqttProperties? connAckProperties = null, int inflightWindow = int.MaxValue, bool holdOutputWhenReplacingStored = false)
    {
        uint expiry = expiryInterval ?? (cleanStart ? 0 : Session.NeverExpires);
        lock (_gate)
        {
            Session? existing = Find(clientId);
            ISessionConnection? takenOver = existing?.Connection;
            SessionOpenResult result;
            // A clean session lasts only as long as its connection, so a takeover never resumes it, even with
            // CleanSession=0 [MQTT-3.1.2-6]; the old connection's end ends it (MQTT 5: Session Expiry 0).
            if (existing is not null && !cleanStart && (existing.IsStored || !existing.CleanSession))
            {
                existing.ExpiryInterval = expiry;
                result = new SessionOpenResult(existing, true, null, takenOver);
            }
            else
            {
                var session = new Session(clientId, cleanSession: expiry == 0, _limits, _metrics, _store, _budget) { ExpiryInterval = expiry };
                _sessions[clientId] = session;
                result = new SessionOpenResult(session, false, existing, takenOver, holdOutputWhenReplacingStored && existing is { IsStored: true });
            }

            result.Session.Attach(connection, result.SessionPresent && reportSessionPresent, connAckProperties, inflightWindow, result.OutputHeld);
            return result;
        }
    }

    /// <summary>Recreates a persistent session from the store at start-up (offline until its client connects).</summary>
    public Session Restore(string clientId, uint expiryInterval = Session.NeverExpires)
    {
        var session = new Session(clientId, cleanSession: false, _limits, _metrics, _store, _budget) { ExpiryInterval = expiryInterval };
        _sessions[clientId] = session;
        return session;
    }

    /// <summary>Removes <paramref name="session"/> if it is still offline and has been for longer than <paramref name="expiry"/>.</summary>
    public bool RemoveIfExpired(Session session, DateTimeOffset now, TimeSpan? maximumExpiry)
    {
        lock (_gate)
        {
            TimeSpan expiry = session.ExpiryInterval == Session.NeverExpires ? TimeSpan.MaxValue : TimeSpan.FromSeconds(session.ExpiryInterval);
            if (maximumExpiry is { } maximum && maximum < expiry)
            {
                expiry = maximum;
            }

            if (session.OfflineSince is not { } since || expiry == TimeSpan.MaxValue || now - since < expiry || session.IsConnected)
            {
                return false;
            }

            return Remove(session);
        }
    }

    /// <summary>Removes exactly this session object, never a newer one with the same client id.</summary>
    public bool Remove(Session session) => _sessions.TryRemove(new KeyValuePair<string, Session>(session.ClientId, session));
}
