using System.CommandLine;
using System.Text;
using Microsoft.Extensions.Logging;
using SensorNode.Broker.Configuration;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Host.Client;
using SensorNode.Broker.Persistence;

namespace SensorNode.Broker.Host;

/// <summary>
/// The <c>sensornode-broker</c> command line: <c>run</c> (the default), <c>check-config</c>, and the built-in client
/// <c>sub</c> and <c>pub</c>; <c>--version</c> and <c>--help</c> everywhere.
/// </summary>
internal static class Cli
{
    public const int ConfigurationError = 2;
    public const int StoreError = 3;
    public const int ListenError = 4;

    public static RootCommand Build()
    {
        var root = new RootCommand("SensorNode MQTT broker (MQTT 5.0, 3.1.1, 3.1) with a built-in client. Without a command it runs the broker.");
        var rootOptions = new RunOptions(root);
        var checkFlag = new Option<bool>("--check-config") { Description = "Validate the configuration and exit (same as the check-config command)." };
        root.Options.Add(checkFlag);
        root.SetAction((parse, ct) => parse.GetValue(checkFlag) ? CheckAsync(parse, rootOptions) : RunAsync(parse, rootOptions, ct));

        var run = new Command("run", "Run the broker (the default command).");
        var runOptions = new RunOptions(run);
        run.SetAction((parse, ct) => RunAsync(parse, runOptions, ct));
        root.Subcommands.Add(run);

        var check = new Command("check-config", "Validate the configuration (file, SENSORNODE_* environment variables, options) and exit: 0 when valid, 2 with the errors when not.");
        var checkOptions = new RunOptions(check);
        check.SetAction((parse, _) => CheckAsync(parse, checkOptions));
        root.Subcommands.Add(check);

        root.Subcommands.Add(BuildSub());
        root.Subcommands.Add(BuildPub());
        root.Subcommands.Add(SecurityCommandLine.Passwd());
        return root;
    }

    /// <summary>The broker's options, added to the root command, <c>run</c> and <c>check-config</c> alike.</summary>
    private sealed class RunOptions
    {
        public RunOptions(Command command)
        {
            foreach (Option option in new Option[] { Config, Port, Bind, DataDir, NoPersistence, Durability, RecoverStore, MaxPacketSize, LogLevel, WebSocketPort, HttpPort, SysInterval })
            {
                command.Options.Add(option);
            }

            _security = new SecurityCommandLine(command);
        }

        private readonly SecurityCommandLine _security;

        public Option<string?> Config { get; } = new("--config", "-c")
        {
            Description = $"JSON configuration file (comments allowed), e.g. {BrokerConfiguration.DefaultPath}; default: $SENSORNODE_CONFIG, else none.",
        };

        public Option<int?> Port { get; } = new("--port", "-p") { Description = "TCP port of the MQTT listener [1883]; 0 picks a free port (the bound port is logged)." };

        public Option<string?> Bind { get; } = new("--bind", "-b") { Description = "Address every listener binds: 'localhost' (both loopback addresses), 'any', or an IP address [localhost]." };

        public Option<string?> DataDir { get; } = new("--data-dir", "-d") { Description = "Directory of the broker's database (created if missing) [sensornode-data]." };

        public Option<bool> NoPersistence { get; } = new("--no-persistence") { Description = "Keep everything in memory: retained messages and persistent sessions end with the process." };

        public Option<StoreDurability?> Durability { get; } = new("--durability")
        {
            Description = "Full: every acknowledged message survives a power cut [default]. Normal: survives a crash; a power cut may lose the last commits.",
        };

        public Option<bool> RecoverStore { get; } = new("--recover-store") { Description = "If the database is damaged, move it aside (kept for inspection) and start with an empty one." };

        public Option<int?> MaxPacketSize { get; } = new("--max-packet-size") { Description = "Largest MQTT packet accepted, in bytes [1048576]." };

        public Option<LogLevel?> LogLevel { get; } = new("--log-level") { Description = "Minimum log level (Trace, Debug, Information, Warning, Error) [Information]." };

        public Option<int?> WebSocketPort { get; } = new("--websocket-port") { Description = "Port of the MQTT over WebSocket listener (ws://HOST:PORT/mqtt); adds one if the configuration has none." };

        public Option<int?> HttpPort { get; } = new("--http-port") { Description = "Port of the HTTP listener for /metrics and /health; adds one if the configuration has none." };

        public Option<int?> SysInterval { get; } = new("--sys-interval") { Description = "Seconds between $SYS/broker/... updates; 0 turns them off [10]." };

        public LoadedConfiguration Load(ParseResult parse)
        {
            string? path = parse.GetValue(Config) ?? Environment.GetEnvironmentVariable(ConfigurationKeys.ConfigPathVariable);
            var overrides = new CommandLineOverrides
            {
                Port = parse.GetValue(Port),
                Bind = parse.GetValue(Bind),
                DataDirectory = parse.GetValue(DataDir),
                NoPersistence = parse.GetValue(NoPersistence),
                Durability = parse.GetValue(Durability),
                RecoverStore = parse.GetValue(RecoverStore),
                MaxPacketSize = parse.GetValue(MaxPacketSize),
                LogLevel = parse.GetValue(LogLevel),
                WebSocketPort = parse.GetValue(WebSocketPort),
                HttpPort = parse.GetValue(HttpPort),
                SysIntervalSeconds = parse.GetValue(SysInterval),
            };
            LoadedConfiguration loaded = BrokerConfiguration.Load(string.IsNullOrEmpty(path) ? null : path, Environment.GetEnvironmentVariables(), overrides);
            _security.Apply(parse, loaded.Options);
            StartupFileChecks.Check(loaded.Options);
            return loaded;
        }
    }

    private static async Task<int> CheckAsync(ParseResult parse, RunOptions options)
    {
        LoadedConfiguration config;
        try
        {
            config = options.Load(parse);
        }
        catch (ConfigurationException ex)
        {
            await ReportAsync(ex);
            return ConfigurationError;
        }

        var text = new StringBuilder();
        text.Append("configuration OK").Append(config.ConfigFile is null ? " (no file: defaults, environment and options)" : $": {config.ConfigFile}").Append('\n');
        foreach (ListenerOptions listener in config.Options.EffectiveListeners)
        {
            text.Append("  listener ").Append(listener).Append('\n');
        }

        text.Append("  data ").Append(config.Options.Persistence == PersistenceMode.Memory ? "in memory" : Path.GetFullPath(config.Options.DataDirectory))
            .Append(", durability ").Append(config.Options.Durability)
            .Append(", $SYS every ").Append(config.Options.SysInterval.TotalSeconds).Append(" s")
            .Append(", log level ").Append(config.LogLevel).Append('\n');
        await Console.Out.WriteAsync(text.ToString());
        return 0;
    }

    private static async Task ReportAsync(ConfigurationException ex)
    {
        var text = new StringBuilder("sensornode-broker: invalid configuration\n");
        foreach (ConfigurationError error in ex.Errors)
        {
            text.Append("  ").Append(error).Append('\n');
        }

        await Console.Error.WriteAsync(text.ToString());
    }

    private static async Task<int> RunAsync(ParseResult parse, RunOptions options, CancellationToken cancellationToken)
    {
        LoadedConfiguration config;
        try
        {
            config = options.Load(parse);
        }
        catch (ConfigurationException ex)
        {
            await ReportAsync(ex);
            return ConfigurationError;
        }

        LogLevel minimum = config.LogLevel;
        bool journal = SystemdIntegration.IsUnderSystemd;
        BrokerServer server;
        try
        {
            server = BrokerServer.Create(
                config.Options,
                logging =>
                {
                    logging.SetMinimumLevel(minimum);
                    if (journal)
                    {
                        // journald adds the time; "<6>" prefixes become the journal's priorities.
                        logging.AddSystemdConsole();
                    }
                    else
                    {
                        logging.AddSimpleConsole(c =>
                        {
                            c.SingleLine = true;
                            c.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fff ";
                        });
                    }
                },
                handleConsoleSignals: true);
        }
        catch (StoreException ex)
        {
            await Console.Error.WriteLineAsync($"sensornode-broker: {ex.Message}");
            return StoreError;
        }
        catch (SensorNode.Broker.Security.ConfigFileException ex)
        {
            // The users or ACL file: its path and line are in the message.
            await Console.Error.WriteLineAsync($"sensornode-broker: {ex.Message}");
            return ConfigurationError;
        }
        catch (Exception ex) when (IsStartProblem(ex))
        {
            // An unwritable data directory, a file the checks could not foresee: the message, not a stack trace.
            await Console.Error.WriteLineAsync($"sensornode-broker: cannot start: {ex.Message}");
            return ConfigurationError;
        }

        SensorNode.Broker.Persistence.IBrokerStore store = server.Broker.Store;
        await using (server)
        {
            ILogger logger = server.Broker.LoggerFactory.CreateLogger("SensorNode.Broker.Host");
            logger.LogInformation(
                "SensorNode broker {Version} starting (configuration: {Config})",
                Diagnostics.BrokerStatus.Version, config.ConfigFile ?? "none, defaults and options");
            try
            {
                await server.RunAsync(cancellationToken);
            }
            catch (Exception ex) when (IsListenProblem(ex))
            {
                // Typically "address already in use".
                await Console.Error.WriteLineAsync($"sensornode-broker: cannot listen: {ex.Message}");
                return ListenError;
            }
            catch (Exception ex) when (IsStartProblem(ex))
            {
                await Console.Error.WriteLineAsync($"sensornode-broker: cannot start: {ex.Message}");
                return ConfigurationError;
            }
        }

        if (store is SensorNode.Broker.Persistence.SqliteBrokerStore { GaveUpWritingAtStop: true } sqlite)
        {
            // A stop is not clean when the disk refused what was still to be written (a supervisor should know).
            await Console.Error.WriteLineAsync($"sensornode-broker: stopped without writing everything to {sqlite.Path}: the disk refused it (see the log); nothing unwritten was acknowledged");
            return StoreError;
        }

        return 0;
    }

    private static bool IsListenProblem(Exception ex) =>
        ex is System.Net.Sockets.SocketException
        || (ex is IOException && ex.InnerException is System.Net.Sockets.SocketException or Microsoft.AspNetCore.Connections.AddressInUseException);

    private static bool IsStartProblem(Exception ex) =>
        ex is System.Security.Cryptography.CryptographicException or InvalidOperationException or UnauthorizedAccessException or IOException;

    private sealed class ClientOptions
    {
        public ClientOptions(Command command)
        {
            foreach (Option option in new Option[] { Host, Port, Id, User, Password, KeepAlive })
            {
                command.Options.Add(option);
            }
        }

        public Option<string> Host { get; } = new("--host", "-H") { Description = "Broker host.", DefaultValueFactory = _ => "localhost" };

        public Option<int> Port { get; } = new("--port", "-p") { Description = "Broker MQTT port.", DefaultValueFactory = _ => BrokerOptions.DefaultPort };

        public Option<string?> Id { get; } = new("--id", "-i") { Description = "Client identifier (default: sensornode-sub-PID-N / sensornode-pub-PID-N)." };

        public Option<string?> User { get; } = new("--username", "-u") { Description = "User name." };

        public Option<string?> Password { get; } = new("--password", "-P") { Description = "Password." };

        public Option<ushort> KeepAlive { get; } = new("--keepalive", "-k") { Description = "Keep alive in seconds.", DefaultValueFactory = _ => 60 };

        public ClientSettings Read(ParseResult parse) => new(
            parse.GetValue(Host)!, parse.GetValue(Port), parse.GetValue(Id), parse.GetValue(User), parse.GetValue(Password), parse.GetValue(KeepAlive));
    }

    private static Option<byte> QosOption() => new("--qos", "-q")
    {
        Description = "QoS 0, 1 or 2.",
        DefaultValueFactory = _ => 0,
        Validators =
        {
            result =>
            {
                if (result.GetValueOrDefault<byte>() > 2)
                {
                    result.AddError("--qos must be 0, 1 or 2");
                }
            },
        },
    };

    private static Command BuildSub()
    {
        var command = new Command("sub", "Subscribe and print each message: topic, QoS, retain flag and payload (e.g. sub 'sensor/#'); --table shows the latest reading per room.");
        var filters = new Argument<string[]>("filter") { Description = "Topic filters, e.g. 'sensor/#'.", Arity = ArgumentArity.OneOrMore };
        command.Arguments.Add(filters);
        var client = new ClientOptions(command);
        Option<byte> qos = QosOption();
        var count = new Option<int>("--count", "-C") { Description = "Exit after this many messages (0: run until Ctrl+C)." };
        var timeout = new Option<int>("--timeout", "-W") { Description = $"Exit after this many seconds (exit code {ClientCommands.TimedOut} if --count was not reached)." };
        var table = new Option<bool>("--table", "-T") { Description = "Show the latest value per room of sensor/<type>/<room> topics as a table." };
        command.Options.Add(qos);
        command.Options.Add(count);
        command.Options.Add(timeout);
        command.Options.Add(table);
        command.SetAction((parse, ct) => Guard(() => ClientCommands.SubscribeAsync(
            client.Read(parse), parse.GetValue(filters)!, parse.GetValue(qos), parse.GetValue(count), parse.GetValue(timeout), parse.GetValue(table), Console.Out, ct)));
        return command;
    }

    private static Command BuildPub()
    {
        var command = new Command("pub", "Publish one message, e.g. pub -t sensor/temperature/kitchen -m 21.4 -q 1 -r; waits for the acknowledgement at QoS 1 and 2.");
        var client = new ClientOptions(command);
        var topic = new Option<string>("--topic", "-t") { Description = "Topic to publish on.", Required = true };
        var message = new Option<string?>("--message", "-m") { Description = "Payload text (UTF-8)." };
        var file = new Option<FileInfo?>("--file", "-f") { Description = "Send the file's bytes as the payload." };
        var empty = new Option<bool>("--null-message", "-n") { Description = "Send an empty payload (with -r: deletes the retained message)." };
        var retain = new Option<bool>("--retain", "-r") { Description = "Publish as a retained message." };
        Option<byte> qos = QosOption();
        command.Options.Add(topic);
        command.Options.Add(message);
        command.Options.Add(file);
        command.Options.Add(empty);
        command.Options.Add(qos);
        command.Options.Add(retain);
        command.Validators.Add(result =>
        {
            int given = (result.GetResult(message) is null ? 0 : 1) + (result.GetResult(file) is null ? 0 : 1) + (result.GetValue(empty) ? 1 : 0);
            if (given != 1)
            {
                result.AddError("give exactly one of --message, --file or --null-message");
            }
        });
        command.SetAction((parse, ct) => Guard(async () =>
        {
            byte[] payload = parse.GetValue(file) is { } f ? await File.ReadAllBytesAsync(f.FullName, ct)
                : parse.GetValue(empty) ? [] : Encoding.UTF8.GetBytes(parse.GetValue(message) ?? "");
            return await ClientCommands.PublishAsync(client.Read(parse), parse.GetValue(topic)!, payload, parse.GetValue(qos), parse.GetValue(retain), ct);
        }));
        return command;
    }

    private static async Task<int> Guard(Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (CliException ex)
        {
            await Console.Error.WriteLineAsync($"sensornode-broker: {ex.Message}");
            return ex.ExitCode;
        }
        catch (IOException ex)
        {
            await Console.Error.WriteLineAsync($"sensornode-broker: {ex.Message}");
            return 1;
        }
    }
}
