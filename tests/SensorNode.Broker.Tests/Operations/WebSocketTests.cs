using System.Diagnostics;
using System.Net.WebSockets;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;
using SensorNode.Broker.Tests.Interop;
using Xunit.Abstractions;

namespace SensorNode.Broker.Tests.Operations;

/// <summary>
/// MQTT over WebSocket (ws://host:port/mqtt, subprotocol mqtt): MQTT.js from Node (npm mqtt, tests/websocket) and
/// MQTTnet's WebSocket transport talking to TCP clients through the broker. Without node or the npm package the
/// MQTT.js tests are skipped (failed under CI=true; .ci/run runs npm ci).
/// </summary>
public sealed class WebSocketTests(ITestOutputHelper output)
{
    private static Task<BrokerServer> StartAsync() => TestBroker.StartAsync(o =>
    {
        o.Listeners.Add(new ListenerOptions { Kind = ListenerKind.Mqtt, BindAddress = "127.0.0.1", Port = 0 });
        o.Listeners.Add(new ListenerOptions { Kind = ListenerKind.WebSocket, BindAddress = "127.0.0.1", Port = 0 });
    });

    private static string Url(BrokerServer broker) => $"ws://127.0.0.1:{broker.WebSocketPort}/mqtt";

    [SkippableTheory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public async Task MqttJs_over_websocket_receives_what_a_tcp_client_publishes(int qos)
    {
        (string node, string script) = RequireMqttJs();
        await using BrokerServer broker = await StartAsync();
        await using ExternalProcess sub = ExternalProcess.Start(node, [script, "sub", Url(broker), "room/+/temperature", qos.ToString(System.Globalization.CultureInfo.InvariantCulture), "3"], output);
        await sub.WaitForLineAsync(l => l.StartsWith("SUBSCRIBED", StringComparison.Ordinal), "MQTT.js SUBSCRIBED");

        await using MqttNetClient tcp = await MqttNetClient.ConnectAsync(broker.Port);
        foreach (string room in new[] { "kitchen", "hall", "attic" })
        {
            await tcp.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"room/{room}/temperature").WithPayload($"{room} 21").WithQualityOfServiceLevel((MqttQualityOfServiceLevel)qos).Build());
        }

        await sub.AssertExitsCleanlyAsync();
        List<JsonElement> received = [.. sub.OutputLines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement)];
        Assert.Equal(["room/kitchen/temperature", "room/hall/temperature", "room/attic/temperature"], received.Select(r => r.GetProperty("topic").GetString()));
        Assert.Equal(["kitchen 21", "hall 21", "attic 21"], received.Select(r => r.GetProperty("payload").GetString()));
        Assert.All(received, r => Assert.Equal(qos, r.GetProperty("qos").GetInt32()));
    }

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_tcp_client_receives_what_MqttJs_publishes_over_websocket(bool mqtt5)
    {
        (string node, string script) = RequireMqttJs();
        await using BrokerServer broker = await StartAsync();
        await using MqttNetClient tcp = await MqttNetClient.ConnectAsync(broker.Port);
        await tcp.SubscribeAsync("browser/#", MqttQualityOfServiceLevel.AtLeastOnce);

        string[] arguments = [script, "pub", Url(broker), "browser/dashboard", "1", "false", "one", "two", "three", .. mqtt5 ? new[] { "--v5" } : []];
        await using ExternalProcess pub = ExternalProcess.Start(node, arguments, output);
        await pub.AssertExitsCleanlyAsync();
        Assert.Contains("PUBLISHED 3", pub.OutputLines);
        foreach (string payload in new[] { "one", "two", "three" })
        {
            ReceivedMessage message = await tcp.NextAsync();
            Assert.Equal(("browser/dashboard", payload, MqttQualityOfServiceLevel.AtLeastOnce), (message.Topic, message.Payload, message.Qos));
        }
    }

    [SkippableFact]
    public async Task MqttJs_gets_retained_messages_on_subscribe_with_the_retain_flag()
    {
        (string node, string script) = RequireMqttJs();
        await using BrokerServer broker = await StartAsync();
        await using (MqttNetClient tcp = await MqttNetClient.ConnectAsync(broker.Port))
        {
            await tcp.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("sensor/temperature/kitchen").WithPayload("21.4").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag().Build());
        }

        await using ExternalProcess sub = ExternalProcess.Start(node, [script, "sub", Url(broker), "sensor/#", "1", "1"], output);
        await sub.AssertExitsCleanlyAsync();
        JsonElement message = JsonDocument.Parse(sub.OutputLines.Single(l => l.StartsWith('{'))).RootElement;
        Assert.Equal("21.4", message.GetProperty("payload").GetString());
        Assert.True(message.GetProperty("retain").GetBoolean());
    }

    [Fact]
    public async Task MQTTnet_over_websocket_and_over_tcp_exchange_messages()
    {
        await using BrokerServer broker = await StartAsync();
        MqttClientOptions wsOptions = new MqttClientOptionsBuilder()
            .WithWebSocketServer(o => o.WithUri(Url(broker)))
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithClientId("ws-mqttnet")
            .WithTimeout(TestBroker.Timeout)
            .Build();
        await using MqttNetClient ws = await MqttNetClient.ConnectAsync(wsOptions);
        await using MqttNetClient tcp = await MqttNetClient.ConnectAsync(broker.Port);
        await ws.SubscribeAsync("to-ws", MqttQualityOfServiceLevel.ExactlyOnce);
        await tcp.SubscribeAsync("to-tcp", MqttQualityOfServiceLevel.AtLeastOnce);

        // A payload larger than one WebSocket read and one pipe segment.
        string big = new('x', 200_000);
        await tcp.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("to-ws").WithPayload(big).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.ExactlyOnce).Build());
        await ws.Client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("to-tcp").WithPayload("hello tcp").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.Equal(big, (await ws.NextAsync()).Payload);
        Assert.Equal("hello tcp", (await tcp.NextAsync()).Payload);
    }

    [Fact]
    public async Task The_mqtt_subprotocol_is_negotiated_and_packets_may_span_messages()
    {
        await using BrokerServer broker = await StartAsync();
        using var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("mqtt");
        await socket.ConnectAsync(new Uri(Url(broker)), CancellationToken.None);
        Assert.Equal("mqtt", socket.SubProtocol);

        // CONNECT split over two WebSocket messages, then PINGREQ: CONNACK and PINGRESP come back.
        byte[] connect = MqttPacketWriter.ToArray(new ConnectPacket { ClientId = "split", KeepAliveSeconds = 30 });
        await socket.SendAsync(connect.AsMemory(0, 5), WebSocketMessageType.Binary, true, CancellationToken.None);
        await socket.SendAsync(connect.AsMemory(5), WebSocketMessageType.Binary, true, CancellationToken.None);
        Assert.Equal([0x20, 0x02, 0x00, 0x00], await ReceiveAsync(socket, 4));
        await socket.SendAsync(new byte[] { 0xC0, 0x00 }, WebSocketMessageType.Binary, true, CancellationToken.None);
        Assert.Equal([0xD0, 0x00], await ReceiveAsync(socket, 2));

        // A text message is not MQTT: the broker closes the connection [MQTT-6.0.0-1].
        await socket.SendAsync("hello"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        using var cts = new CancellationTokenSource(TestBroker.Timeout);
        WebSocketReceiveResult result = await socket.ReceiveAsync(new byte[16], cts.Token);
        Assert.Equal(WebSocketMessageType.Close, result.MessageType);
        await BrokerWait.UntilAsync(() => broker.Broker.ConnectionCount == 0, "the WebSocket connection to end");
    }

    [Fact]
    public async Task Other_subprotocols_and_plain_http_requests_are_refused()
    {
        await using BrokerServer broker = await StartAsync();
        using var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("chat");
        await Assert.ThrowsAnyAsync<WebSocketException>(() => socket.ConnectAsync(new Uri(Url(broker)), CancellationToken.None));

        using var http = new HttpClient();
        HttpResponseMessage response = await http.GetAsync($"http://127.0.0.1:{broker.WebSocketPort}/mqtt");
        Assert.Equal(System.Net.HttpStatusCode.UpgradeRequired, response.StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await http.GetAsync($"http://127.0.0.1:{broker.WebSocketPort}/other")).StatusCode);
    }

    [Fact]
    public async Task Shutdown_closes_websocket_clients_gracefully()
    {
        BrokerServer broker = await StartAsync();
        MqttClientOptions wsOptions = new MqttClientOptionsBuilder()
            .WithWebSocketServer(o => o.WithUri(Url(broker)))
            .WithClientId("ws-shutdown")
            .WithTimeout(TestBroker.Timeout)
            .Build();
        await using MqttNetClient ws = await MqttNetClient.ConnectAsync(wsOptions);
        var stopwatch = Stopwatch.StartNew();
        await broker.DisposeAsync();
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"shutdown took {stopwatch.Elapsed}");
        await BrokerWait.UntilAsync(() => !ws.Client.IsConnected, "the WebSocket client to see the close");
    }

    private static async Task<byte[]> ReceiveAsync(ClientWebSocket socket, int count)
    {
        using var cts = new CancellationTokenSource(TestBroker.Timeout);
        var buffer = new byte[count];
        int filled = 0;
        while (filled < count)
        {
            WebSocketReceiveResult result = await socket.ReceiveAsync(new ArraySegment<byte>(buffer, filled, count - filled), cts.Token);
            Assert.Equal(WebSocketMessageType.Binary, result.MessageType);
            filled += result.Count;
        }

        return buffer;
    }

    /// <summary>node on PATH and tests/websocket/node_modules/mqtt (npm ci), or skips (fails on CI).</summary>
    internal static (string Node, string Script) RequireMqttJs()
    {
        string directory = Path.Combine(ConfigurationTests.RepositoryRoot(), "tests", "websocket");
        string? node = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "node")).FirstOrDefault(File.Exists);
        string? problem = node is null ? "node was not found on PATH (apt-get install nodejs npm)"
            : !File.Exists(Path.Combine(directory, "node_modules", "mqtt", "package.json")) ? $"MQTT.js is not installed: run npm ci in {directory}"
            : null;
        if (problem is not null)
        {
            Assert.False(ExternalTool.IsCi, problem + ". CI=true, so the WebSocket interop tests fail instead of skipping.");
            Skip.If(true, problem + ". Skipped because CI is not 'true'.");
        }

        return (node!, Path.Combine(directory, "ws-client.mjs"));
    }
}
