using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using SensorNode.Broker.Tests.Infrastructure;
using SensorNode.Broker.Tests.Interop;

namespace SensorNode.Broker.Tests.Bridging;

/// <summary>
/// Debian's real <c>mosquitto</c> broker as the upstream of a bridge: started on a free 127.0.0.1 port with its own
/// configuration file in a temp directory, stopped (SIGTERM) or killed by its PID, and restartable on the same port
/// with the same persistence directory. A missing mosquitto skips the test locally and fails it under CI=true.
/// </summary>
public sealed class MosquittoUpstream : IAsyncDisposable
{
    private static readonly Lazy<string?> ExecutablePath = new(() =>
        new[] { "/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto" }.FirstOrDefault(File.Exists));

    private readonly string _directory;
    private readonly ConcurrentQueue<string> _log = new();
    private Process? _process;

    private MosquittoUpstream(int port, string directory, string extraConfig)
    {
        Port = port;
        _directory = directory;
        ConfigPath = Path.Combine(directory, "mosquitto.conf");
        File.WriteAllText(ConfigPath, string.Join('\n',
            $"listener {port.ToString(CultureInfo.InvariantCulture)} 127.0.0.1",
            "allow_anonymous true",

            // Run as whoever runs the tests: as root mosquitto would otherwise switch to its own user, which may not
            // write to the test's temp directory.
            $"user {Environment.UserName}",
            "persistence true",
            $"persistence_location {directory}/",
            "autosave_interval 0",
            "max_queued_messages 100000",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            extraConfig,
            string.Empty));
    }

    public int Port { get; }

    public string ConfigPath { get; }

    public string Directory => _directory;

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>What mosquitto logged (for failure messages).</summary>
    public string Log => string.Join('\n', _log);

    /// <summary>Path of mosquitto, or skips (fails on CI) the calling test.</summary>
    public static string RequireMosquitto()
    {
        if (ExecutablePath.Value is { } path)
        {
            return path;
        }

        const string message = "mosquitto (the broker) was not found. Install the apt package mosquitto (apt-get install -y mosquitto).";
        if (ExternalTool.IsCi)
        {
            Assert.Fail(message + " CI=true, so a missing upstream fails the test instead of skipping it.");
        }

        Skip.If(true, message + " Skipped because CI is not 'true'.");
        throw new UnreachableException();
    }

    /// <summary>A free loopback port (nothing listening on it when this returns).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Configures (and by default starts) a mosquitto; <paramref name="extraConfig"/> goes below the listener line (TLS files).</summary>
    public static async Task<MosquittoUpstream> StartAsync(string extraConfig = "", int? port = null, bool start = true)
    {
        RequireMosquitto();
        string directory = Path.Combine(TestBroker.NewDataDirectory(), "mosquitto");
        System.IO.Directory.CreateDirectory(directory);
        var upstream = new MosquittoUpstream(port ?? FreePort(), directory, extraConfig);
        if (start)
        {
            await upstream.StartAgainAsync();
        }

        return upstream;
    }

    /// <summary>(Re)starts mosquitto on the same port and persistence directory; returns once it is listening.</summary>
    public async Task StartAgainAsync()
    {
        Assert.False(IsRunning, "mosquitto is already running");
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var start = new ProcessStartInfo(RequireMosquitto()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(ConfigPath);
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            _log.Enqueue(line);
            if (line.Contains(" running", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        }

        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException("mosquitto exited at start:\n" + Log));
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        await ready.Task.WaitAsync(TimeSpan.FromSeconds(15));
    }

    /// <summary>Stops mosquitto with SIGTERM (it saves its persistence file) and waits for it to exit.</summary>
    public async Task StopAsync()
    {
        if (_process is not { HasExited: false } process)
        {
            return;
        }

        using (Process kill = Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)])!)
        {
            await kill.WaitForExitAsync();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await process.WaitForExitAsync(timeout.Token);
        process.Dispose();
        _process = null;
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { } process)
        {
            if (!process.HasExited)
            {
                // Only the process this object started, by its PID.
                process.Kill(entireProcessTree: false);
                await process.WaitForExitAsync();
            }

            process.Dispose();
            _process = null;
        }
    }
}
