using SensorNode.Broker.Hosting;

namespace SensorNode.Broker.Tests.Infrastructure;

/// <summary>Starts the real broker in-process on an ephemeral loopback port.</summary>
public static class TestBroker
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    public static Task<BrokerServer> StartAsync(Action<BrokerOptions>? configure = null)
    {
        var options = new BrokerOptions { Port = 0, BindAddress = "127.0.0.1" };
        configure?.Invoke(options);
        return BrokerServer.StartAsync(options);
    }
}
