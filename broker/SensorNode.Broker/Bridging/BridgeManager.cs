using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Routing;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Bridging;

/// <summary>
/// Starts the configured bridges with the host and stops them with it; publishes their numbers on
/// <c>$SYS/broker/bridge/&lt;name&gt;/...</c> every <see cref="BrokerOptions.SysInterval"/> and logs drops.
/// </summary>
public sealed class BridgeManager(MqttBroker broker, BrokerOptions options) : IHostedService, IAsyncDisposable
{
    /// <summary>Client identifiers of bridges' local sessions start with this; clients cannot connect with them.</summary>
    public const string SessionPrefix = "$bridge/";

    public const string SysPrefix = "$SYS/broker/bridge/";

    private readonly ILogger _logger = broker.LoggerFactory.CreateLogger("SensorNode.Broker.Bridge");
    private readonly Dictionary<string, string> _published = new(StringComparer.Ordinal);
    private readonly List<Bridge> _bridges = [];
    private Timer? _timer;

    public IReadOnlyList<Bridge> Bridges => _bridges;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        // The configuration file checks this with file and line; options built in code are checked here.
        foreach (IGrouping<string, BridgeOptions> same in options.Bridges.GroupBy(b => b.Name, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            throw new InvalidOperationException($"two bridges are named '{same.Key}'");
        }

        if (options.Bridges.FirstOrDefault(b => string.IsNullOrWhiteSpace(b.Name) || b.Name.AsSpan().IndexOfAny("/+#$ ") >= 0) is { } unnamed)
        {
            throw new InvalidOperationException($"bridge name '{unnamed.Name}' must be non-empty without '/', '+', '#', '$' or spaces");
        }

        var configured = options.Bridges.Select(b => b.LocalClientId).ToHashSet(StringComparer.Ordinal);
        foreach (Session stale in broker.Sessions.Sessions.Where(s => s.ClientId.StartsWith(SessionPrefix, StringComparison.Ordinal) && !configured.Contains(s.ClientId)).ToList())
        {
            // A bridge removed from the configuration: its queue would otherwise wait for an upstream that never comes.
            _logger.LogWarning("Bridge session {ClientId} is no longer configured: discarding it and its {Queued} queued messages", stale.ClientId, stale.QueuedCount + stale.InflightCount);
            if (broker.Sessions.Remove(stale))
            {
                broker.DiscardSession(stale);
            }
        }

        foreach (BridgeOptions bridgeOptions in options.Bridges)
        {
            var bridge = new Bridge(broker, bridgeOptions);
            _bridges.Add(bridge);
            bridge.Start();
        }

        broker.Bridges = [.. _bridges];
        if (_bridges.Count > 0)
        {
            TimeSpan interval = options.SysInterval > TimeSpan.Zero ? options.SysInterval : TimeSpan.FromSeconds(10);
            _timer = new Timer(_ => Tick(), null, interval, interval);
        }

        return Task.CompletedTask;
    }

    private void Tick()
    {
        foreach (Bridge bridge in _bridges)
        {
            try
            {
                bridge.ReportDrops();
                if (options.SysInterval > TimeSpan.Zero)
                {
                    PublishSys(bridge.Name + "/queued", bridge.QueuedMessages);
                    PublishSys(bridge.Name + "/queued_bytes", bridge.QueuedBytes);
                    PublishSys(bridge.Name + "/dropped", bridge.DroppedMessages);
                    PublishSys(bridge.Name + "/forwarded", bridge.ForwardedMessages);
                    PublishSys(bridge.Name + "/received", bridge.ReceivedMessages);
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                _logger.LogWarning(ex, "Bridge {Name}: could not publish its $SYS topics", bridge.Name);
            }
        }
    }

    private void PublishSys(string topic, long value)
    {
        string text = value.ToString(CultureInfo.InvariantCulture);
        lock (_published)
        {
            if (_published.TryGetValue(topic, out string? last) && last == text)
            {
                return;
            }

            _published[topic] = text;
        }

        // Retained in memory only, like the other $SYS topics.
        ApplicationMessage message = ApplicationMessage.Create(SysPrefix + topic, System.Text.Encoding.UTF8.GetBytes(text), qos: 0, retain: true);
        broker.Router.Publish(message);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_timer is not null)
        {
            await _timer.DisposeAsync();
            _timer = null;
        }

        foreach (Bridge bridge in _bridges)
        {
            await bridge.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None);
}
