using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SensorNode.Broker.Transport;

namespace SensorNode.Broker.Hosting;

/// <summary>
/// The broker on Kestrel inside a generic host: what the executable runs and what tests and embedding
/// applications start in-process. Port 0 binds a free port; <see cref="Port"/> tells which.
/// </summary>
public sealed class BrokerServer : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly List<ListenOptions> _listeners;
    private readonly List<ListenOptions> _tlsListeners;
    private readonly TlsCertificates? _certificates;
    private readonly bool _handleSignals;
    private System.Runtime.InteropServices.PosixSignalRegistration? _hangUp;

    private BrokerServer(IHost host, List<ListenOptions> listeners, List<ListenOptions> tlsListeners, TlsCertificates? certificates, bool handleSignals)
    {
        _host = host;
        _listeners = listeners;
        _tlsListeners = tlsListeners;
        _certificates = certificates;
        _handleSignals = handleSignals;
        Broker = host.Services.GetRequiredService<MqttBroker>();
    }

    /// <summary>The bound TLS port, or 0 without a TLS listener.</summary>
    public int TlsPort => _tlsListeners.Select(l => l.IPEndPoint).OfType<IPEndPoint>().FirstOrDefault()?.Port ?? 0;

    /// <summary>Re-reads certificates, users and ACL (what SIGHUP does); connections stay up.</summary>
    public void Reload()
    {
        _certificates?.Reload();
        Broker.Security.Reload();
    }

    public MqttBroker Broker { get; }

    /// <summary>The endpoints actually bound (with the real port when 0 was asked for).</summary>
    public IReadOnlyList<IPEndPoint> EndPoints => [.. _listeners.Select(l => l.IPEndPoint).OfType<IPEndPoint>()];

    public int Port => EndPoints[0].Port;

    /// <summary>
    /// Builds the host. <paramref name="configureLogging"/> sets up logging (none by default);
    /// <paramref name="handleConsoleSignals"/> makes Ctrl+C and SIGTERM stop the broker gracefully (the executable).
    /// </summary>
    public static BrokerServer Create(BrokerOptions options, Action<ILoggingBuilder>? configureLogging = null, bool handleConsoleSignals = false)
    {
        options.Validate();

        var listeners = new List<ListenOptions>();
        var tlsListeners = new List<ListenOptions>();
        TlsCertificates? certificates = null;
        IHost host = new HostBuilder()
            .ConfigureLogging(logging =>
            {
                logging.ClearProviders();
                configureLogging?.Invoke(logging);

                // Kestrel's own start-up lines speak of http:// addresses; the broker logs its MQTT endpoints itself.
                logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
                logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
            })
            .ConfigureServices(services =>
            {
                services.AddSingleton(options);
                services.AddSingleton<MqttBroker>();
                services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownTimeout + TimeSpan.FromSeconds(2));
                services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
                if (!handleConsoleSignals)
                {
                    services.AddSingleton<IHostLifetime, EmbeddedLifetime>();
                }
            })
            .ConfigureWebHost(web => web
                .UseKestrelCore()
                .UseSockets(sockets =>
                {
                    // A partial packet stays in the input pipe until it is complete, so the pipe must hold the
                    // largest packet; the output pipe is deep enough to batch fan-out without stalling.
                    sockets.MaxReadBufferSize = options.MaxPacketSize + 64L * 1024;
                    sockets.MaxWriteBufferSize = 256 * 1024;
                })
                .ConfigureKestrel(kestrel =>
                {
                    kestrel.AddServerHeader = false;
                    kestrel.Limits.MaxRequestBufferSize = options.MaxPacketSize + 64L * 1024;
                    foreach (IPEndPoint endPoint in ResolveEndPoints(options.BindAddress, options.Port))
                    {
                        kestrel.Listen(endPoint, listen =>
                        {
                            listen.UseConnectionHandler<MqttConnectionHandler>();
                            listeners.Add(listen);
                        });
                    }

                    if (options.Tls is { } tls)
                    {
                        certificates = new TlsCertificates(tls);
                        foreach (IPEndPoint endPoint in ResolveEndPoints(options.BindAddress, tls.Port))
                        {
                            kestrel.Listen(endPoint, listen =>
                            {
                                listen.UseHttps(certificates.HttpsOptions());
                                listen.UseConnectionHandler<MqttConnectionHandler>();
                                tlsListeners.Add(listen);
                            });
                        }
                    }
                })
                .Configure(_ => { }))
            .Build();

        return new BrokerServer(host, listeners, tlsListeners, certificates, handleConsoleSignals);
    }

    /// <summary>Creates and starts a broker; the usual entry point for tests and embedding.</summary>
    public static async Task<BrokerServer> StartAsync(BrokerOptions options, Action<ILoggingBuilder>? configureLogging = null, CancellationToken cancellationToken = default)
    {
        BrokerServer server = Create(options, configureLogging);
        await server.StartAsync(cancellationToken);
        return server;
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        IHostApplicationLifetime lifetime = _host.Services.GetRequiredService<IHostApplicationLifetime>();
        lifetime.ApplicationStopping.Register(() =>
        {
            Broker.Logger.LogInformation("Shutting down: closing {Count} connections", Broker.ConnectionCount);
            Broker.BeginShutdown();
        });
        await _host.StartAsync(cancellationToken);
        foreach (IPEndPoint endPoint in EndPoints)
        {
            Broker.Logger.LogInformation("SensorNode broker listening for MQTT on {EndPoint}", endPoint);
        }

        foreach (IPEndPoint endPoint in _tlsListeners.Select(l => l.IPEndPoint).OfType<IPEndPoint>())
        {
            Broker.Logger.LogInformation("SensorNode broker listening for MQTT over TLS on {EndPoint}", endPoint);
        }

        BrokerOptions options = Broker.Options;
        if (IsLoopbackOnly(options.BindAddress))
        {
            Broker.Logger.LogInformation("Listening on loopback only: other machines cannot connect. --bind any opens the broker to the network");
        }
        else if (!Broker.Security.AllowAnonymous)
        {
            Broker.Logger.LogInformation("Open to the network: anonymous clients are refused (users from {PasswordFile}); allow them explicitly with --allow-anonymous", options.Security.PasswordFile ?? "no users file");
        }

        if (_handleSignals && !OperatingSystem.IsWindows())
        {
            _hangUp = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true;
                Reload();
            });
        }
    }

    /// <summary>Runs until Ctrl+C or SIGTERM, then shuts down gracefully.</summary>
    public async Task RunAsync(CancellationToken cancellationToken = default)
    {
        await StartAsync(cancellationToken);
        await _host.WaitForShutdownAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken = default) => _host.StopAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        _hangUp?.Dispose();
        _certificates?.Dispose();
        try
        {
            await _host.StopAsync();
        }
        finally
        {
            _host.Dispose();
        }
    }

    /// <summary>True when the bind address keeps the broker on this machine (the secure default).</summary>
    public static bool IsLoopbackOnly(string bindAddress) =>
        bindAddress.Trim().ToLowerInvariant() is "localhost" or "loopback"
        || (IPAddress.TryParse(bindAddress.Trim('[', ']'), out IPAddress? address) && IPAddress.IsLoopback(address));

    private static IEnumerable<IPEndPoint> ResolveEndPoints(string bindAddress, int port)
    {
        switch (bindAddress.Trim().ToLowerInvariant())
        {
            case "localhost" or "loopback":
                yield return new IPEndPoint(IPAddress.Loopback, port);

                // A second loopback listener needs a fixed port: with port 0 the two would differ.
                if (port != 0 && System.Net.Sockets.Socket.OSSupportsIPv6)
                {
                    yield return new IPEndPoint(IPAddress.IPv6Loopback, port);
                }

                break;
            case "any" or "*" or "0.0.0.0":
                yield return new IPEndPoint(IPAddress.Any, port);
                break;
            case "::" or "[::]":
                yield return new IPEndPoint(IPAddress.IPv6Any, port);
                break;
            default:
                if (!IPAddress.TryParse(bindAddress.Trim('[', ']'), out IPAddress? address))
                {
                    throw new ArgumentException($"bind address '{bindAddress}' is not 'localhost', 'any' or an IP address", nameof(bindAddress));
                }

                yield return new IPEndPoint(address, port);
                break;
        }
    }

    /// <summary>An in-process broker leaves Ctrl+C and SIGTERM to the application that embeds it.</summary>
    private sealed class EmbeddedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
