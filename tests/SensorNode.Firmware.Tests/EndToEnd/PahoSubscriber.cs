using System.Diagnostics;
using System.Threading.Channels;

namespace SensorNode.Firmware.Tests.EndToEnd;

public sealed record PahoMessage(string Topic, string Payload, bool Retain);

/// <summary>
/// Runs paho_subscriber.py with the system python (/usr/bin/python3, which has paho-mqtt 1.x) and turns its
/// stdout into messages the test can wait for, with timeouts instead of sleeps.
/// </summary>
public sealed class PahoSubscriber : IAsyncDisposable
{
    public const string Python = "/usr/bin/python3";
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly List<string> _stderr = [];
    private readonly Queue<string> _backlog = new();

    private PahoSubscriber(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _lines.Writer.TryComplete();
            }
            else
            {
                _lines.Writer.TryWrite(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (_stderr)
                {
                    _stderr.Add(e.Data);
                }
            }
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>Null when paho is usable; otherwise why not.</summary>
    public static string? Unavailable()
    {
        if (!File.Exists(Python))
        {
            return $"{Python} not found";
        }

        using var check = Process.Start(new ProcessStartInfo(Python, ["-c", "import paho.mqtt.client"]) { RedirectStandardError = true, UseShellExecute = false })!;
        check.WaitForExit(20_000);
        return check.ExitCode == 0 ? null : $"{Python} has no paho-mqtt (sudo apt-get install python3-paho-mqtt)";
    }

    /// <summary>Skips the test when paho is missing, except in CI (CI=true), where that is a failure.</summary>
    public static void SkipIfUnavailable()
    {
        string? reason = Unavailable();
        if (reason is null)
        {
            return;
        }

        Assert.False(string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase), "CI=true but " + reason);
        Skip.If(true, reason);
    }

    public static async Task<PahoSubscriber> StartAsync(int port, params string[] filters)
    {
        string script = Path.Combine(AppContext.BaseDirectory, "EndToEnd", "paho_subscriber.py");
        var info = new ProcessStartInfo(Python)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("-u");
        info.ArgumentList.Add(script);
        info.ArgumentList.Add("127.0.0.1");
        info.ArgumentList.Add(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (string filter in filters)
        {
            info.ArgumentList.Add(filter);
        }

        var subscriber = new PahoSubscriber(Process.Start(info)!);
        // Retained messages may be printed before READY: keep them for WaitForAsync.
        await subscriber.NextLineAsync(line => line == "READY", keepOthers: true);
        return subscriber;
    }

    /// <summary>Waits for the first message matching <paramref name="match"/> (earlier ones are consumed).</summary>
    public async Task<PahoMessage> WaitForAsync(Func<PahoMessage, bool> match, TimeSpan? timeout = null)
    {
        string line = await NextLineAsync(l => Parse(l) is { } m && match(m), timeout);
        return Parse(line)!;
    }

    private async Task<string> NextLineAsync(Func<string, bool> match, TimeSpan? timeout = null, bool keepOthers = false)
    {
        while (!keepOthers && _backlog.Count > 0)
        {
            string early = _backlog.Dequeue();
            if (match(early))
            {
                return early;
            }
        }

        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(15));
        try
        {
            while (true)
            {
                string line = await _lines.Reader.ReadAsync(cts.Token);
                if (line.StartsWith("ERROR", StringComparison.Ordinal))
                {
                    throw new InvalidOperationException("paho: " + line);
                }

                if (match(line))
                {
                    return line;
                }

                if (keepOthers)
                {
                    _backlog.Enqueue(line);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
        {
            string stderr;
            lock (_stderr)
            {
                stderr = string.Join("\n", _stderr);
            }

            throw new TimeoutException("paho subscriber: expected line not seen. stderr:\n" + stderr);
        }
    }

    private static PahoMessage? Parse(string line)
    {
        string[] parts = line.Split('\t', 4);
        return parts.Length == 4 && parts[0] == "MSG" ? new PahoMessage(parts[2], parts[3], parts[1] == "1") : null;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
    }
}
