using System.Net;
using Microsoft.Extensions.Hosting;
using SensorNode.Broker.Transport;

namespace SensorNode.Broker.Hosting;

/// <summary>
/// Runs the plain-TCP MQTT listeners inside the host: binds them when the host starts (so a bind failure stops
/// start-up, and systemd hears READY only once they listen) and, on stop, waits for their connections to flush
/// and close after <see cref="MqttBroker.BeginShutdown"/>.
/// </summary>
internal sealed class TcpListenersService : IHostedService
{
    private readonly List<IPEndPoint> _requested = [];
    private TcpMqttListener? _listener;

    /// <summary>Adds an endpoint to bind; the function returns where it is bound once started.</summary>
    public Func<IPEndPoint?> Add(IPEndPoint endPoint)
    {
        int index = _requested.Count;
        _requested.Add(endPoint);
        return () => _listener?.EndPoints is { } bound && index < bound.Count ? bound[index] : null;
    }

    public TcpListenersService Attach(MqttBroker broker)
    {
        _listener = new TcpMqttListener(broker);
        return this;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_requested.Count > 0)
        {
            _listener!.Start(_requested);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => _listener is { } listener
        ? listener.StopAsync(listener.ShutdownTimeout)
        : Task.CompletedTask;
}
