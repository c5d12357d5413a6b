using System.Globalization;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Routing;

namespace SensorNode.Broker.Diagnostics;

/// <summary>
/// Publishes the broker's numbers on <c>$SYS/broker/...</c> with Mosquitto's topic names, every
/// <see cref="BrokerOptions.SysInterval"/>, as retained QoS 0 messages; a topic is re-published only when its value
/// changed. They are kept in memory only: $SYS values are not written to the store (no SD-card wear every interval).
/// Load figures are Mosquitto's: exponentially decaying averages per minute over 1, 5 and 15 minutes.
/// </summary>
public sealed class SysTopicsPublisher(BrokerStatus status, ILogger<SysTopicsPublisher> logger) : BackgroundService
{
    public const string Prefix = "$SYS/broker/";

    private readonly Dictionary<string, string> _published = new(StringComparer.Ordinal);
    private readonly Dictionary<string, LoadAverage> _loads = new(StringComparer.Ordinal);
    private long _lastTick;

    private MqttBroker Broker => status.Broker;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        TimeSpan interval = Broker.Options.SysInterval;
        if (interval <= TimeSpan.Zero)
        {
            return;
        }

        PublishStatic();
        using var timer = new PeriodicTimer(interval);
        try
        {
            do
            {
                if (Broker.IsShuttingDown)
                {
                    return;
                }

                try
                {
                    PublishOnce();
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    logger.LogWarning(ex, "Could not publish $SYS topics");
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void PublishStatic()
    {
        Publish("version", $"sensornode-broker {BrokerStatus.Version}");
        Publish("timestamp", status.StartedAtUtc.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture));
    }

    /// <summary>Publishes every value that changed since the last time (tests call it directly).</summary>
    public void PublishOnce()
    {
        BrokerSnapshot s = status.Snapshot();
        long now = Environment.TickCount64;
        double seconds = _lastTick == 0 ? 0 : (now - _lastTick) / 1000.0;
        _lastTick = now;

        Publish("uptime", $"{(long)s.Uptime.TotalSeconds} seconds");
        Publish("clients/connected", s.ClientsConnected);
        Publish("clients/active", s.ClientsConnected);
        Publish("clients/disconnected", s.SessionsDisconnected);
        Publish("clients/inactive", s.SessionsDisconnected);
        Publish("clients/total", s.Sessions);
        Publish("clients/maximum", s.ClientsMaximum);
        Publish("messages/received", s.MessagesReceived);
        Publish("messages/sent", s.MessagesSent);
        Publish("publish/messages/received", s.MessagesReceived);
        Publish("publish/messages/sent", s.MessagesSent);
        Publish("publish/messages/dropped", s.MessagesDropped);
        Publish("bytes/received", s.BytesReceived);
        Publish("bytes/sent", s.BytesSent);
        Publish("retained messages/count", s.RetainedMessages);
        Publish("subscriptions/count", s.Subscriptions);
        Publish("store/messages/count", s.QueuedMessages);
        Publish("store/messages/bytes", s.QueuedBytes);
        Publish("heap/current", GC.GetTotalMemory(forceFullCollection: false));

        Load("messages/received", s.MessagesReceived, seconds);
        Load("messages/sent", s.MessagesSent, seconds);
        Load("publish/dropped", s.MessagesDropped, seconds);
        Load("bytes/received", s.BytesReceived, seconds);
        Load("bytes/sent", s.BytesSent, seconds);
        Load("connections", Broker.Metrics.ConnectionsAccepted, seconds);
    }

    private void Load(string name, long total, double seconds)
    {
        if (!_loads.TryGetValue(name, out LoadAverage? load))
        {
            _loads[name] = load = new LoadAverage(total);
        }

        load.Update(total, seconds);
        Publish($"load/{name}/1min", load.OneMinute.ToString("F2", CultureInfo.InvariantCulture));
        Publish($"load/{name}/5min", load.FiveMinutes.ToString("F2", CultureInfo.InvariantCulture));
        Publish($"load/{name}/15min", load.FifteenMinutes.ToString("F2", CultureInfo.InvariantCulture));
    }

    private void Publish(string topic, long value) => Publish(topic, value.ToString(CultureInfo.InvariantCulture));

    private void Publish(string topic, string value)
    {
        if (_published.TryGetValue(topic, out string? last) && last == value)
        {
            return;
        }

        _published[topic] = value;
        ApplicationMessage message = ApplicationMessage.Create(Prefix + topic, Encoding.UTF8.GetBytes(value), qos: 0, retain: true);

        // As MqttBroker.Publish does, without the store: QoS 0 reaches no queue that needs writing, and the retained
        // value lives in memory (it is re-published within one interval after a restart).
        Broker.Router.Publish(message);
    }

    /// <summary>Mosquitto's load: a per-minute rate, exponentially averaged over 1, 5 and 15 minutes.</summary>
    private sealed class LoadAverage(long total)
    {
        private long _last = total;

        public double OneMinute { get; private set; }

        public double FiveMinutes { get; private set; }

        public double FifteenMinutes { get; private set; }

        public void Update(long total, double seconds)
        {
            long delta = total - _last;
            _last = total;
            if (seconds <= 0)
            {
                return;
            }

            double perMinute = delta * 60.0 / seconds;
            OneMinute = Decay(OneMinute, perMinute, seconds, 60);
            FiveMinutes = Decay(FiveMinutes, perMinute, seconds, 300);
            FifteenMinutes = Decay(FifteenMinutes, perMinute, seconds, 900);
        }

        private static double Decay(double average, double value, double seconds, double window)
        {
            double k = Math.Exp(-seconds / window);
            return (average * k) + (value * (1 - k));
        }
    }
}
