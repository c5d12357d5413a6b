using MQTTnet;
using MQTTnet.Formatter;
using SensorNode.Broker.Bridging;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Bridging;

/// <summary>Starting our broker with a bridge, and waiting on a bridge's state without sleeping.</summary>
public static class BridgeTestKit
{
    public static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    /// <summary>A bridge to 127.0.0.1:<paramref name="port"/> with fast reconnects for tests.</summary>
    public static BridgeOptions Options(string name, bool mqtt5, params int[] ports)
    {
        var options = new BridgeOptions
        {
            Name = name,
            Mqtt5 = mqtt5,
            ClientId = "bridge-" + name + "-" + Guid.NewGuid().ToString("N")[..8],
            ReconnectMin = TimeSpan.FromMilliseconds(100),
            ReconnectMax = TimeSpan.FromMilliseconds(400),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            KeepAliveSeconds = 10,
        };
        foreach (int port in ports)
        {
            options.Addresses.Add(new UpstreamAddress("127.0.0.1", port));
        }

        return options;
    }

    public static Task<BrokerServer> StartBrokerAsync(BridgeOptions bridge, string? dataDirectory = null) =>
        TestBroker.StartAsync(o =>
        {
            o.SysInterval = TimeSpan.FromMilliseconds(200);
            if (dataDirectory is not null)
            {
                o.DataDirectory = dataDirectory;
            }

            o.Bridges.Add(bridge);
        });

    /// <summary>Waits until the bridge's state satisfies <paramref name="condition"/> (checked on every change).</summary>
    public static async Task WaitForAsync(Bridge bridge, Func<Bridge, bool> condition, string what, TimeSpan? timeout = null)
    {
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Check(Bridge b)
        {
            if (condition(b))
            {
                reached.TrySetResult();
            }
        }

        bridge.StateChanged += Check;
        try
        {
            Check(bridge);
            await reached.Task.WaitAsync(timeout ?? Wait);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"bridge {bridge.Name} did not become {what}; state: {bridge.State}");
        }
        finally
        {
            bridge.StateChanged -= Check;
        }
    }

    public static Task WaitConnectedAsync(Bridge bridge, TimeSpan? timeout = null) => WaitForAsync(bridge, b => b.IsConnected, "connected", timeout);

    public static Task WaitDisconnectedAsync(Bridge bridge, TimeSpan? timeout = null) => WaitForAsync(bridge, b => !b.IsConnected, "disconnected", timeout);

    /// <summary>An MQTT 5 (or 3.1.1) client of a broker on 127.0.0.1.</summary>
    public static Task<MqttNetClient> ClientAsync(int port, string? clientId = null, bool cleanSession = true, bool mqtt5 = false) =>
        MqttNetClient.ConnectAsync(port, clientId, cleanSession, b =>
        {
            b.WithTimeout(Wait);
            if (mqtt5)
            {
                b.WithProtocolVersion(MqttProtocolVersion.V500);
                if (!cleanSession)
                {
                    b.WithSessionExpiryInterval(3600);
                }
            }
        });

    /// <summary>Receives until a message with <paramref name="payload"/> arrives; returns everything received before it and it.</summary>
    public static async Task<List<ReceivedMessage>> ReceiveUntilAsync(MqttNetClient client, string payload, TimeSpan? timeout = null)
    {
        var received = new List<ReceivedMessage>();
        for (int i = 0; i < 100_000; i++)
        {
            ReceivedMessage next = await client.NextAsync(timeout ?? Wait);
            received.Add(next);
            if (next.Payload == payload)
            {
                return received;
            }
        }

        throw new InvalidOperationException("too many messages");
    }
}
