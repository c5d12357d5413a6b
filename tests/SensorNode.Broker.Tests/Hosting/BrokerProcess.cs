using System.Diagnostics;
using System.Reflection;
using System.Text.RegularExpressions;

namespace SensorNode.Broker.Tests.Hosting;

/// <summary>The real `sensornode-broker` executable run as a separate process, as a user runs it.</summary>
public sealed partial class BrokerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly TaskCompletionSource<int> _port = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _output = new();

    private BrokerProcess(Process process)
    {
        _process = process;
    }

    public static string ExecutablePath =>
        typeof(BrokerProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "BrokerExecutable").Value!;

    public int Id => _process.Id;

    public IEnumerable<string> Output => _output;

    private readonly List<(Func<string, bool> Matches, TaskCompletionSource Seen)> _watchers = [];

    public bool HasExited => _process.HasExited;

    public static BrokerProcess Start(params string[] arguments) => StartProgram("dotnet", [ExecutablePath, .. arguments]);

    /// <summary>Starts a published broker executable (single-file or Native AOT) rather than the built assembly.</summary>
    public static BrokerProcess StartExecutable(string executable, params string[] arguments) => StartProgram(executable, arguments);

    private static BrokerProcess StartProgram(string program, string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var broker = new BrokerProcess(process);
        process.OutputDataReceived += (_, e) => broker.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => broker.OnLine(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return broker;
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        lock (_watchers)
        {
            _watchers.RemoveAll(w => w.Matches(line) && w.Seen.TrySetResult());
        }

        Match match = ListeningLine().Match(line);
        if (match.Success)
        {
            _port.TrySetResult(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Waits for the "listening for MQTT on 127.0.0.1:PORT" log line and returns the port.</summary>
    public async Task<int> WaitForPortAsync(TimeSpan timeout)
    {
        Task finished = await Task.WhenAny(_port.Task, _process.WaitForExitAsync(), Task.Delay(timeout));
        if (finished != _port.Task)
        {
            throw new TimeoutException("broker did not report its port; output:\n" + string.Join('\n', _output));
        }

        return await _port.Task;
    }

    /// <summary>Waits until a line of output matches <paramref name="matches"/> (one already printed counts).</summary>
    public async Task WaitForLineAsync(Func<string, bool> matches, TimeSpan timeout)
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_watchers)
        {
            if (_output.Any(matches))
            {
                return;
            }

            _watchers.Add((matches, seen));
        }

        if (await Task.WhenAny(seen.Task, Task.Delay(timeout)) != seen.Task)
        {
            throw new TimeoutException("the expected line did not come; output:\n" + string.Join('\n', _output));
        }
    }

    /// <summary>Sends SIGTERM, as systemd or `kill` does.</summary>
    public void Terminate()
    {
        if (!OperatingSystem.IsWindows())
        {
            Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
        }
        else
        {
            _process.Kill();
        }
    }

    /// <summary>
    /// Sends SIGKILL to this process only (not a process tree, nothing found by name): it ends at once, with no
    /// chance to flush, commit or close anything, as after a crash or an OOM kill.
    /// </summary>
    public void Kill() => _process.Kill(entireProcessTree: false);

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    [GeneratedRegex(@"listening for MQTT on 127\.0\.0\.1:(\d+)")]
    private static partial Regex ListeningLine();
}
