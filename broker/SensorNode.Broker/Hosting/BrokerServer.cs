using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SensorNode.Broker.Diagnostics;
using SensorNode.Broker.Http;
using SensorNode.Broker.Transport;

namespace SensorNode.Broker.Hosting;

/// <summary>
/// The broker on Kestrel inside a generic host: what the executable runs and what tests and embedding
/// applications start in-process. Port 0 binds a free port; <see cref="Port"/> tells which.
/// </summary>
public sealed class BrokerServer : IAsyncDisposable
{
    private readonly IHost _host;
    private bool _started;
    private readonly List<BoundListener> _listeners;
    private readonly List<TlsCertificates> _certificates;
    private readonly bool _handleSignals;
    private System.Runtime.InteropServices.PosixSignalRegistration? _hangUp;

    private BrokerServer(IHost host, List<BoundListener> listeners, List<TlsCertificates> certificates, bool handleSignals)
    {
        _host = host;
        _listeners = listeners;
        _certificates = certificates;
        _handleSignals = handleSignals;
        Broker = host.Services.GetRequiredService<MqttBroker>();
        Status = host.Services.GetRequiredService<BrokerStatus>();
    }

    /// <summary>Re-reads certificates, users and ACL (what SIGHUP does); connections stay up.</summary>
    public void Reload()
    {
        foreach (TlsCertificates certificates in _certificates)
        {
            certificates.Reload();
        }

        Broker.Security.Reload();
    }

    public MqttBroker Broker { get; }

    /// <summary>Version, uptime and a snapshot of the numbers ($SYS, /metrics and /health read it).</summary>
    public BrokerStatus Status { get; }

    /// <summary>The host's services (the $SYS publisher, for instance).</summary>
    public IServiceProvider Services => _host.Services;

    /// <summary>The MQTT (plain TCP) endpoints actually bound (with the real port when 0 was asked for).</summary>
    public IReadOnlyList<IPEndPoint> EndPoints => EndPointsOf(ListenerKind.Mqtt);

    /// <summary>Port of the first plain MQTT listener (or of the first listener when there is none).</summary>
    public int Port => EndPoints.Count > 0 ? EndPoints[0].Port : _listeners[0].EndPoint()!.Port;

    /// <summary>Port of the first WebSocket (ws://) listener; 0 when there is none.</summary>
    public int WebSocketPort => FirstPort(ListenerKind.WebSocket);

    /// <summary>Port of the first HTTP listener (/metrics, /health); 0 when there is none.</summary>
    public int HttpPort => FirstPort(ListenerKind.Http);

    /// <summary>Port of the first MQTT over TLS listener; 0 when there is none.</summary>
    public int TlsPort => FirstPort(ListenerKind.MqttTls);

    /// <summary>The endpoints bound for listeners of one kind.</summary>
    public IReadOnlyList<IPEndPoint> EndPointsOf(ListenerKind kind) =>
        [.. _listeners.Where(l => l.Config.Kind == kind).Select(l => l.EndPoint()).OfType<IPEndPoint>()];

    private int FirstPort(ListenerKind kind) => EndPointsOf(kind) is { Count: > 0 } endPoints ? endPoints[0].Port : 0;

    /// <summary>
    /// Builds the host. <paramref name="configureLogging"/> sets up logging (none by default);
    /// <paramref name="handleConsoleSignals"/> makes Ctrl+C and SIGTERM stop the broker gracefully (the executable).
    /// </summary>
    public static BrokerServer Create(BrokerOptions options, Action<ILoggingBuilder>? configureLogging = null, bool handleConsoleSignals = false)
    {
        options.Validate();

        var listeners = new List<BoundListener>();
        var tcp = new TcpListenersService();
        foreach (ListenerOptions listener in options.EffectiveListeners.Where(l => l.Kind == ListenerKind.Mqtt))
        {
            foreach (IPEndPoint endPoint in ResolveEndPoints(listener.BindAddress, listener.Port))
            {
                listeners.Add(new BoundListener(listener, tcp.Add(endPoint)));
            }
        }

        bool needsKestrel = options.Tls is not null || options.EffectiveListeners.Any(l => l.Kind != ListenerKind.Mqtt);
        var certificates = new List<TlsCertificates>();
        bool systemd = handleConsoleSignals && SystemdIntegration.IsNotifyRequested;
        IHostBuilder builder = new HostBuilder()
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
                services.AddSingleton<BrokerStatus>();
                services.AddSingleton<SysTopicsPublisher>();
                services.AddHostedService(sp => sp.GetRequiredService<SysTopicsPublisher>());
                services.AddHostedService(sp => tcp.Attach(sp.GetRequiredService<MqttBroker>()));
                Dashboard.DashboardService.Register(services, options);
                services.AddSingleton<Bridging.BridgeManager>();
                services.AddHostedService(sp => sp.GetRequiredService<Bridging.BridgeManager>());
                services.Configure<HostOptions>(o => o.ShutdownTimeout = options.ShutdownTimeout + (2 * TcpMqttListener.CloseAllowance) + TimeSpan.FromSeconds(2));
                services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
                if (!handleConsoleSignals)
                {
                    services.AddSingleton<IHostLifetime, EmbeddedLifetime>();
                }
                else if (systemd)
                {
                    // Type=notify: READY=1 once every listener is bound, STOPPING=1 on SIGTERM.
                    SystemdIntegration.AddNotifyLifetime(services);
                }
            });

        if (needsKestrel)
        {
            // MQTT over TLS and WebSocket, and HTTP (/metrics, /health): Kestrel. Plain MQTT alone needs none of it.
            builder.ConfigureWebHost(web => web
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
                    ILogger tlsLogger = kestrel.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("SensorNode.Broker.Tls");
                    foreach (ListenerOptions listener in options.EffectiveListeners.Where(l => l.Kind != ListenerKind.Mqtt))
                    {
                        foreach (IPEndPoint endPoint in ResolveEndPoints(listener.BindAddress, listener.Port))
                        {
                            kestrel.Listen(endPoint, listen =>
                            {
                                ConfigureListener(listen, listener, certificates, tlsLogger);
                                listeners.Add(new BoundListener(listener, () => listen.IPEndPoint));
                            });
                        }
                    }

                    if (options.Tls is { } tls)
                    {
                        // The TLS listener of BrokerOptions.Tls (command line, embedding): with client certificates.
                        var tlsCertificates = new TlsCertificates(tls, tlsLogger);
                        certificates.Add(tlsCertificates);
                        var tlsListener = new ListenerOptions { Kind = ListenerKind.MqttTls, BindAddress = options.BindAddress, Port = tls.Port };
                        foreach (IPEndPoint endPoint in ResolveEndPoints(options.BindAddress, tls.Port))
                        {
                            kestrel.Listen(endPoint, listen =>
                            {
                                listen.UseHttps(tlsCertificates.HttpsOptions(mqtt: true));
                                listen.UseConnectionHandler<MqttConnectionHandler>();
                                listeners.Add(new BoundListener(tlsListener, () => listen.IPEndPoint));
                            });
                        }
                    }
                })
                .Configure(BrokerHttpApplication.Configure));
        }

        IHost host = builder.Build();
        return new BrokerServer(host, listeners, certificates, handleConsoleSignals);
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
        _started = true;
        foreach ((ListenerOptions config, Func<IPEndPoint?> boundTo) in _listeners)
        {
            IPEndPoint? endPoint = boundTo();
            switch (config.Kind)
            {
                case ListenerKind.Mqtt:
                    Broker.Logger.LogInformation("SensorNode broker listening for MQTT on {EndPoint}", endPoint);
                    break;
                case ListenerKind.MqttTls:
                    Broker.Logger.LogInformation("SensorNode broker listening for MQTT over TLS on {EndPoint}", endPoint);
                    break;
                case ListenerKind.WebSocket or ListenerKind.WebSocketTls:
                    Broker.Logger.LogInformation(
                        "SensorNode broker listening for MQTT over WebSocket on {Scheme}://{EndPoint}{Path}",
                        config.Kind == ListenerKind.WebSocket ? "ws" : "wss", endPoint, config.Path);
                    break;
                case ListenerKind.Http:
                    Broker.Logger.LogInformation("SensorNode broker serving /metrics and /health on http://{EndPoint}", endPoint);
                    break;
            }
        }

        BrokerOptions options = Broker.Options;
        if (!IsExposed(options))
        {
            Broker.Logger.LogInformation("Listening on loopback only: other machines cannot connect. --bind any opens the broker to the network");
        }
        else if (!Broker.Security.AllowAnonymous)
        {
            Broker.Logger.LogInformation("Open to the network: anonymous clients are refused (users from {PasswordFile}); allow them explicitly with --allow-anonymous", options.Security.PasswordFile ?? "no users file");
        }
        else if (!Broker.Security.DashboardAllowsAnonymous)
        {
            Broker.Logger.LogInformation("HTTP is open to the network, MQTT is not: MQTT clients on this machine need no login, the dashboard's visitors do (users from {PasswordFile})", options.Security.PasswordFile ?? "no users file");
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

    /// <summary>TLS first (when the kind has it), then MQTT straight on the connection or HTTP/1.1 for WebSocket and /metrics.</summary>
    private static void ConfigureListener(ListenOptions listen, ListenerOptions listener, List<TlsCertificates> certificates, ILogger tlsLogger)
    {
        listen.Use(next => connection =>
        {
            connection.Items[BrokerHttpApplication.ListenerItem] = listener;
            return next(connection);
        });
        if (listener.IsTls)
        {
            var tls = new TlsCertificates(
                new Security.TlsOptions
                {
                    CertificatePath = listener.CertificatePath,
                    KeyPath = listener.PrivateKeyPath,
                    ClientCertificates = listener.ClientCertificates,
                    ClientCaPath = listener.ClientCaPath,
                    ClientCrlPath = listener.ClientCrlPath,
                },
                tlsLogger);
            certificates.Add(tls);
            listen.UseHttps(tls.HttpsOptions(mqtt: listener.Kind == ListenerKind.MqttTls));
        }

        if (listener.Kind is ListenerKind.Mqtt or ListenerKind.MqttTls)
        {
            listen.UseConnectionHandler<MqttConnectionHandler>();
        }
        else
        {
            listen.Protocols = HttpProtocols.Http1;
        }
    }

    /// <summary>Runs until Ctrl+C or SIGTERM, then shuts down gracefully.</summary>
    public async Task RunAsync(CancellationToken cancellationToken = default)
    {
        await StartAsync(cancellationToken);

        // Start-up (configuration, host, listeners) leaves garbage and half-used regions behind. One compacting collection
        // that gives the free memory back, now and not at the first collection under load, measured on 10,000 idle
        // connections (AOT): 18.2 -> 16.8 MB at start and 37 -> 31.7 MB with them connected.
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        await _host.WaitForShutdownAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken = default) => _host.StopAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        _hangUp?.Dispose();
        foreach (TlsCertificates certificates in _certificates)
        {
            certificates.Dispose();
        }

        try
        {
            await _host.StopAsync();
        }
        catch (Exception) when (!_started)
        {
            // Start-up failed (and was reported); the host cannot stop what it never started.
        }
        finally
        {
            _host.Dispose();
        }
    }

    /// <summary>True when some listener can be reached from other machines.</summary>
    public static bool IsExposed(BrokerOptions options) => options.EffectiveListeners.Any(l => !IsLoopbackOnly(l.BindAddress));

    /// <summary>True when a listener of the kinds <paramref name="kinds"/> selects is open to the network.</summary>
    public static bool IsExposed(BrokerOptions options, Func<ListenerKind, bool> kinds) =>
        options.EffectiveListeners.Any(l => kinds(l.Kind) && !IsLoopbackOnly(l.BindAddress));

    /// <summary>Listeners MQTT clients connect through.</summary>
    public static bool CarriesMqtt(ListenerKind kind) => kind != ListenerKind.Http;

    /// <summary>Listeners that answer HTTP requests, the dashboard's among them.</summary>
    public static bool ServesHttp(ListenerKind kind) => kind is ListenerKind.Http or ListenerKind.WebSocket or ListenerKind.WebSocketTls;

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

    /// <summary>A listener as configured, and the endpoint it is bound to once the host has started.</summary>
    private sealed record BoundListener(ListenerOptions Config, Func<IPEndPoint?> EndPoint);

    /// <summary>An in-process broker leaves Ctrl+C and SIGTERM to the application that embeds it.</summary>
    private sealed class EmbeddedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
