using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Xunit.Abstractions;

namespace SensorNode.Broker.Tests.Interop;

/// <summary>
/// Finds the third-party MQTT clients the interop tests drive (mosquitto-clients, paho-mqtt for the system
/// Python). A missing tool skips the test visibly, except on CI (CI=true) where it fails and names the apt
/// package to install: an interop suite that silently skips everything on CI would prove nothing.
/// </summary>
public static class ExternalTool
{
    /// <summary>The default hard limit on how long any external process may live.</summary>
    public static readonly TimeSpan DefaultProcessTimeout = TimeSpan.FromSeconds(20);

    private const string SystemPython = "/usr/bin/python3";

    private static readonly Lazy<string?> MosquittoPubPath = new(() => FindOnPath("mosquitto_pub"));
    private static readonly Lazy<string?> MosquittoSubPath = new(() => FindOnPath("mosquitto_sub"));
    private static readonly Lazy<string?> ClangPath = new(() => FindOnPath("clang"));
    private static readonly Lazy<string?> MosquittoPasswdPath = new(() => FindOnPath("mosquitto_passwd"));
    private static readonly Lazy<(string? Path, string Problem)> PahoPython = new(ProbePahoPython);

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Path of mosquitto_pub, or skips (fails on CI) the calling test.</summary>
    public static string RequireMosquittoPub() =>
        MosquittoPubPath.Value ?? Missing("mosquitto_pub was not found on PATH", "mosquitto-clients");

    /// <summary>Path of mosquitto_sub, or skips (fails on CI) the calling test.</summary>
    public static string RequireMosquittoSub() =>
        MosquittoSubPath.Value ?? Missing("mosquitto_sub was not found on PATH", "mosquitto-clients");

    /// <summary>Path of mosquitto_passwd (in Debian's mosquitto package), or skips (fails on CI) the calling test.</summary>
    public static string RequireMosquittoPasswd() =>
        MosquittoPasswdPath.Value ?? Missing("mosquitto_passwd was not found on PATH", "mosquitto");

    /// <summary>Path of clang, which Native AOT publishing links with, or skips (fails on CI) the calling test.</summary>
    public static string RequireClang() =>
        ClangPath.Value ?? Missing("clang was not found on PATH (Native AOT links with it; it also needs zlib1g-dev)", "clang");

    /// <summary>
    /// A Python interpreter that can <c>import paho.mqtt.client</c>: the system <c>/usr/bin/python3</c> (where
    /// apt's python3-paho-mqtt installs), or <c>python3</c> on PATH only when there is no system Python.
    /// </summary>
    public static string RequirePahoPython()
    {
        (string? path, string problem) = PahoPython.Value;
        return path ?? Missing(problem, "python3-paho-mqtt");
    }

    /// <summary>Full path of one of the Python scripts copied next to the test assembly.</summary>
    public static string Script(string fileName)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Interop", fileName);
        Assert.True(File.Exists(path), $"interop script {path} is missing from the test output directory (the csproj copies Interop/*.py)");
        return path;
    }

    /// <summary>Runs a process to completion; kills it and fails the test when it overruns <paramref name="timeout"/>.</summary>
    public static async Task<ProcessResult> RunAsync(string fileName, IEnumerable<string> arguments, ITestOutputHelper? log = null, TimeSpan? timeout = null, IEnumerable<string>? standardInputLines = null)
    {
        await using ExternalProcess process = ExternalProcess.Start(fileName, arguments, log, timeout, standardInputLines);
        int exitCode = await process.WaitForExitAsync(timeout);
        return new ProcessResult(exitCode, process.OutputLines, process.ErrorText, process.Describe());
    }

    private static string Missing(string problem, string aptPackage)
    {
        string message = $"{problem}. Install the apt package {aptPackage} (apt-get install -y {aptPackage}).";
        if (IsCi)
        {
            Assert.Fail(message + " CI=true, so a missing interop tool fails the test instead of skipping it.");
        }

        Skip.If(true, message + " Skipped because CI is not 'true'.");
        throw new UnreachableException();
    }

    private static string LastLine(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "no output";

    private static string? FindOnPath(string name)
    {
        string[] names = OperatingSystem.IsWindows() ? [name + ".exe", name] : [name];
        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            foreach (string candidate in names)
            {
                string path = Path.Combine(directory, candidate);
                if (File.Exists(path))
                {
                    return path;
                }
            }
        }

        return null;
    }

    private static (string? Path, string Problem) ProbePahoPython()
    {
        // python3 on PATH may be a pyenv (or venv) interpreter without apt's packages: prefer the system one.
        string? python = File.Exists(SystemPython) ? SystemPython : FindOnPath("python3");
        if (python is null)
        {
            return (null, "no Python 3 interpreter found (neither /usr/bin/python3 nor python3 on PATH)");
        }

        // Synchronous on purpose: this runs inside a Lazy that tests block on, under xunit's synchronization context.
        try
        {
            var info = new ProcessStartInfo(python)
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                CreateNoWindow = true,
            };
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add("import paho.mqtt.client");
            info.Environment.Remove("PYTHONHOME");
            using var probe = new Process { StartInfo = info };
            probe.Start();
            probe.StandardInput.Close();
            Task<string> stderr = probe.StandardError.ReadToEndAsync();
            Task<string> stdout = probe.StandardOutput.ReadToEndAsync();
            if (!probe.WaitForExit(15_000))
            {
                probe.Kill(entireProcessTree: false);
                probe.WaitForExit(5_000);
                return (null, $"{python} -c 'import paho.mqtt.client' did not finish within 15 s");
            }

            probe.WaitForExit();
            return probe.ExitCode == 0
                ? (python, string.Empty)
                : (null, $"{python} cannot import paho.mqtt.client ({LastLine(stderr.Result + "\n" + stdout.Result)})");
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException or InvalidOperationException)
        {
            return (null, $"{python} could not be run to check for paho-mqtt: {ex.Message}");
        }
    }
}

/// <summary>What a process that ran to completion left: exit code, stdout lines, stderr, and a description for messages.</summary>
public sealed record ProcessResult(int ExitCode, IReadOnlyList<string> OutputLines, string ErrorText, string Description)
{
    public void AssertSuccess()
    {
        Assert.True(ExitCode == 0, $"expected exit code 0, got {ExitCode}.\n{Description}");
    }
}

/// <summary>
/// One external process started by a test, with stdout read line by line as it comes (so a test can wait for
/// a READY line instead of sleeping) and stderr captured. Every process has a hard timeout after which it is
/// killed; disposing kills it if it is still running. Only this Process object is ever killed: never by name.
/// </summary>
public sealed class ExternalProcess : IDisposable, IAsyncDisposable
{
    private readonly Process _process;
    private readonly ITestOutputHelper? _log;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly List<string> _allLines = [];
    private readonly StringBuilder _stderr = new();
    private readonly Task _stdoutPump;
    private readonly Task _stderrPump;
    private readonly CancellationTokenSource _hardTimeout;
    private readonly CancellationTokenRegistration _hardTimeoutKill;
    private volatile bool _timedOut;
    private volatile bool _killedByTest;
    private bool _disposed;

    private ExternalProcess(Process process, string commandLine, ITestOutputHelper? log, TimeSpan hardTimeout)
    {
        _process = process;
        _log = log;
        CommandLine = commandLine;
        _stdoutPump = Task.Run(PumpStdoutAsync);
        _stderrPump = Task.Run(PumpStderrAsync);
        _hardTimeout = new CancellationTokenSource(hardTimeout);
        _hardTimeoutKill = _hardTimeout.Token.Register(() =>
        {
            _timedOut = true;
            KillProcess();
        });
    }

    public string CommandLine { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>True when the hard timeout killed the process.</summary>
    public bool TimedOut => _timedOut;

    /// <summary>Every stdout line so far, whether or not <see cref="WaitForLineAsync"/> consumed it.</summary>
    public IReadOnlyList<string> OutputLines
    {
        get
        {
            lock (_allLines)
            {
                return [.. _allLines];
            }
        }
    }

    public string ErrorText
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public static ExternalProcess Start(string fileName, IEnumerable<string> arguments, ITestOutputHelper? log = null, TimeSpan? hardTimeout = null, IEnumerable<string>? standardInputLines = null)
    {
        var info = new ProcessStartInfo(fileName)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            CreateNoWindow = true,
        };
        foreach (string argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        // Python must not buffer stdout (the scripts flush anyway) nor pick up another interpreter's home.
        info.Environment["PYTHONUNBUFFERED"] = "1";
        info.Environment.Remove("PYTHONHOME");

        string commandLine = string.Join(' ', new[] { fileName }.Concat(info.ArgumentList.Select(Quote)));
        log?.WriteLine($"$ {commandLine}");
        var process = new Process { StartInfo = info };
        process.Start();
        var started = new ExternalProcess(process, commandLine, log, hardTimeout ?? ExternalTool.DefaultProcessTimeout);

        // Tools that read stdin get their lines then EOF; the others get EOF at once (CI has no stdin either).
        try
        {
            if (standardInputLines is not null)
            {
                foreach (string line in standardInputLines)
                {
                    process.StandardInput.Write(line + "\n");
                }
            }

            process.StandardInput.Close();
        }
        catch (IOException)
        {
            // The process exited before reading its input; its exit code and stderr tell why.
        }

        return started;
    }

    /// <summary>
    /// Reads stdout lines until one matches <paramref name="predicate"/> and returns it; fails the test with the
    /// process's output when none does within the timeout or the process ends first.
    /// </summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> predicate, string description, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestTimeout);
        try
        {
            while (await _lines.Reader.WaitToReadAsync(cts.Token))
            {
                while (_lines.Reader.TryRead(out string? line))
                {
                    if (predicate(line))
                    {
                        return line;
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"timed out waiting for {description}.\n{Describe()}");
        }

        await WaitForPumpsAsync();
        Assert.Fail($"the process ended before printing {description}.\n{Describe()}");
        throw new UnreachableException();
    }

    /// <summary>Waits for the process to exit and returns its exit code; kills it and fails the test when it overruns.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestTimeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            KillProcess();
            await WaitForPumpsAsync();
            throw new TimeoutException($"process did not exit in time and was killed.\n{Describe()}");
        }

        await WaitForPumpsAsync();
        if (_timedOut)
        {
            throw new TimeoutException($"process hit its hard timeout and was killed.\n{Describe()}");
        }

        return _process.ExitCode;
    }

    /// <summary>Waits for exit and asserts exit code 0.</summary>
    public async Task AssertExitsCleanlyAsync(TimeSpan? timeout = null)
    {
        int exitCode = await WaitForExitAsync(timeout);
        Assert.True(exitCode == 0, $"expected exit code 0, got {exitCode}.\n{Describe()}");
    }

    /// <summary>Kills the process (SIGKILL on Unix: no chance to send DISCONNECT) and waits until it is gone.</summary>
    public async Task KillAsync()
    {
        _killedByTest = true;
        KillProcess();
        using var cts = new CancellationTokenSource(TestTimeout);
        await _process.WaitForExitAsync(cts.Token);
        await WaitForPumpsAsync();
    }

    /// <summary>Command line, exit state, stdout and stderr, for assertion messages.</summary>
    public string Describe()
    {
        string state = !_process.HasExited ? "still running"
            : _timedOut ? "killed by its hard timeout"
            : _killedByTest ? "killed by the test"
            : $"exit code {_process.ExitCode}";
        return $"command: {CommandLine}\nstate: {state}\nstdout:\n{string.Join('\n', OutputLines)}\nstderr:\n{ErrorText}";
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        KillProcess();
        try
        {
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }

        _hardTimeoutKill.Dispose();
        _hardTimeout.Dispose();
        _process.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        if (!_process.HasExited)
        {
            _killedByTest = true;
            KillProcess();
        }

        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
        {
            try
            {
                await _process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }

        await WaitForPumpsAsync();
        try
        {
            _log?.WriteLine(Describe());
        }
        catch (InvalidOperationException)
        {
            // The test's output helper is no longer accepting lines.
        }

        Dispose();
    }

    private static TimeSpan TestTimeout => TimeSpan.FromSeconds(15);

    private static string Quote(string argument) =>
        argument.Length > 0 && argument.All(c => char.IsAsciiLetterOrDigit(c) || "-_./:=@,%+".Contains(c)) ? argument : "'" + argument.Replace("'", "'\\''") + "'";

    private void KillProcess()
    {
        try
        {
            if (!_process.HasExited)
            {
                // Only this process: the tools start no children, and nothing is ever killed by name.
                _process.Kill(entireProcessTree: false);
            }
        }
        catch (InvalidOperationException)
        {
            // Already exited, or never started.
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // Exiting at this very moment.
        }
    }

    private async Task WaitForPumpsAsync()
    {
        // The pipes close when the process ends; a grandchild holding them open must not hang the test.
        await Task.WhenAny(Task.WhenAll(_stdoutPump, _stderrPump), Task.Delay(TimeSpan.FromSeconds(5)));
    }

    private async Task PumpStdoutAsync()
    {
        try
        {
            while (await _process.StandardOutput.ReadLineAsync() is { } line)
            {
                lock (_allLines)
                {
                    _allLines.Add(line);
                }

                _lines.Writer.TryWrite(line);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
        }
        finally
        {
            _lines.Writer.TryComplete();
        }
    }

    private async Task PumpStderrAsync()
    {
        try
        {
            while (await _process.StandardError.ReadLineAsync() is { } line)
            {
                lock (_stderr)
                {
                    _stderr.Append(line).Append('\n');
                }
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
        }
    }
}
