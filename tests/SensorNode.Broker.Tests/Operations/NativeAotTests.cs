using System.Diagnostics;
using System.Net.Http;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Protocol;
using SensorNode.Broker.Tests.Hosting;
using SensorNode.Broker.Tests.Infrastructure;
using SensorNode.Broker.Tests.Interop;
using SensorNode.Broker.Tests.Security;
using Xunit.Abstractions;

namespace SensorNode.Broker.Tests.Operations;

/// <summary>
/// The Native AOT publish (profile linux-x64-aot; what bench/run.sh measures and deploy/install.sh prefers) is a
/// different program from the JIT build the other tests run: trimming or AOT can drop what reflection needed. So the
/// published binary itself is driven through every listener kind and command a user touches: passwd, check-config,
/// MQTT with users, MQTTS, WebSocket, /health and /metrics, the dashboard, $SYS, the SQLite store across a restart, SIGTERM.
/// Skipped visibly without clang; failed instead under CI=true (.ci/run installs it).
/// </summary>
public sealed class NativeAotTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [SkippableFact]
    public async Task The_native_aot_broker_serves_every_listener_kind_and_keeps_its_state_across_a_restart()
    {
        string broker = await NativeAotPublish.ExecutableAsync(output);

        // Users and a TLS certificate, made with the AOT binary's own passwd command and a test CA.
        TestPki pki = TestPki.Create();
        string directory = pki.Directory;
        string passwords = Path.Combine(directory, "passwd");
        (await ExternalTool.RunAsync(broker, ["passwd", "add", passwords, "sensor", "--password", "s3cret"], output)).AssertSuccess();
        pki.IssueServer(Path.Combine(directory, "server.pem"), Path.Combine(directory, "server.key"));
        string config = Path.Combine(directory, "broker.json");
        await File.WriteAllTextAsync(config, $$"""
            // Every listener kind on free loopback ports.
            {
              "dataDirectory": "data",
              "sysIntervalSeconds": 1,
              "listeners": [
                { "kind": "mqtt", "bind": "127.0.0.1", "port": 0 },
                { "kind": "mqtts", "bind": "127.0.0.1", "port": 0, "certificate": "server.pem", "privateKey": "server.key" },
                { "kind": "websocket", "bind": "127.0.0.1", "port": 0, "path": "/mqtt" },
                { "kind": "http", "bind": "127.0.0.1", "port": 0 },
              ],
            }
            """);
        (await ExternalTool.RunAsync(broker, ["check-config", "-c", config, "--password-file", passwords], output)).AssertSuccess();

        await using (BrokerProcess first = BrokerProcess.StartExecutable(broker, "-c", config, "--password-file", passwords))
        {
            int port = await first.WaitForPortAsync(Timeout);
            IReadOnlyDictionary<string, int> ports = await ListenerPortsAsync(first);

            // MQTT with a user: QoS 1 retained reading, seen by mosquitto_sub (a client we did not write).
            await using (MqttNetClient publisher = await MqttNetClient.ConnectAsync(port, "aot-pub", configure: o => o.WithCredentials("sensor", "s3cret")))
            {
                MqttClientPublishResult published = await publisher.Client.PublishAsync(new MqttApplicationMessageBuilder()
                    .WithTopic("sensor/temperature/kitchen").WithPayload("21.5").WithRetainFlag()
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
                Assert.True(published.IsSuccess, $"PUBACK {published.ReasonCode}");
            }

            ProcessResult seen = await ExternalTool.RunAsync(ExternalTool.RequireMosquittoSub(),
                ["-h", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-u", "sensor", "-P", "s3cret", "-t", "sensor/#", "-C", "1", "-v", "-W", "10"], output);
            seen.AssertSuccess();
            Assert.Equal("sensor/temperature/kitchen 21.5", Assert.Single(seen.OutputLines));

            // Over TLS: a wrong password is refused (CONNACK return code 4, 3.1.1 §3.2.2.3), the right one gets the retained reading.
            MqttClientOptionsBuilder Tls(string password) => MqttNetClient.Options(ports["mqtts"], "aot-tls")
                .WithCredentials("sensor", password)
                .WithTlsOptions(t => t.UseTls().WithCertificateValidationHandler(e => pki.Validates(new System.Security.Cryptography.X509Certificates.X509Certificate2(e.Certificate), "localhost")));
            await using (MqttNetClient refused = await MqttNetClient.ConnectAsync(Tls("wrong").WithTimeout(Timeout).Build()))
            {
                Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, refused.ConnectResult?.ResultCode);
            }

            await using (MqttNetClient tls = await MqttNetClient.ConnectAsync(Tls("s3cret").WithTimeout(Timeout).Build()))
            {
                await tls.SubscribeAsync("sensor/#", MqttQualityOfServiceLevel.AtLeastOnce);
                ReceivedMessage retained = await tls.NextAsync(Timeout);
                Assert.Equal(("sensor/temperature/kitchen", "21.5", true), (retained.Topic, retained.Payload, retained.Retain));
                await tls.SubscribeAsync("$SYS/broker/version");
                Assert.StartsWith("sensornode-broker ", (await tls.NextAsync(Timeout)).Payload);
            }

            // MQTT over WebSocket.
            await using (MqttNetClient ws = await MqttNetClient.ConnectAsync(new MqttClientOptionsBuilder()
                .WithWebSocketServer(o => o.WithUri($"ws://127.0.0.1:{ports["websocket"]}/mqtt"))
                .WithCredentials("sensor", "s3cret").WithClientId("aot-ws").WithTimeout(Timeout).Build()))
            {
                await ws.SubscribeAsync("sensor/temperature/kitchen", MqttQualityOfServiceLevel.AtLeastOnce);
                Assert.Equal("21.5", (await ws.NextAsync(Timeout)).Payload);
            }

            // /health (JSON written without reflection) and /metrics.
            using var http = new HttpClient { Timeout = Timeout };
            using JsonDocument health = JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{ports["http"]}/health"));
            Assert.Equal("serving", health.RootElement.GetProperty("status").GetString());
            Assert.Equal("sqlite", health.RootElement.GetProperty("storeKind").GetString());
            Assert.Contains("sensornode_", await http.GetStringAsync($"http://127.0.0.1:{ports["http"]}/metrics"), StringComparison.Ordinal);

            // The dashboard (its page from embedded resources, its JSON from generated serializers), after a login.
            string dashboard = $"http://127.0.0.1:{ports["http"]}";
            Assert.Contains("<html", await http.GetStringAsync(dashboard + "/"), StringComparison.OrdinalIgnoreCase);
            using HttpResponseMessage login = await http.PostAsync(dashboard + "/api/login", new FormUrlEncodedContent([new("user", "sensor"), new("password", "s3cret")]));
            Assert.True(login.IsSuccessStatusCode, $"dashboard login: {(int)login.StatusCode}");
            using var rooms = new HttpRequestMessage(HttpMethod.Get, dashboard + "/api/rooms");
            rooms.Headers.Add("Cookie", string.Join("; ", login.Headers.GetValues("Set-Cookie").Select(c => c.Split(';')[0])));
            using HttpResponseMessage roomsAnswer = await http.SendAsync(rooms);
            using JsonDocument roomsJson = JsonDocument.Parse(await roomsAnswer.Content.ReadAsStringAsync());
            Assert.Contains("kitchen", roomsJson.RootElement.GetProperty("rooms").GetRawText(), StringComparison.Ordinal);

            first.Terminate();
            Assert.Equal(0, await first.WaitForExitAsync(Timeout));
        }

        // The retained reading is in the AOT binary's SQLite store after a restart.
        await using BrokerProcess second = BrokerProcess.StartExecutable(broker, "-c", config, "--password-file", passwords);
        int again = await second.WaitForPortAsync(Timeout);
        await using (MqttNetClient late = await MqttNetClient.ConnectAsync(again, "aot-late", configure: o => o.WithCredentials("sensor", "s3cret")))
        {
            await late.SubscribeAsync("sensor/temperature/kitchen", MqttQualityOfServiceLevel.AtLeastOnce);
            ReceivedMessage restored = await late.NextAsync(Timeout);
            Assert.Equal(("21.5", true), (restored.Payload, restored.Retain));
        }

        second.Terminate();
        Assert.Equal(0, await second.WaitForExitAsync(Timeout));
    }

    /// <summary>The port of the first listener of each kind, from the broker's start-up lines (the plain MQTT one comes first).</summary>
    private static async Task<Dictionary<string, int>> ListenerPortsAsync(BrokerProcess broker)
    {
        await broker.WaitForLineAsync(l => l.Contains("serving /metrics and /health on", StringComparison.Ordinal), Timeout);
        await broker.WaitForLineAsync(l => l.Contains("listening for MQTT over WebSocket on", StringComparison.Ordinal), Timeout);
        await broker.WaitForLineAsync(l => l.Contains("listening for MQTT over TLS on", StringComparison.Ordinal), Timeout);
        var ports = new Dictionary<string, int>();
        foreach (string line in broker.Output)
        {
            string? kind = line.Contains("listening for MQTT over TLS on", StringComparison.Ordinal) ? "mqtts"
                : line.Contains("listening for MQTT over WebSocket on", StringComparison.Ordinal) ? "websocket"
                : line.Contains("serving /metrics and /health on", StringComparison.Ordinal) ? "http"
                : null;
            var match = System.Text.RegularExpressions.Regex.Match(line, @"127\.0\.0\.1:(\d+)");
            if (kind is not null && match.Success)
            {
                ports.TryAdd(kind, int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        Assert.True(ports.Count == 3, "listener lines missing:\n" + string.Join('\n', broker.Output));
        return ports;
    }
}
