using System.CommandLine;
using Microsoft.Extensions.Logging;
using SensorNode.Broker;
using SensorNode.Broker.Hosting;

var port = new Option<int>("--port", "-p")
{
    Description = "TCP port for MQTT; 0 picks a free port (the bound port is logged).",
    DefaultValueFactory = _ => BrokerOptions.DefaultPort,
};
var bind = new Option<string>("--bind", "-b")
{
    Description = "Address to listen on: 'localhost' (both loopback addresses), 'any' (every interface), or an IP address.",
    DefaultValueFactory = _ => "localhost",
};
var dataDir = new Option<string?>("--data-dir", "-d")
{
    Description = "Directory for the broker's durable state (created if missing).",
};
var maxPacketSize = new Option<int>("--max-packet-size")
{
    Description = "Largest MQTT packet accepted, in bytes.",
    DefaultValueFactory = _ => new BrokerOptions().MaxPacketSize,
};
var logLevel = new Option<LogLevel>("--log-level")
{
    Description = "Minimum log level (Trace, Debug, Information, Warning, Error).",
    DefaultValueFactory = _ => LogLevel.Information,
};

var root = new RootCommand("SensorNode MQTT broker (MQTT 3.1 / 3.1.1).") { port, bind, dataDir, maxPacketSize, logLevel };
root.SetAction(async (parse, cancellationToken) =>
{
    var options = new BrokerOptions
    {
        Port = parse.GetValue(port),
        BindAddress = parse.GetValue(bind)!,
        DataDirectory = parse.GetValue(dataDir),
        MaxPacketSize = parse.GetValue(maxPacketSize),
    };

    try
    {
        options.Validate();
    }
    catch (ArgumentException ex)
    {
        await Console.Error.WriteLineAsync($"sensornode-broker: invalid option: {ex.Message}");
        return 2;
    }

    LogLevel minimum = parse.GetValue(logLevel);
    await using BrokerServer server = BrokerServer.Create(
        options,
        logging => logging.SetMinimumLevel(minimum).AddSimpleConsole(c =>
        {
            c.SingleLine = true;
            c.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fff ";
        }),
        handleConsoleSignals: true);
    await server.RunAsync(cancellationToken);
    return 0;
});

return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
