using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SensorNode.Broker.Diagnostics;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Transport;

namespace SensorNode.Broker.Http;

/// <summary>
/// What the broker's HTTP listeners answer. A WebSocket listener takes MQTT at its path (subprotocol "mqtt"); an HTTP
/// listener serves <c>/metrics</c> (Prometheus) and <c>/health</c>. Both answer <c>/health</c>.
/// </summary>
public static class BrokerHttpApplication
{
    /// <summary>Key of the connection item that tells which configured listener a connection came in on.</summary>
    public const string ListenerItem = "sensornode.listener";

    /// <summary>Subprotocols accepted for MQTT over WebSocket, in order of preference ("mqttv3.1" for MQTT 3.1 clients).</summary>
    public static readonly string[] SubProtocols = ["mqtt", "mqttv3.1"];

    public static void Configure(IApplicationBuilder app)
    {
        app.UseWebSockets();
        MqttBroker broker = app.ApplicationServices.GetRequiredService<MqttBroker>();
        BrokerStatus status = app.ApplicationServices.GetRequiredService<BrokerStatus>();
        var handler = new MqttConnectionHandler(broker);
        ILogger logger = broker.LoggerFactory.CreateLogger("SensorNode.Broker.WebSocket");
        app.Run(context => HandleAsync(context, broker, status, handler, logger));
    }

    private static async Task HandleAsync(HttpContext context, MqttBroker broker, BrokerStatus status, MqttConnectionHandler handler, ILogger logger)
    {
        ListenerOptions? listener = context.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(ListenerItem, out object? item) == true
            ? item as ListenerOptions
            : null;
        string path = context.Request.Path.Value ?? "/";

        if (listener is { IsWebSocket: true } && path.Equals(listener.Path, StringComparison.OrdinalIgnoreCase))
        {
            await AcceptMqttAsync(context, broker, handler, logger);
            return;
        }

        if (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method))
        {
            if (path == "/health")
            {
                await HealthAsync(context, broker, status);
                return;
            }

            if (path == "/metrics" && listener is { Kind: ListenerKind.Http })
            {
                double? flush = await TimeStoreFlushAsync(broker, TimeSpan.FromSeconds(2));
                context.Response.ContentType = PrometheusExporter.ContentType;
                context.Response.Headers.CacheControl = "no-store";
                await context.Response.WriteAsync(PrometheusExporter.Render(status, flush));
                return;
            }
        }

        if (await Dashboard.DashboardEndpoints.TryHandleAsync(context))
        {
            return;
        }

        context.Response.StatusCode = StatusCodes.Status404NotFound;
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(listener is { IsWebSocket: true }
            ? $"MQTT over WebSocket is at {listener.Path} (subprotocol mqtt)\n"
            : "SensorNode broker: /metrics and /health\n");
    }

    private static async Task AcceptMqttAsync(HttpContext context, MqttBroker broker, MqttConnectionHandler handler, ILogger logger)
    {
        if (!context.WebSockets.IsWebSocketRequest)
        {
            context.Response.StatusCode = StatusCodes.Status426UpgradeRequired;
            context.Response.Headers.Upgrade = "websocket";
            await context.Response.WriteAsync("MQTT over WebSocket: connect with a WebSocket client, subprotocol mqtt\n");
            return;
        }

        if (broker.IsShuttingDown)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }

        IList<string> requested = context.WebSockets.WebSocketRequestedProtocols;
        string? subProtocol = SubProtocols.FirstOrDefault(p => requested.Contains(p, StringComparer.OrdinalIgnoreCase));
        if (requested.Count > 0 && subProtocol is null)
        {
            logger.LogInformation("Refused WebSocket from {Remote}: subprotocols {Protocols} are not MQTT", context.Connection.RemoteIpAddress, string.Join(", ", requested));
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            await context.Response.WriteAsync("WebSocket subprotocol must be mqtt\n");
            return;
        }

        using System.Net.WebSockets.WebSocket socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            SubProtocol = subProtocol,
            KeepAliveInterval = TimeSpan.Zero, // MQTT's own keep alive (PINGREQ) watches the connection.
        });
        var remote = new System.Net.IPEndPoint(context.Connection.RemoteIpAddress ?? System.Net.IPAddress.None, context.Connection.RemotePort);
        var local = new System.Net.IPEndPoint(context.Connection.LocalIpAddress ?? System.Net.IPAddress.None, context.Connection.LocalPort);
        var connection = new WebSocketConnection(socket, remote, local, broker.Options.MaxPacketSize, logger);
        await connection.RunAsync(handler.OnConnectedAsync);
    }

    private static async Task HealthAsync(HttpContext context, MqttBroker broker, BrokerStatus status)
    {
        // A store whose commits fail (full disk) is reported at once, rather than after the flush's time-out.
        double? flush = broker.Store is Persistence.SqliteBrokerStore { IsFailing: true } ? null : await TimeStoreFlushAsync(broker, TimeSpan.FromSeconds(5));
        bool storeOk = flush is not null;
        bool serving = !broker.IsShuttingDown;
        context.Response.StatusCode = serving && storeOk ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        BrokerSnapshot s = status.Snapshot();
        if (HttpMethods.IsHead(context.Request.Method))
        {
            return;
        }

        // Written field by field (no reflection), so the broker also runs as a Native AOT binary.
        var json = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartObject();
            writer.WriteString("status", serving ? (storeOk ? "serving" : "store-unavailable") : "stopping");
            writer.WriteString("version", BrokerStatus.Version);
            writer.WriteNumber("uptimeSeconds", (long)s.Uptime.TotalSeconds);
            writer.WriteString("store", storeOk ? "ok" : broker.Store is Persistence.SqliteBrokerStore { IsFailing: true } ? "commits failing" : "not responding");
            writer.WriteString("storeKind", broker.Options.Persistence == PersistenceMode.Memory && broker.Options.Store is null ? "memory" : "sqlite");
            if (flush is { } f)
            {
                writer.WriteNumber("storeFlushMilliseconds", Math.Round(f * 1000, 3));
            }
            else
            {
                writer.WriteNull("storeFlushMilliseconds");
            }

            writer.WriteNumber("clientsConnected", s.ClientsConnected);
            writer.WriteNumber("connections", s.Connections);
            writer.WriteEndObject();
        }

        json.Write("\n"u8);
        await context.Response.Body.WriteAsync(json.WrittenMemory);
    }

    /// <summary>Seconds a store flush takes (everything submitted becoming durable), or null when it does not finish in time.</summary>
    private static async Task<double?> TimeStoreFlushAsync(MqttBroker broker, TimeSpan timeout)
    {
        long started = Stopwatch.GetTimestamp();
        Task flush = broker.Store.FlushAsync();
        if (await Task.WhenAny(flush, Task.Delay(timeout)) != flush || flush.IsFaulted)
        {
            return null;
        }

        return Stopwatch.GetElapsedTime(started).TotalSeconds;
    }
}
