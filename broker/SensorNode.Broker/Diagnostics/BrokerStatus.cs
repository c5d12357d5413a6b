using System.Diagnostics;
using System.Reflection;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Diagnostics;

/// <summary>Version and start time of a running broker, and a snapshot of its numbers for $SYS, /metrics and /health.</summary>
public sealed class BrokerStatus(MqttBroker broker)
{
    private readonly long _startedAt = Stopwatch.GetTimestamp();
    private long _maximumConnected;

    /// <summary>The broker's version ("1.0.0"), without the source revision.</summary>
    public static string Version { get; } = ReadVersion();

    public MqttBroker Broker { get; } = broker;

    public DateTimeOffset StartedAtUtc { get; } = DateTimeOffset.UtcNow;

    public TimeSpan Uptime => Stopwatch.GetElapsedTime(_startedAt);

    /// <summary>The most clients connected at once so far (as far as snapshots saw).</summary>
    public long MaximumConnected => Interlocked.Read(ref _maximumConnected);

    public BrokerSnapshot Snapshot()
    {
        BrokerMetrics m = Broker.Metrics;
        int sessions = 0;
        int connectedSessions = 0;
        long queued = 0;
        long inflight = 0;
        foreach (Session session in Broker.Sessions.Sessions)
        {
            sessions++;
            if (session.IsConnected)
            {
                connectedSessions++;
            }

            queued += session.QueuedCount;
            inflight += session.InflightCount;
        }

        long connected = m.ClientsConnected;
        long max = Interlocked.Read(ref _maximumConnected);
        while (connected > max && Interlocked.CompareExchange(ref _maximumConnected, connected, max) != max)
        {
            max = Interlocked.Read(ref _maximumConnected);
        }

        return new BrokerSnapshot(
            Uptime,
            Broker.ConnectionCount,
            connected,
            Math.Max(connected, max),
            sessions,
            sessions - connectedSessions,
            Broker.Subscriptions.Count,
            Broker.Retained.Count,
            m.MessagesReceived,
            m.MessagesSent,
            m.BytesReceived,
            m.BytesSent,
            m.Dropped,
            queued,
            inflight,
            m.QueuedBytes,
            Broker.Store.SizeOnDisk);
    }

    private static string ReadVersion()
    {
        string? version = typeof(BrokerStatus).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        if (string.IsNullOrEmpty(version))
        {
            return typeof(BrokerStatus).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
        }

        int plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus > 0 ? version[..plus] : version;
    }
}

/// <summary>The broker's numbers at one moment.</summary>
public readonly record struct BrokerSnapshot(
    TimeSpan Uptime,
    int Connections,
    long ClientsConnected,
    long ClientsMaximum,
    int Sessions,
    int SessionsDisconnected,
    int Subscriptions,
    int RetainedMessages,
    long MessagesReceived,
    long MessagesSent,
    long BytesReceived,
    long BytesSent,
    long MessagesDropped,
    long QueuedMessages,
    long InflightMessages,
    long QueuedBytes,
    long StoreSizeBytes);
