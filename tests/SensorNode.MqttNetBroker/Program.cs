using System.Net;
using MQTTnet.Server;

// sensornode-mqttnet-broker [PORT]: MQTTnet.Server on 127.0.0.1:PORT with persistent sessions enabled and the
// per-client pending-message limit lifted (as Mosquitto's limits are lifted in the benchmark). Stops on
// SIGTERM / Ctrl+C.
int port = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 1883;

var factory = new MqttServerFactory();
MqttServerOptions options = factory.CreateServerOptionsBuilder()
    .WithDefaultEndpoint()
    .WithDefaultEndpointPort(port)
    .WithDefaultEndpointBoundIPAddress(IPAddress.Loopback)
    .WithDefaultEndpointBoundIPV6Address(IPAddress.None)
    .WithPersistentSessions()
    .WithMaxPendingMessagesPerClient(1_000_000)
    .WithConnectionBacklog(4096)
    .Build();

using MqttServer server = factory.CreateMqttServer(options);
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.Cancel();

await server.StartAsync();
Console.WriteLine($"MQTTnet server listening on 127.0.0.1:{port}");
try
{
    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException)
{
}

await server.StopAsync();
