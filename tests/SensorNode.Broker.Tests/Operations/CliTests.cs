using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Hosting;
using SensorNode.Broker.Tests.Infrastructure;
using SensorNode.Broker.Tests.Interop;
using Xunit.Abstractions;

namespace SensorNode.Broker.Tests.Operations;

/// <summary>The sensornode-broker commands run as separate processes, as a user types them.</summary>
public sealed class CliTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromSeconds(30);
    private readonly string _directory = Directory.CreateTempSubdirectory("sensornode-cli-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private Task<ProcessResult> RunAsync(params string[] arguments) =>
        ExternalTool.RunAsync("dotnet", [BrokerProcess.ExecutablePath, .. arguments], output, ProcessTimeout);

    private ExternalProcess Start(params string[] arguments) =>
        ExternalProcess.Start("dotnet", [BrokerProcess.ExecutablePath, .. arguments], output, ProcessTimeout);

    [Fact]
    public async Task Version_prints_the_version()
    {
        ProcessResult result = await RunAsync("--version");
        result.AssertSuccess();
        Assert.Matches(@"^\d+\.\d+\.\d+", Assert.Single(result.OutputLines));
    }

    [Theory]
    [InlineData("run")]
    [InlineData("check-config")]
    [InlineData("sub")]
    [InlineData("pub")]
    public async Task Every_command_has_help(string command)
    {
        ProcessResult result = await RunAsync(command, "--help");
        result.AssertSuccess();
        Assert.Contains(result.OutputLines, l => l.Contains("Usage:", StringComparison.Ordinal));
        Assert.Contains(result.OutputLines, l => l.Contains($"sensornode-broker {command}", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Root_help_lists_the_commands()
    {
        ProcessResult result = await RunAsync("--help");
        result.AssertSuccess();
        string text = string.Join('\n', result.OutputLines);
        foreach (string command in new[] { "run", "check-config", "sub", "pub", "--config", "--version" })
        {
            Assert.Contains(command, text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Check_config_accepts_a_good_file_and_lists_the_listeners()
    {
        string path = Path.Combine(_directory, "broker.json");
        await File.WriteAllTextAsync(path, """{ "listeners": [ { "kind": "mqtt", "port": 1884 }, { "kind": "websocket", "port": 8081 } ] }""");
        ProcessResult result = await RunAsync("check-config", "--config", path);
        result.AssertSuccess();
        Assert.Contains(result.OutputLines, l => l.Contains("configuration OK", StringComparison.Ordinal) && l.Contains(path, StringComparison.Ordinal));
        Assert.Contains(result.OutputLines, l => l.Contains("mqtt://localhost:1884", StringComparison.Ordinal));
        Assert.Contains(result.OutputLines, l => l.Contains("ws://localhost:8081/mqtt", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Check_config_refuses_a_bad_file_naming_file_line_and_key()
    {
        string path = Path.Combine(_directory, "broker.json");
        await File.WriteAllTextAsync(path, "{\n  // comment\n  \"listeners\": [ { \"kind\": \"mqtt\", \"port\": \"eighty\" } ]\n}\n");
        foreach (string[] arguments in new[] { new[] { "check-config", "--config", path }, ["--check-config", "-c", path], ["run", "--config", path] })
        {
            ProcessResult result = await RunAsync(arguments);
            Assert.Equal(2, result.ExitCode);
            Assert.Contains($"{path}:3: listeners[0].port: 'eighty' is not a whole number", result.ErrorText, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// The files the security options name are read by `check-config` as by `run`: a mistyped users file stops both
    /// (it used to mean "no users" in silence), an ACL line that does not parse is named, client certificates without
    /// a CA are refused, and an unusable data directory is a message and exit 2, not a stack trace.
    /// </summary>
    [Fact]
    public async Task Check_config_and_run_refuse_missing_or_broken_security_files_and_an_unusable_data_directory()
    {
        string users = Path.Combine(_directory, "no-such-users");
        string acl = Path.Combine(_directory, "acl");
        await File.WriteAllTextAsync(acl, "user alice\ntopic read sensor/#\nfrobnicate sensor/x\n");
        foreach (string command in new[] { "check-config", "run" })
        {
            ProcessResult result = await RunAsync(command, "--no-persistence", "--port", "0", "--password-file", users, "--acl-file", acl, "--tls-port", "0", "--tls-cert", Path.Combine(_directory, "cert.pem"), "--tls-client-certs", "Required");
            Assert.Equal(2, result.ExitCode);
            Assert.Contains($"{users}: security.passwordFile (--password-file):", result.ErrorText, StringComparison.Ordinal);
            Assert.Contains($"{acl}:3: security.aclFile (--acl-file):", result.ErrorText, StringComparison.Ordinal);
            Assert.Contains("--tls-client-ca: client certificates are Required but no CA file", result.ErrorText, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", result.ErrorText, StringComparison.Ordinal);
        }

        string notADirectory = Path.Combine(_directory, "a-file");
        await File.WriteAllTextAsync(notADirectory, "x");
        ProcessResult dataDir = await RunAsync("--port", "0", "--data-dir", notADirectory);
        Assert.Equal(2, dataDir.ExitCode);
        Assert.Contains("cannot start", dataDir.ErrorText, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", dataDir.ErrorText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_refuses_a_missing_certificate_before_listening()
    {
        string path = Path.Combine(_directory, "broker.json");
        string key = Path.Combine(_directory, "key.pem");
        await File.WriteAllTextAsync(key, "x");
        await File.WriteAllTextAsync(path, $$"""{ "listeners": [ { "kind": "mqtts", "port": 0, "certificate": "nope.pem", "privateKey": "key.pem" } ] }""");
        ProcessResult result = await RunAsync("--config", path, "--no-persistence");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"{path}:1: listeners[0].certificate: certificate file '{Path.Combine(_directory, "nope.pem")}' does not exist", result.ErrorText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_environment_is_checked_too()
    {
        var info = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        info.ArgumentList.Add(BrokerProcess.ExecutablePath);
        info.ArgumentList.Add("check-config");
        info.Environment["SENSORNODE_DURABILITY"] = "Sometimes";
        using var process = System.Diagnostics.Process.Start(info)!;
        string error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.Equal(2, process.ExitCode);
        Assert.Contains("environment variable SENSORNODE_DURABILITY: durability: 'Sometimes' is not one of Full, Normal", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pub_and_sub_round_trip_with_qos_and_retain()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        string port = broker.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

        // A retained reading first: a later subscriber sees it at once with retain=1.
        (await RunAsync("pub", "-H", "127.0.0.1", "-p", port, "-t", "sensor/temperature/kitchen", "-m", "21.4", "-q", "1", "-r")).AssertSuccess();

        await using ExternalProcess sub = Start("sub", "-H", "127.0.0.1", "-p", port, "-i", "cli-sub", "-q", "2", "-C", "3", "-W", "20", "sensor/#");
        string retained = await sub.WaitForLineAsync(l => l.StartsWith("sensor/temperature/kitchen", StringComparison.Ordinal), "the retained message");
        Assert.Equal("sensor/temperature/kitchen qos=1 retain=1 21.4", retained);
        await BrokerWait.ForSubscriptionAsync(broker, "cli-sub", "sensor/humidity/kitchen", sub);

        (await RunAsync("pub", "-p", port, "-H", "127.0.0.1", "-t", "sensor/humidity/kitchen", "-m", "45.0", "-q", "2")).AssertSuccess();
        (await RunAsync("pub", "-p", port, "-H", "127.0.0.1", "-t", "sensor/raw/kitchen", "-f", WriteBytes([0x01, 0xff]))).AssertSuccess();
        await sub.AssertExitsCleanlyAsync();
        Assert.Equal(
            ["sensor/temperature/kitchen qos=1 retain=1 21.4", "sensor/humidity/kitchen qos=2 retain=0 45.0", "sensor/raw/kitchen qos=0 retain=0 0x01ff"],
            sub.OutputLines);
    }

    [Fact]
    public async Task Sub_table_shows_the_latest_value_per_room()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        string port = broker.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        foreach ((string topic, string value) in new[] { ("sensor/temperature/kitchen", "20.0"), ("sensor/humidity/kitchen", "40.0"), ("sensor/temperature/attic", "15.5"), ("sensor/temperature/kitchen", "21.5") })
        {
            (await RunAsync("pub", "-H", "127.0.0.1", "-p", port, "-t", topic, "-m", value, "-r", "-q", "1")).AssertSuccess();
        }

        // Retained: one message per topic, the latest (kitchen temperature 21.5).
        ProcessResult result = await RunAsync("sub", "-H", "127.0.0.1", "-p", port, "--table", "-C", "3", "-W", "20", "sensor/+/+");
        result.AssertSuccess();
        string[] lastTable = [.. result.OutputLines.Reverse().SkipWhile(string.IsNullOrEmpty).TakeWhile(l => l.Length > 0).Reverse()];
        Assert.Matches(@"^room\s+temperature\s+humidity\s+updated", lastTable[0]);
        Assert.Matches(@"^attic\s+15\.5\s+-\s+\d\d:\d\d:\d\d", lastTable[2]);
        Assert.Matches(@"^kitchen\s+21\.5\s+40\.0\s+\d\d:\d\d:\d\d", lastTable[3]);
    }

    [Fact]
    public async Task Sub_times_out_with_exit_code_27_and_pub_reports_a_refused_connection()
    {
        await using BrokerServer broker = await TestBroker.StartAsync();
        string port = broker.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        ProcessResult timedOut = await RunAsync("sub", "-H", "127.0.0.1", "-p", port, "-W", "1", "-C", "1", "nothing/here");
        Assert.Equal(27, timedOut.ExitCode);

        // A filter that is not well formed is refused before connecting, with the reason, as mosquitto_sub does.
        ProcessResult badFilter = await RunAsync("sub", "-H", "127.0.0.1", "-p", port, "-W", "5", "sensor/#/kitchen");
        Assert.Equal(1, badFilter.ExitCode);
        Assert.Contains("'sensor/#/kitchen' is not a valid topic filter", badFilter.ErrorText, StringComparison.Ordinal);

        await broker.DisposeAsync();
        ProcessResult refused = await RunAsync("pub", "-H", "127.0.0.1", "-p", port, "-t", "a", "-m", "b");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("cannot connect to 127.0.0.1:" + port, refused.ErrorText, StringComparison.Ordinal);

        ProcessResult noPayload = await RunAsync("pub", "-t", "a");
        Assert.NotEqual(0, noPayload.ExitCode);
        Assert.Contains("give exactly one of --message, --file or --null-message", noPayload.ErrorText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_with_a_configuration_file_serves_every_listener_and_stops_cleanly_on_sigterm()
    {
        string path = Path.Combine(_directory, "broker.json");
        await File.WriteAllTextAsync(path, $$"""
            // as an operator writes it
            {
              "dataDirectory": "data",
              "sysIntervalSeconds": 1,
              "listeners": [
                { "kind": "mqtt", "bind": "127.0.0.1", "port": 0 },
                { "kind": "websocket", "bind": "127.0.0.1", "port": 0 },
                { "kind": "http", "bind": "127.0.0.1", "port": 0 },
              ],
            }
            """);
        await using BrokerProcess broker = BrokerProcess.Start("--config", path);
        int mqttPort = await broker.WaitForPortAsync(TimeSpan.FromSeconds(30));
        await BrokerWait.UntilAsync(() => broker.Output.Any(l => l.Contains("serving /metrics", StringComparison.Ordinal)), "the HTTP listener's log line");
        int httpPort = int.Parse(System.Text.RegularExpressions.Regex.Match(string.Join('\n', broker.Output), @"serving /metrics and /health on http://127\.0\.0\.1:(\d+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        await broker.WaitForLineAsync(l => l.Contains("listening for MQTT over WebSocket on ws://127.0.0.1:", StringComparison.Ordinal), TimeSpan.FromSeconds(10));
        Assert.Contains(broker.Output, l => l.Contains("configuration: " + path, StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(_directory, "data", "sensornode.db")), "dataDirectory is relative to the file");

        (await RunAsync("pub", "-H", "127.0.0.1", "-p", mqttPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "-t", "sensor/temperature/hall", "-m", "19.0", "-q", "1")).AssertSuccess();
        using var http = new HttpClient();
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync($"http://127.0.0.1:{httpPort}/health")).StatusCode);
        string metrics = await http.GetStringAsync($"http://127.0.0.1:{httpPort}/metrics");
        Assert.Contains("sensornode_messages_received_total 1\n", metrics, StringComparison.Ordinal);

        broker.Terminate();
        Assert.Equal(0, await broker.WaitForExitAsync(TimeSpan.FromSeconds(20)));
    }

    private string WriteBytes(byte[] bytes)
    {
        string path = Path.Combine(_directory, Guid.NewGuid().ToString("N"));
        File.WriteAllBytes(path, bytes);
        return path;
    }
}
