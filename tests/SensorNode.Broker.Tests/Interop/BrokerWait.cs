using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Routing;

namespace SensorNode.Broker.Tests.Interop;

/// <summary>
/// Waits on the broker's own state for what an external tool cannot signal (mosquitto_sub prints nothing
/// until a message arrives): a bounded poll with a short interval, failing with the process's output.
/// </summary>
public static class BrokerWait
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(10);

    /// <summary>Until the routing trie holds a subscription of <paramref name="clientId"/> matching <paramref name="topic"/>.</summary>
    public static Task ForSubscriptionAsync(BrokerServer broker, string clientId, string topic, ExternalProcess? process = null) =>
        UntilAsync(
            () =>
            {
                var matches = new List<Subscription>();
                broker.Broker.Subscriptions.Match(topic, matches);
                return matches.Exists(s => s.Subscriber.ClientId == clientId);
            },
            $"a subscription of client '{clientId}' matching '{topic}'",
            process);

    /// <summary>Until the session of <paramref name="clientId"/> exists and has no connection.</summary>
    public static Task ForOfflineSessionAsync(BrokerServer broker, string clientId, ExternalProcess? process = null) =>
        UntilAsync(
            () => broker.Broker.Sessions.Find(clientId) is { IsConnected: false },
            $"the persistent session of '{clientId}' to be kept offline",
            process);

    /// <summary>Until the broker has no session for <paramref name="clientId"/> (a clean session ended).</summary>
    public static Task ForNoSessionAsync(BrokerServer broker, string clientId, ExternalProcess? process = null) =>
        UntilAsync(
            () => broker.Broker.Sessions.Find(clientId) is null,
            $"the session of '{clientId}' to end",
            process);

    /// <summary>The retained messages the broker holds for topics matching <paramref name="filter"/>.</summary>
    public static List<ApplicationMessage> Retained(BrokerServer broker, string filter)
    {
        var matches = new List<ApplicationMessage>();
        broker.Broker.Retained.Match(filter, matches);
        return matches;
    }

    public static async Task UntilAsync(Func<bool> condition, string what, ExternalProcess? process = null, TimeSpan? timeout = null)
    {
        DateTime deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!condition())
        {
            if (process is { HasExited: true })
            {
                // One last look: the process may have done its part and exited in between.
                if (condition())
                {
                    return;
                }

                Assert.Fail($"the process exited while waiting for {what}.\n{process.Describe()}");
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out waiting for {what}." + (process is null ? string.Empty : "\n" + process.Describe()));
            }

            await Task.Delay(PollInterval);
        }
    }
}
