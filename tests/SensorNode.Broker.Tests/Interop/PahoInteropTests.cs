using System.Globalization;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SensorNode.Broker.Tests.Interop;

/// <summary>
/// Eclipse paho-mqtt (Python) against the broker: paho_subscriber.py and paho_publisher.py run as separate
/// processes on the system Python, alone and together with MQTTnet. Skipped without python3-paho-mqtt,
/// failed for it on CI.
/// </summary>
public sealed class PahoInteropTests(ITestOutputHelper output)
{
    private const string Topic = "test/topic";

    [SkippableFact]
    public async Task Paho_subscriber_receives_20_qos1_messages_from_paho_publisher_in_order()
    {
        string python = ExternalTool.RequirePahoPython();
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using ExternalProcess subscriber = StartSubscriber(python, broker.Port, "--qos", "1", "--count", "20");
        string ready = await subscriber.WaitForLineAsync(l => l.StartsWith("READY", StringComparison.Ordinal), "READY (SUBACK)");
        Assert.Equal("READY 1", ready);

        ProcessResult publisher = await RunPublisherAsync(python, broker.Port, "--qos", "1", "--count", "20", "--prefix", "msg-");

        publisher.AssertSuccess();
        Assert.Equal(20, publisher.OutputLines.Count(l => l.StartsWith("PUBLISHED ", StringComparison.Ordinal)));
        await subscriber.AssertExitsCleanlyAsync();
        List<PahoMessage> received = Messages(subscriber);
        Assert.Equal([.. Enumerable.Range(0, 20).Select(i => new PahoMessage(Topic, 1, false, $"msg-{i}"))], received);
    }

    [SkippableFact]
    public async Task Paho_publisher_reaches_MQTTnet_subscriber()
    {
        string python = ExternalTool.RequirePahoPython();
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port);
        await subscriber.SubscribeAsync(Topic, MqttQualityOfServiceLevel.AtLeastOnce);

        ProcessResult publisher = await RunPublisherAsync(python, broker.Port, "--qos", "1", "--count", "20", "--prefix", "paho-");

        publisher.AssertSuccess();
        for (int i = 0; i < 20; i++)
        {
            ReceivedMessage message = await subscriber.NextAsync();
            Assert.Equal(new ReceivedMessage(Topic, $"paho-{i}", MqttQualityOfServiceLevel.AtLeastOnce, false), message);
        }
    }

    [SkippableFact]
    public async Task MQTTnet_publisher_reaches_paho_subscriber()
    {
        string python = ExternalTool.RequirePahoPython();
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using ExternalProcess subscriber = StartSubscriber(python, broker.Port, "--qos", "1", "--count", "20");
        await subscriber.WaitForLineAsync(l => l.StartsWith("READY", StringComparison.Ordinal), "READY (SUBACK)");
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);

        for (int i = 0; i < 20; i++)
        {
            await publisher.PublishAsync(Topic, $"mqttnet-{i}", MqttQualityOfServiceLevel.AtLeastOnce);
        }

        await subscriber.AssertExitsCleanlyAsync();
        Assert.Equal([.. Enumerable.Range(0, 20).Select(i => new PahoMessage(Topic, 1, false, $"mqttnet-{i}"))], Messages(subscriber));
    }

    [SkippableFact]
    public async Task Paho_qos2_messages_arrive_exactly_once_in_order()
    {
        string python = ExternalTool.RequirePahoPython();
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using ExternalProcess subscriber = StartSubscriber(python, broker.Port, "--qos", "2", "--count", "10");
        Assert.Equal("READY 2", await subscriber.WaitForLineAsync(l => l.StartsWith("READY", StringComparison.Ordinal), "READY (SUBACK)"));

        // wait_for_publish() for QoS 2 returns on PUBCOMP: the whole PUBLISH/PUBREC/PUBREL/PUBCOMP exchange.
        ProcessResult publisher = await RunPublisherAsync(python, broker.Port, "--qos", "2", "--count", "10", "--prefix", "exactly-once-");

        publisher.AssertSuccess();
        await subscriber.AssertExitsCleanlyAsync();
        Assert.Equal([.. Enumerable.Range(0, 10).Select(i => new PahoMessage(Topic, 2, false, $"exactly-once-{i}"))], Messages(subscriber));
    }

    [SkippableFact]
    public async Task Paho_retained_message_reaches_late_paho_subscriber_with_retain_flag()
    {
        string python = ExternalTool.RequirePahoPython();
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using ExternalProcess live = StartSubscriber(python, broker.Port, "--qos", "1", "--count", "1");
        await live.WaitForLineAsync(l => l.StartsWith("READY", StringComparison.Ordinal), "READY (SUBACK)");

        ProcessResult publisher = await RunPublisherAsync(python, broker.Port, "--qos", "1", "--retain", "--message", "21.5");
        publisher.AssertSuccess();

        // A subscription that existed when the message was published gets RETAIN=0 [MQTT-3.3.1-9]...
        await live.AssertExitsCleanlyAsync();
        Assert.Equal([new PahoMessage(Topic, 1, false, "21.5")], Messages(live));

        // ...a subscription made afterwards gets the stored message with RETAIN=1 [MQTT-3.3.1-8].
        await using ExternalProcess late = StartSubscriber(python, broker.Port, "--qos", "1", "--count", "1");
        await late.AssertExitsCleanlyAsync();
        Assert.Equal([new PahoMessage(Topic, 1, true, "21.5")], Messages(late));
    }

    [SkippableFact]
    public async Task Paho_will_is_published_when_the_paho_process_is_killed()
    {
        string python = ExternalTool.RequirePahoPython();
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient watcher = await MqttNetClient.ConnectAsync(broker.Port);
        await watcher.SubscribeAsync("status/#", MqttQualityOfServiceLevel.AtLeastOnce);
        string clientId = NewId("paho-will");
        await using ExternalProcess client = StartSubscriber(
            python, broker.Port, "--client-id", clientId, "--stay", "--timeout", "15",
            "--will-topic", $"status/{clientId}", "--will-payload", "offline", "--will-qos", "1");
        await client.WaitForLineAsync(l => l.StartsWith("READY", StringComparison.Ordinal), "READY (SUBACK)");

        // SIGKILL on the process this test started: paho gets no chance to send DISCONNECT.
        await client.KillAsync();

        ReceivedMessage will = await watcher.NextAsync();
        Assert.Equal(new ReceivedMessage($"status/{clientId}", "offline", MqttQualityOfServiceLevel.AtLeastOnce, false), will);
    }

    [SkippableFact]
    public async Task Paho_will_is_published_when_its_socket_closes_without_disconnect()
    {
        string python = ExternalTool.RequirePahoPython();
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient watcher = await MqttNetClient.ConnectAsync(broker.Port);
        await watcher.SubscribeAsync("status/#", MqttQualityOfServiceLevel.AtLeastOnce);
        string clientId = NewId("paho-drop");

        await using ExternalProcess client = StartSubscriber(
            python, broker.Port, "--client-id", clientId, "--count", "0", "--exit-without-disconnect",
            "--will-topic", $"status/{clientId}", "--will-payload", "connection lost", "--will-qos", "0");
        await client.AssertExitsCleanlyAsync();
        Assert.Contains("EXITING without DISCONNECT", client.OutputLines);

        ReceivedMessage will = await watcher.NextAsync();
        Assert.Equal(new ReceivedMessage($"status/{clientId}", "connection lost", MqttQualityOfServiceLevel.AtMostOnce, false), will);
    }

    [SkippableFact]
    public async Task Paho_will_is_not_published_after_a_clean_disconnect()
    {
        string python = ExternalTool.RequirePahoPython();
        await using BrokerServer broker = await TestBroker.StartAsync();
        await using MqttNetClient watcher = await MqttNetClient.ConnectAsync(broker.Port);
        await using MqttNetClient markerPublisher = await MqttNetClient.ConnectAsync(broker.Port);
        await watcher.SubscribeAsync("status/#", MqttQualityOfServiceLevel.AtLeastOnce);
        string clientId = NewId("paho-clean");

        await using ExternalProcess client = StartSubscriber(
            python, broker.Port, "--client-id", clientId, "--count", "0",
            "--will-topic", $"status/{clientId}", "--will-payload", "offline", "--will-qos", "1");
        await client.AssertExitsCleanlyAsync();
        Assert.Contains(client.OutputLines, l => l.StartsWith("DONE", StringComparison.Ordinal));

        // The broker publishes a will (if any) before it drops the clean session, so once the session is gone
        // the will would already be queued ahead of the marker [MQTT-3.1.2-10].
        await BrokerWait.ForNoSessionAsync(broker, clientId);
        await watcher.AssertNothingReceivedAsync(markerPublisher);
    }

    [SkippableFact]
    public async Task Paho_persistent_session_receives_qos1_messages_published_while_offline()
    {
        string python = ExternalTool.RequirePahoPython();
        await using BrokerServer broker = await TestBroker.StartAsync();
        string clientId = NewId("paho-persistent");

        // Subscribe with clean_session=False, then disconnect cleanly.
        await using (ExternalProcess first = StartSubscriber(python, broker.Port, "--client-id", clientId, "--no-clean-session", "--qos", "1", "--count", "0"))
        {
            await first.AssertExitsCleanlyAsync();
            Assert.Contains("CONNECTED session_present=0", first.OutputLines);
        }

        await BrokerWait.ForOfflineSessionAsync(broker, clientId);
        ProcessResult publisher = await RunPublisherAsync(python, broker.Port, "--qos", "1", "--count", "5", "--prefix", "queued-");
        publisher.AssertSuccess();

        // Reconnect with the same client id and no SUBSCRIBE: the session kept the subscription and the messages.
        await using ExternalProcess second = StartSubscriber(python, broker.Port, "--client-id", clientId, "--no-clean-session", "--no-subscribe", "--count", "5");
        await second.AssertExitsCleanlyAsync();
        Assert.Contains("CONNECTED session_present=1", second.OutputLines);
        Assert.Equal([.. Enumerable.Range(0, 5).Select(i => new PahoMessage(Topic, 1, false, $"queued-{i}"))], Messages(second));
    }

    [SkippableFact]
    public async Task Paho_clients_speaking_MQTT_3_1_exchange_messages()
    {
        string python = ExternalTool.RequirePahoPython();
        await using BrokerServer broker = await TestBroker.StartAsync();

        // MQTT 3.1 ("MQIsdp", level 3) limits client identifiers to 23 characters.
        await using ExternalProcess subscriber = StartSubscriber(python, broker.Port, "--protocol", "3.1", "--client-id", NewId("s31"), "--qos", "1", "--count", "3");
        Assert.Equal("READY 1", await subscriber.WaitForLineAsync(l => l.StartsWith("READY", StringComparison.Ordinal), "READY (SUBACK)"));

        ProcessResult publisher = await RunPublisherAsync(python, broker.Port, "--protocol", "3.1", "--client-id", NewId("p31"), "--qos", "1", "--count", "3", "--prefix", "v31-");

        publisher.AssertSuccess();
        await subscriber.AssertExitsCleanlyAsync();
        Assert.Equal([.. Enumerable.Range(0, 3).Select(i => new PahoMessage(Topic, 1, false, $"v31-{i}"))], Messages(subscriber));
    }

    private static string NewId(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..8];

    private static string[] Endpoint(int port) => ["--host", "127.0.0.1", "--port", port.ToString(CultureInfo.InvariantCulture)];

    private static List<PahoMessage> Messages(ExternalProcess subscriber) =>
        [.. subscriber.OutputLines.Where(l => l.StartsWith("MSG ", StringComparison.Ordinal)).Select(PahoMessage.Parse)];

    private ExternalProcess StartSubscriber(string python, int port, params string[] arguments) =>
        ExternalProcess.Start(python, [ExternalTool.Script("paho_subscriber.py"), .. Endpoint(port), .. arguments], output);

    private Task<ProcessResult> RunPublisherAsync(string python, int port, params string[] arguments) =>
        ExternalTool.RunAsync(python, [ExternalTool.Script("paho_publisher.py"), .. Endpoint(port), .. arguments], output);

    /// <summary>A line <c>MSG topic qos retain payload</c> printed by paho_subscriber.py.</summary>
    private sealed record PahoMessage(string Topic, int Qos, bool Retain, string Payload)
    {
        public static PahoMessage Parse(string line)
        {
            string[] parts = line.Split(' ', 5);
            Assert.True(parts.Length == 5, $"malformed subscriber line '{line}'");
            return new PahoMessage(parts[1], int.Parse(parts[2], CultureInfo.InvariantCulture), parts[3] == "1", parts[4]);
        }
    }
}
