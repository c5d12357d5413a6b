using System.Diagnostics;
using System.Text.RegularExpressions;
using MQTTnet;
using MQTTnet.Protocol;
using SensorNode.Broker.Tests.Infrastructure;
using SensorNode.Broker.Tests.Interop;
using Xunit.Abstractions;

namespace SensorNode.Broker.Tests.Operations;

/// <summary>
/// A Raspberry Pi without a Pi: the linux-arm64 self-contained single-file publish (the Pi's publish profile, built on
/// this x64 machine) runs under Debian's qemu-user (<c>qemu-aarch64 -L /</c> with the arm64 multiarch libraries) and a
/// normal x64 client exchanges QoS 1 messages with it, through the SQLite store (native arm64 libe_sqlite3.so).
/// Skipped visibly without qemu-user or the arm64 libraries; failed instead under CI=true (.ci/run installs them).
/// </summary>
public sealed partial class QemuArm64Tests(ITestOutputHelper output)
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);
    private static readonly SemaphoreSlim PublishGate = new(1, 1);
    private static string? s_published;

    [SkippableFact]
    public async Task The_arm64_publish_runs_under_qemu_and_exchanges_qos1_messages()
    {
        string qemu = RequireQemu();
        string executable = await PublishOnceAsync(output);
        string dataDirectory = TestBroker.NewDataDirectory();

        var info = new ProcessStartInfo(qemu) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in new[] { "-L", "/", executable, "--port", "0", "--bind", "127.0.0.1", "--data-dir", dataDirectory, "--sys-interval", "1" })
        {
            info.ArgumentList.Add(argument);
        }

        // The JIT under user-mode emulation: W^X double mapping is slow or unsupported there.
        info.Environment["DOTNET_EnableWriteXorExecute"] = "0";
        using var process = new Process { StartInfo = info };
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var port = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnLine(string? line)
        {
            if (line is null)
            {
                return;
            }

            lines.Enqueue(line);
            output.WriteLine("[arm64] " + line);
            if (Listening().Match(line) is { Success: true } match)
            {
                port.TrySetResult(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        var started = Stopwatch.StartNew();
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            Task first = await Task.WhenAny(port.Task, process.WaitForExitAsync(), Task.Delay(StartTimeout));
            Assert.True(first == port.Task, $"the arm64 broker did not start under qemu within {StartTimeout}:\n{string.Join('\n', lines)}");
            int brokerPort = await port.Task;
            output.WriteLine($"arm64 broker listening after {started.Elapsed.TotalSeconds:F1} s under emulation");

            var timeout = TimeSpan.FromSeconds(60);
            await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(MqttNetClient.Options(brokerPort, "x64-sub").WithTimeout(timeout).Build());
            await subscriber.SubscribeAsync("pi/#", MqttQualityOfServiceLevel.AtLeastOnce);
            await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(MqttNetClient.Options(brokerPort, "x64-pub").WithTimeout(timeout).Build());
            for (int i = 0; i < 5; i++)
            {
                MqttClientPublishResult result = await publisher.Client.PublishAsync(new MqttApplicationMessageBuilder()
                    .WithTopic($"pi/temperature/room{i}").WithPayload($"2{i}.5").WithRetainFlag(i == 0)
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
                Assert.True(result.IsSuccess, $"PUBACK {result.ReasonCode}");
            }

            for (int i = 0; i < 5; i++)
            {
                ReceivedMessage message = await subscriber.NextAsync(timeout);
                Assert.Equal(($"pi/temperature/room{i}", $"2{i}.5", MqttQualityOfServiceLevel.AtLeastOnce), (message.Topic, message.Payload, message.Qos));
            }

            // The retained one is in the arm64 broker's SQLite database, and $SYS runs there too.
            await using MqttNetClient late = await MqttNetClient.ConnectAsync(MqttNetClient.Options(brokerPort, "x64-late").WithTimeout(timeout).Build());
            await late.SubscribeAsync("pi/temperature/room0", MqttQualityOfServiceLevel.AtLeastOnce);
            ReceivedMessage retained = await late.NextAsync(timeout);
            Assert.True(retained.Retain);
            Assert.True(File.Exists(Path.Combine(dataDirectory, "sensornode.db")));
            await late.SubscribeAsync("$SYS/broker/version");
            Assert.StartsWith("sensornode-broker ", (await late.NextAsync(timeout)).Payload);

            // SIGTERM: a graceful stop, exit code 0.
            Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
            using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(exit.Token);
            Assert.Equal(0, process.ExitCode);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
                await process.WaitForExitAsync();
            }
        }
    }

    /// <summary>qemu-aarch64 and the arm64 loader and libraries, or skips (fails on CI).</summary>
    private static string RequireQemu()
    {
        string? qemu = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "qemu-aarch64")).FirstOrDefault(File.Exists);
        string[] libraries = ["/lib/ld-linux-aarch64.so.1", "/usr/lib/aarch64-linux-gnu/libstdc++.so.6", "/usr/lib/aarch64-linux-gnu/libssl.so.3", "/usr/lib/aarch64-linux-gnu/libz.so.1"];
        string? problem = !OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.OSArchitecture != System.Runtime.InteropServices.Architecture.X64
                ? "the qemu test runs on x64 Linux"
            : qemu is null ? "qemu-aarch64 was not found (apt-get install qemu-user)"
            : libraries.FirstOrDefault(l => !File.Exists(l)) is { } missing
                ? $"{missing} is missing (dpkg --add-architecture arm64; apt-get install libc6:arm64 libstdc++6:arm64 libicu72:arm64 libssl3:arm64 zlib1g:arm64)"
            : null;
        if (problem is not null)
        {
            Assert.False(ExternalTool.IsCi && OperatingSystem.IsLinux(), problem + ". CI=true, so the Raspberry Pi emulation test fails instead of skipping.");
            Skip.If(true, problem + ". Skipped because CI is not 'true'.");
        }

        return qemu!;
    }

    /// <summary>
    /// dotnet publish with the linux-arm64 profile, once per test run, into a directory of its own (the profile's
    /// settings: self-contained, single file). Uses what .ci/run published when SENSORNODE_ARM64_PUBLISH names it.
    /// </summary>
    private static async Task<string> PublishOnceAsync(ITestOutputHelper output)
    {
        await PublishGate.WaitAsync();
        try
        {
            if (s_published is not null)
            {
                return s_published;
            }

            string root = ConfigurationTests.RepositoryRoot();
            string publishDirectory = Path.Combine(Path.GetTempPath(), "sensornode-arm64-" + Environment.ProcessId);
            var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = root };
            foreach (string argument in new[] { "publish", Path.Combine(root, "broker", "SensorNode.Broker.Host"), "-p:PublishProfile=linux-arm64", $"-p:PublishDir={publishDirectory}/", "-nodeReuse:false", "-v", "q" })
            {
                info.ArgumentList.Add(argument);
            }

            // Not the test host's MSBuild settings.
            foreach (string name in info.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || k.StartsWith("VSTEST", StringComparison.OrdinalIgnoreCase)).ToList())
            {
                info.Environment.Remove(name);
            }

            var clock = Stopwatch.StartNew();
            using Process process = Process.Start(info)!;
            Task<string> stdout = process.StandardOutput.ReadToEndAsync();
            Task<string> stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(8));
            await process.WaitForExitAsync(timeout.Token);
            output.WriteLine($"dotnet publish -p:PublishProfile=linux-arm64: exit {process.ExitCode} after {clock.Elapsed.TotalSeconds:F0} s");
            string executable = Path.Combine(publishDirectory, "sensornode-broker");
            Assert.True(process.ExitCode == 0 && File.Exists(executable), $"publish failed:\n{await stdout}\n{await stderr}");
            Assert.True(File.Exists(Path.Combine(publishDirectory, "libe_sqlite3.so")), "libe_sqlite3.so (arm64) must be beside the executable");
            s_published = executable;
            return executable;
        }
        finally
        {
            PublishGate.Release();
        }
    }

    [GeneratedRegex(@"listening for MQTT on 127\.0\.0\.1:(\d+)")]
    private static partial Regex Listening();
}
