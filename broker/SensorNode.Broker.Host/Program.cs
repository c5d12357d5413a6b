using System.CommandLine;
using Microsoft.Extensions.Logging;
using SensorNode.Broker;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Host;
using SensorNode.Broker.Persistence;

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
var dataDir = new Option<string>("--data-dir", "-d")
{
    Description = "Directory of the broker's database (created if missing).",
    DefaultValueFactory = _ => new BrokerOptions().DataDirectory,
};
var noPersistence = new Option<bool>("--no-persistence")
{
    Description = "Keep everything in memory: retained messages and persistent sessions end with the process.",
};
var durability = new Option<StoreDurability>("--durability")
{
    Description = "Full: every acknowledged message survives a power cut (default). Normal: survives a crash; a power cut may lose the last commits.",
    DefaultValueFactory = _ => StoreDurability.Full,
};
var recoverStore = new Option<bool>("--recover-store")
{
    Description = "If the database is damaged, move it aside (kept for inspection) and start with an empty one.",
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

var root = new RootCommand("SensorNode MQTT broker (MQTT 5.0, 3.1.1, 3.1).") { port, bind, dataDir, noPersistence, durability, recoverStore, maxPacketSize, logLevel };
SecurityCommandLine.AddTo(root);
root.Subcommands.Add(SecurityCommandLine.Passwd());
root.SetAction(async (parse, cancellationToken) =>
{
    var options = new BrokerOptions
    {
        Port = parse.GetValue(port),
        BindAddress = parse.GetValue(bind)!,
        DataDirectory = parse.GetValue(dataDir)!,
        Persistence = parse.GetValue(noPersistence) ? PersistenceMode.Memory : PersistenceMode.Sqlite,
        Durability = parse.GetValue(durability),
        RecoverDamagedStore = parse.GetValue(recoverStore),
        MaxPacketSize = parse.GetValue(maxPacketSize),
    };

    SecurityCommandLine.Apply(parse, options);
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
    BrokerServer server;
    try
    {
        server = BrokerServer.Create(
            options,
            logging => logging.SetMinimumLevel(minimum).AddSimpleConsole(c =>
            {
                c.SingleLine = true;
                c.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fff ";
            }),
            handleConsoleSignals: true);
    }
    catch (StoreException ex)
    {
        await Console.Error.WriteLineAsync($"sensornode-broker: {ex.Message}");
        return 3;
    }
    catch (SensorNode.Broker.Security.ConfigFileException ex)
    {
        await Console.Error.WriteLineAsync($"sensornode-broker: {ex.Message}");
        return 2;
    }
    catch (Exception ex) when (ex is IOException or System.Security.Cryptography.CryptographicException or InvalidOperationException)
    {
        await Console.Error.WriteLineAsync($"sensornode-broker: cannot start: {ex.Message}");
        return 2;
    }

    await using (server)
    {
        await server.RunAsync(cancellationToken);
    }

    return 0;
});

return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
