using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MQTTnet;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Hosting;
using SensorNode.Broker.Tests.Infrastructure;
using SensorNode.Broker.Tests.Interop;
using Xunit.Abstractions;

namespace SensorNode.Broker.Tests.Operations;

/// <summary>deploy/install.sh (into a temporary prefix, never the real system), the systemd unit, sd_notify, and TLS listeners.</summary>
public sealed class DeploymentTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sensornode-deploy-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static string Deploy(string file) => Path.Combine(ConfigurationTests.RepositoryRoot(), "deploy", file);

    [Fact]
    public async Task Install_script_into_a_prefix_is_idempotent_and_keeps_the_configuration()
    {
        string from = Path.Combine(_directory, "publish");
        string prefix = Path.Combine(_directory, "root");
        Directory.CreateDirectory(from);
        await File.WriteAllTextAsync(Path.Combine(from, "sensornode-broker"), "#!/bin/sh\necho v1\n");
        await File.WriteAllTextAsync(Path.Combine(from, "libe_sqlite3.so"), "native");

        ProcessResult first = await ExternalTool.RunAsync("bash", [Deploy("install.sh"), "--from", from, "--prefix", prefix], output);
        first.AssertSuccess();
        Assert.Equal("#!/bin/sh\necho v1\n", await File.ReadAllTextAsync(Path.Combine(prefix, "opt/sensornode/sensornode-broker")));
        Assert.True(File.Exists(Path.Combine(prefix, "opt/sensornode/libe_sqlite3.so")));
        Assert.True(Directory.Exists(Path.Combine(prefix, "var/lib/sensornode")));
        Assert.Equal(await File.ReadAllTextAsync(Deploy("broker.json")), await File.ReadAllTextAsync(Path.Combine(prefix, "etc/sensornode/broker.json")));
        Assert.Equal(await File.ReadAllTextAsync(Deploy("sensornode-broker.service")), await File.ReadAllTextAsync(Path.Combine(prefix, "etc/systemd/system/sensornode-broker.service")));
        Assert.Equal("/opt/sensornode/sensornode-broker", new FileInfo(Path.Combine(prefix, "usr/local/bin/sensornode-broker")).LinkTarget);
        Assert.Contains(first.OutputLines, l => l.Contains("passwd add /var/lib/sensornode/users", StringComparison.Ordinal)); // no users file configured yet

        // Again, with a new executable and an operator's edited configuration: the executable is updated, the configuration kept.
        await File.WriteAllTextAsync(Path.Combine(prefix, "etc/sensornode/broker.json"), "{ \"logLevel\": \"Debug\" }");
        await File.WriteAllTextAsync(Path.Combine(from, "sensornode-broker"), "#!/bin/sh\necho v2\n");
        ProcessResult again = await ExternalTool.RunAsync("bash", [Deploy("install.sh"), "--from", from, "--prefix", prefix], output);
        again.AssertSuccess();
        Assert.Contains(again.OutputLines, l => l.StartsWith("keeping ", StringComparison.Ordinal));
        Assert.Equal("#!/bin/sh\necho v2\n", await File.ReadAllTextAsync(Path.Combine(prefix, "opt/sensornode/sensornode-broker")));
        Assert.Equal("{ \"logLevel\": \"Debug\" }", await File.ReadAllTextAsync(Path.Combine(prefix, "etc/sensornode/broker.json")));

        // With a users file configured (however the JSON is laid out), anonymous access allowed, or client certificates
        // asked for, no hint about adding users; a users file only mentioned in a comment still gets it.
        foreach ((string json, bool hint) in new[]
        {
            ("{\n  \"security\": {\n    \"passwordFile\": \"/var/lib/sensornode/users\"\n  }\n}\n", false),
            ("{ \"security\": { \"passwordFile\": \"/var/lib/sensornode/users\" } }", false),
            ("{ \"security\": { \"allowAnonymous\": true } }", false),
            ("{ \"listeners\": [ { \"kind\": \"mqtts\", \"clientCertificates\": \"required\" } ] }", false),
            ("{\n  // \"passwordFile\": \"/var/lib/sensornode/users\",\n  \"security\": { \"allowAnonymous\": false }\n}\n", true),
        })
        {
            await File.WriteAllTextAsync(Path.Combine(prefix, "etc/sensornode/broker.json"), json);
            ProcessResult configured = await ExternalTool.RunAsync("bash", [Deploy("install.sh"), "--from", from, "--prefix", prefix], output);
            configured.AssertSuccess();
            Assert.True(hint == configured.OutputLines.Any(l => l.Contains("passwd add", StringComparison.Ordinal)), json);
        }
    }

    [Fact]
    public async Task Install_script_dry_run_prints_the_system_install_and_changes_nothing()
    {
        string from = Path.Combine(_directory, "publish");
        Directory.CreateDirectory(from);
        await File.WriteAllTextAsync(Path.Combine(from, "sensornode-broker"), "#!/bin/sh\n");
        ProcessResult result = await ExternalTool.RunAsync("bash", [Deploy("install.sh"), "--from", from, "--dry-run"], output);
        result.AssertSuccess();
        string text = string.Join('\n', result.OutputLines);
        Assert.Contains("+ install -d -m 0750 /var/lib/sensornode", text, StringComparison.Ordinal);
        Assert.Contains("+ install -m 0644 ", text, StringComparison.Ordinal);
        Assert.Contains("/etc/systemd/system/sensornode-broker.service", text, StringComparison.Ordinal);
        Assert.Contains("+ systemctl enable sensornode-broker.service", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_unit_is_type_notify_runs_the_installed_paths_and_stops_with_sigterm()
    {
        string unit = await File.ReadAllTextAsync(Deploy("sensornode-broker.service"));
        foreach (string line in new[] { "Type=notify", "User=sensornode", "ExecStart=/opt/sensornode/sensornode-broker run --config /etc/sensornode/broker.json",
            "StateDirectory=sensornode", "KillSignal=SIGTERM", "Restart=on-failure", "RestartPreventExitStatus=2", "WantedBy=multi-user.target" })
        {
            Assert.Contains(line, unit.Split('\n'));
        }

        if (File.Exists("/usr/bin/systemd-analyze"))
        {
            ProcessResult verify = await ExternalTool.RunAsync("/usr/bin/systemd-analyze", ["verify", "--man=no", Deploy("sensornode-broker.service")], output);
            Assert.DoesNotContain("Unknown key", verify.ErrorText, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Under_systemd_the_broker_notifies_ready_then_stopping_and_logs_for_the_journal()
    {
        string socketPath = Path.Combine(_directory, "notify.sock");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(socketPath));

        var info = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in new[] { BrokerProcess.ExecutablePath, "--port", "0", "--bind", "127.0.0.1", "--no-persistence" })
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["NOTIFY_SOCKET"] = socketPath;
        info.Environment["JOURNAL_STREAM"] = "8:12345";
        using Process broker = Process.Start(info)!;
        try
        {
            Task<string> stdout = broker.StandardOutput.ReadToEndAsync();
            Assert.Equal("READY=1", await ReceiveAsync(socket));

            Process.Start("kill", ["-TERM", broker.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
            Assert.Equal("STOPPING=1", await ReceiveAsync(socket));
            using var exit = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await broker.WaitForExitAsync(exit.Token);
            Assert.Equal(0, broker.ExitCode);

            // journald format: "<6>category[0] message", no timestamps (the journal adds them).
            string log = await stdout;
            output.WriteLine(log);
            Assert.Contains("<6>SensorNode.Broker[0] SensorNode broker listening for MQTT on 127.0.0.1:", log, StringComparison.Ordinal);
        }
        finally
        {
            if (!broker.HasExited)
            {
                broker.Kill();
            }
        }
    }

    private static async Task<string> ReceiveAsync(Socket socket)
    {
        var buffer = new byte[256];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        int count = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
        return Encoding.UTF8.GetString(buffer, 0, count).Trim();
    }

    [Fact]
    public async Task Tls_listeners_serve_mqtt_and_wss_with_the_pem_certificate()
    {
        (string certificatePath, string keyPath, X509Certificate2 certificate) = CreateCertificate();
        using (certificate)
        {
            await using BrokerServer broker = await TestBroker.StartAsync(o =>
            {
                o.Listeners.Add(new ListenerOptions { Kind = ListenerKind.Mqtt, BindAddress = "127.0.0.1", Port = 0 });
                o.Listeners.Add(new ListenerOptions { Kind = ListenerKind.MqttTls, BindAddress = "127.0.0.1", Port = 0, CertificatePath = certificatePath, PrivateKeyPath = keyPath });
                o.Listeners.Add(new ListenerOptions { Kind = ListenerKind.WebSocketTls, BindAddress = "127.0.0.1", Port = 0, CertificatePath = certificatePath, PrivateKeyPath = keyPath });
            });
            Assert.NotEqual(0, broker.TlsPort);

            X509Certificate2? seen = null;
            MqttClientOptions options = MqttNetClient.Options(broker.TlsPort, "tls-client")
                .WithTlsOptions(tls => tls.UseTls().WithCertificateValidationHandler(e =>
                {
                    seen = new X509Certificate2(e.Certificate);
                    return true;
                }))
                .Build();
            await using MqttNetClient tls = await MqttNetClient.ConnectAsync(options);
            await tls.SubscribeAsync("secure/#", MqttQualityOfServiceLevel.AtLeastOnce);
            await using MqttNetClient plain = await MqttNetClient.ConnectAsync(broker.Port);
            await plain.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("secure/x").WithPayload("over tls").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            Assert.Equal("over tls", (await tls.NextAsync()).Payload);
            Assert.Equal(certificate.Thumbprint, seen?.Thumbprint);

            // wss:// as browsers use it.
            int wssPort = broker.EndPointsOf(ListenerKind.WebSocketTls)[0].Port;
            MqttClientOptions wssOptions = new MqttClientOptionsBuilder()
                .WithWebSocketServer(o => o.WithUri($"wss://127.0.0.1:{wssPort}/mqtt"))
                .WithTlsOptions(t => t.UseTls().WithCertificateValidationHandler(_ => true))
                .WithClientId("wss-client")
                .WithTimeout(TestBroker.Timeout)
                .Build();
            await using MqttNetClient wss = await MqttNetClient.ConnectAsync(wssOptions);
            await wss.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("secure/y").WithPayload("over wss").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            Assert.Equal("over wss", (await tls.NextAsync()).Payload);
        }
    }

    private (string Certificate, string Key, X509Certificate2 Loaded) CreateCertificate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        X509Certificate2 certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        string certificatePath = Path.Combine(_directory, "cert.pem");
        string keyPath = Path.Combine(_directory, "key.pem");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certificatePath, keyPath, certificate);
    }
}
