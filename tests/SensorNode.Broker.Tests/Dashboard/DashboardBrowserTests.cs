using MQTTnet.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;
using SensorNode.Broker.Tests.Interop;
using SensorNode.Broker.Tests.Operations;
using Xunit.Abstractions;

namespace SensorNode.Broker.Tests.Dashboard;

/// <summary>
/// The dashboard in Debian's headless Chromium (/usr/bin/chromium, never a downloaded browser), driven by
/// playwright-core from npm (tests/dashboard-e2e): simulated nodes publish, the page shows their values, a node
/// killed without DISCONNECT turns its room offline, the chart has points. Screenshots go to TestResults/dashboard/.
/// </summary>
public sealed class DashboardBrowserTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(30);

    [SkippableFact]
    public async Task Simulated_nodes_appear_on_the_page_live_and_a_killed_node_turns_its_room_offline()
    {
        (string node, string script, string chromium) = RequireBrowser();
        await using DashboardHost host = await DashboardHost.StartAsync();

        // Two simulated nodes as the firmware publishes: status online (retained, LWT offline), then readings (retained).
        await using RawMqttClient kitchen = await ConnectNodeAsync(host, "kitchen");
        await using RawMqttClient office = await ConnectNodeAsync(host, "office");
        await using MqttNetClient readings = await MqttNetClient.ConnectAsync(host.MqttPort, "readings");
        await readings.PublishAsync("sensor/temperature/kitchen", "21.0", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        await readings.PublishAsync("sensor/temperature/kitchen", "21.4", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        await readings.PublishAsync("sensor/humidity/kitchen", "45", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        await readings.PublishAsync("sensor/temperature/office", "19.8", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        await readings.PublishAsync("sensor/humidity/office", "51", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        await host.SettleAsync(d => d.Rooms.Snapshot(Broker.Security.AccessRules.AllowAll) is { Count: 2 } rooms
            && rooms.All(r => r.Online == true && r.Readings.Count == 2), "both rooms online with their readings");

        string screenshots = ScreenshotDirectory();
        await using ExternalProcess browser = ExternalProcess.Start(node, [script, $"http://127.0.0.1:{host.Server.HttpPort}/", screenshots], output, TimeSpan.FromSeconds(120));
        await browser.WaitForLineAsync(l => l == "VALUES-OK", "the published values on the page", StepTimeout);

        await readings.PublishAsync("sensor/temperature/kitchen", "22.9", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        office.Abort();
        string latency = await browser.WaitForLineAsync(l => l.StartsWith("LIVE-READING-MS ", StringComparison.Ordinal), "the live reading on the page", StepTimeout);
        await browser.WaitForLineAsync(l => l == "LIVE-OK", "the office shown offline", StepTimeout);
        string chart = await browser.WaitForLineAsync(l => l.StartsWith("CHART-OK", StringComparison.Ordinal), "a chart with points", StepTimeout);
        await browser.WaitForLineAsync(l => l == "DONE", "the screenshots", StepTimeout);
        await browser.AssertExitsCleanlyAsync(StepTimeout);
        output.WriteLine($"{latency}; {chart}; screenshots in {screenshots}");

        Assert.True(int.Parse(latency.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture) < 1000, $"the page showed the reading after {latency}");
        Assert.True(new FileInfo(Path.Combine(screenshots, "dashboard-desktop.png")).Length > 10_000);
        Assert.True(new FileInfo(Path.Combine(screenshots, "dashboard-phone.png")).Length > 10_000);
    }

    [SkippableFact]
    public async Task A_broker_that_requires_users_asks_for_a_login_and_shows_only_what_the_acl_allows()
    {
        (string node, string script, _) = RequireBrowser();
        string directory = TestBroker.NewDataDirectory();
        string users = Security.SecurityTestSupport.WriteUsers(directory, ("alice", "alice-pw"));
        string acl = Security.SecurityTestSupport.WriteAcl(directory, "user alice\ntopic read sensor/+/kitchen\n");
        await using DashboardHost host = await DashboardHost.StartAsync(o =>
        {
            o.Security.PasswordFile = users;
            o.Security.AclFile = acl;
            o.Security.AllowAnonymous = false;
            o.Security.FailedLoginDelay = TimeSpan.FromMilliseconds(10);
        });
        host.Server.Broker.Publish(Broker.Protocol.ApplicationMessage.Create("sensor/temperature/kitchen", "21.4"u8, 1, retain: true));
        host.Server.Broker.Publish(Broker.Protocol.ApplicationMessage.Create("sensor/temperature/office", "19.8"u8, 1, retain: true));
        await host.SettleAsync(d => d.Rooms.Snapshot(Broker.Security.AccessRules.AllowAll).Count == 2, "both rooms");

        string login = Path.Combine(Path.GetDirectoryName(script)!, "login.mjs");
        await using ExternalProcess browser = ExternalProcess.Start(node, [login, $"http://127.0.0.1:{host.Server.HttpPort}/", ScreenshotDirectory(), "alice", "alice-pw", "kitchen", "office"], output, TimeSpan.FromSeconds(120));
        await browser.WaitForLineAsync(l => l == "LOGIN-FORM", "the login form", StepTimeout);
        await browser.WaitForLineAsync(l => l == "LOGIN-REFUSED", "a wrong password refused", StepTimeout);
        string rooms = await browser.WaitForLineAsync(l => l.StartsWith("LOGIN-OK", StringComparison.Ordinal), "the dashboard after logging in", StepTimeout);
        await browser.WaitForLineAsync(l => l == "DONE", "logging out", StepTimeout);
        await browser.AssertExitsCleanlyAsync(StepTimeout);
        Assert.Equal("LOGIN-OK kitchen", rooms);
    }

    [SkippableFact]
    public async Task The_page_reconnects_by_itself_when_the_broker_restarts()
    {
        (string node, string script, _) = RequireBrowser();
        string data = TestBroker.NewDataDirectory();
        DashboardHost first = await DashboardHost.StartAsync(o => o.DataDirectory = data);
        int port = first.Server.HttpPort;
        ExternalProcess? browser = null;
        try
        {
            first.Server.Broker.Publish(Broker.Protocol.ApplicationMessage.Create("sensor/temperature/attic", "12.5"u8, 1, retain: true));
            await first.SettleAsync(d => d.Rooms.Snapshot(Broker.Security.AccessRules.AllowAll).Count == 1, "the attic");
            string reconnect = Path.Combine(Path.GetDirectoryName(script)!, "reconnect.mjs");
            browser = ExternalProcess.Start(node, [reconnect, $"http://127.0.0.1:{port}/", "attic", "12.5", "13.0"], output, TimeSpan.FromSeconds(120));
            await browser.WaitForLineAsync(l => l == "LIVE", "the page live", StepTimeout);
            await first.DisposeAsync();
            await browser.WaitForLineAsync(l => l == "LOST", "the page noticing the broker is gone", StepTimeout);

            await using DashboardHost second = await DashboardHost.StartAsync(o => o.DataDirectory = data, port);
            await second.SettleAsync(d => d.WatcherCount > 0, "the page to reconnect its event stream");
            second.Server.Broker.Publish(Broker.Protocol.ApplicationMessage.Create("sensor/temperature/attic", "13.0"u8, 1, retain: true));
            await browser.WaitForLineAsync(l => l == "RECONNECTED", "the page live again with the new value", StepTimeout);
            await browser.AssertExitsCleanlyAsync(StepTimeout);
        }
        finally
        {
            await first.DisposeAsync();
            if (browser is not null)
            {
                await browser.DisposeAsync();
            }
        }
    }

    [SkippableFact]
    public async Task The_firmware_simulators_nodes_show_on_the_page_and_go_offline_when_it_is_killed()
    {
        (string node, string script, _) = RequireBrowser();
        string simulator = typeof(DashboardBrowserTests).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>().Single(a => a.Key == "SimulatorExecutable").Value!;
        Assert.True(File.Exists(simulator), $"{simulator} is missing (built with the tests)");
        await using DashboardHost host = await DashboardHost.StartAsync();
        string[] rooms = ["kitchen", "office"];

        await using (ExternalProcess nodes = ExternalProcess.Start("dotnet", [simulator, "--port", host.MqttPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--nodes", "2", "--rooms", string.Join(',', rooms), "--interval", "1", "--quiet"], output, TimeSpan.FromSeconds(120)))
        {
            // Online with a recorded reading of each (the nodes publish a value when it changes), then killed: no DISCONNECT, the wills fire.
            await host.SettleAsync(d => rooms.All(room => d.History.Query(room, "temperature", DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddMinutes(1)).Count >= 1
                && d.Rooms.Snapshot(Broker.Security.AccessRules.AllowAll).Any(r => r.Room == room && r.Online == true && r.Readings.ContainsKey("humidity"))), "readings from both simulated nodes");
            await nodes.KillAsync();
        }

        await host.SettleAsync(d => d.Rooms.Snapshot(Broker.Security.AccessRules.AllowAll).Count(r => r.Online == false) == 2, "both rooms offline after the kill");
        string[] expected = [.. host.Dashboard.Rooms.Snapshot(Broker.Security.AccessRules.AllowAll).Select(r => string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{r.Room}={r.Readings["temperature"].Value}/{r.Readings["humidity"].Value}"))];
        string page = Path.Combine(Path.GetDirectoryName(script)!, "simulator.mjs");
        await using ExternalProcess browser = ExternalProcess.Start(node, [page, $"http://127.0.0.1:{host.Server.HttpPort}/", ScreenshotDirectory(), .. expected], output, TimeSpan.FromSeconds(120));
        await browser.WaitForLineAsync(l => l == "DONE", "both rooms with their last values, offline, with a chart", StepTimeout);
        await browser.AssertExitsCleanlyAsync(StepTimeout);
    }

    private static async Task<RawMqttClient> ConnectNodeAsync(DashboardHost host, string room)
    {
        var will = new WillMessage { Topic = $"sensor/status/{room}", Payload = "offline"u8.ToArray(), Qos = 1, Retain = true };
        RawMqttClient client = await RawMqttClient.ConnectMqttAsync(host.MqttPort, $"sensornode-{room}", will: will);
        host.Server.Broker.Publish(Broker.Protocol.ApplicationMessage.Create($"sensor/status/{room}", "online"u8, 1, retain: true));
        return client;
    }

    /// <summary>TestResults/dashboard/ at the repository root: kept after the run as the test's artifact.</summary>
    private static string ScreenshotDirectory()
    {
        string directory = Path.Combine(ConfigurationTests.RepositoryRoot(), "TestResults", "dashboard");
        Directory.CreateDirectory(directory);
        return directory;
    }

    /// <summary>node, the e2e script with playwright-core installed (npm ci), and the system Chromium; or skips (fails on CI).</summary>
    private static (string Node, string Script, string Chromium) RequireBrowser()
    {
        string directory = Path.Combine(ConfigurationTests.RepositoryRoot(), "tests", "dashboard-e2e");
        string chromium = Environment.GetEnvironmentVariable("CHROMIUM_PATH") ?? "/usr/bin/chromium";
        string? node = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "node")).FirstOrDefault(File.Exists);
        string? problem = node is null ? "node was not found on PATH (apt-get install nodejs npm)"
            : !File.Exists(Path.Combine(directory, "node_modules", "playwright-core", "package.json")) ? $"playwright-core is not installed: run npm ci in {directory}"
            : !File.Exists(chromium) ? $"{chromium} is missing (apt-get install chromium)"
            : null;
        if (problem is not null)
        {
            Assert.False(ExternalTool.IsCi, problem + ". CI=true, so the dashboard browser test fails instead of skipping.");
            Skip.If(true, problem + ". Skipped because CI is not 'true'.");
        }

        return (node!, Path.Combine(directory, "dashboard.mjs"), chromium);
    }
}
