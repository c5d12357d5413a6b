using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using MQTTnet;
using MQTTnet.Protocol;
using SensorNode.Broker.Tests.Hosting;
using SensorNode.Broker.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SensorNode.Broker.Tests.Persistence;

/// <summary>
/// The broker's durability contract under SIGKILL, on the real executable: a PUBACK (QoS 1) or PUBCOMP (QoS 2)
/// that a publisher received means the message survives a kill of the broker process at any moment and reaches
/// every persistent session it was routed to: QoS 1 at least once, QoS 2 exactly once (3.1.1 §4.3.2, §4.3.3
/// [MQTT-4.3.3-1] [MQTT-4.3.3-2]), with the session resumed after the restart and its unacknowledged PUBLISH and
/// PUBREL packets re-sent under their original identifiers [MQTT-4.4.0-1]; a retained message acknowledged is
/// still retained after the restart.
/// </summary>
public sealed partial class CrashTests(ITestOutputHelper output)
{
    private const string TopicQos1 = "crash/q1";
    private const string TopicQos2 = "crash/q2";
    private const string TopicRetained = "crash/retained";
    private const string TopicMarker = "crash/marker";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan DeliveryTimeout = TimeSpan.FromSeconds(30);

    // The kill lands while the publisher is mid-stream: after the kill point is reached it keeps publishing,
    // so the broker dies with a PUBLISH, a commit, a PUBREC/PUBREL exchange or an outbound delivery in progress.
    [Theory]
    [InlineData(25)]
    [InlineData(77)]
    [InlineData(150)]
    [InlineData(263)]
    [InlineData(400)]
    public async Task Acknowledged_messages_survive_SIGKILL_QoS1_at_least_once_QoS2_exactly_once_retained_kept_MQTT_4_3_3_2_MQTT_4_4_0_1(int killPoint)
    {
        string dataDirectory = TestBroker.NewDataDirectory();
        var ledger = new PublishLedger();
        await using var subscriber = new PersistentSubscriber("crash-subscriber-" + killPoint.ToString(CultureInfo.InvariantCulture));

        // Run 1: subscribe, publish, and kill the broker with SIGKILL once enough publishes have been acknowledged.
        string[] firstOutput;
        int acknowledgedAtKill;
        await using (BrokerProcess first = BrokerProcess.Start("--port", "0", "--data-dir", dataDirectory))
        {
            int port = await first.WaitForPortAsync(StartTimeout);
            bool present = await subscriber.ConnectAsync(port, "crash/#", subscribeQos: 2);
            Assert.False(present, "a fresh data directory holds no session");

            await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(port);
            var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Task<Exception?> publishing = PublishUntilTheConnectionIsLostAsync(publisher, ledger, killPoint, reached);
            await Task.WhenAny(reached.Task, publishing).WaitAsync(DeliveryTimeout);
            if (!reached.Task.IsCompleted)
            {
                Assert.Fail($"the publisher stopped after {ledger.AcknowledgedCount} acknowledged publishes, before the kill point: {await publishing}");
            }

            // The publisher is still going (its next PUBLISH is already under way): kill now, without warning.
            first.Kill();
            acknowledgedAtKill = ledger.AcknowledgedCount;
            await first.WaitForExitAsync(TimeSpan.FromSeconds(15));
            Exception? publisherEnd = await publishing.WaitAsync(TimeSpan.FromSeconds(15));
            Assert.NotNull(publisherEnd); // it ran until the broker disappeared under it
            await subscriber.Closed.WaitAsync(TimeSpan.FromSeconds(15));
            firstOutput = [.. first.Output];
        }

        // Run 2: the same data directory, a new port.
        await using BrokerProcess second = BrokerProcess.Start("--port", "0", "--data-dir", dataDirectory);
        int restartedPort = await second.WaitForPortAsync(StartTimeout);
        Match loaded = second.Output.Select(line => LoadedLine().Match(line)).FirstOrDefault(m => m.Success)
            ?? throw new Xunit.Sdk.XunitException("no \"Loaded ...\" line at restart; output:\n" + string.Join('\n', second.Output));
        Assert.Equal(1, int.Parse(loaded.Groups["sessions"].Value, CultureInfo.InvariantCulture));
        Assert.Equal(1, int.Parse(loaded.Groups["retained"].Value, CultureInfo.InvariantCulture));

        // [MQTT-3.2.2-2] CleanSession=0 resumes the stored session: session present = 1, no new SUBSCRIBE.
        bool resumed = await subscriber.ConnectAsync(restartedPort);
        Assert.True(resumed, "CONNACK after the restart must report session present = 1 [MQTT-3.2.2-2]");

        // A marker published after the restart is queued behind everything the session held, so once it has
        // arrived every re-sent or still-queued message has arrived too (the session's deliveries keep their order).
        await using (MqttNetClient markerPublisher = await MqttNetClient.ConnectAsync(restartedPort))
        {
            await markerPublisher.PublishAsync(TopicMarker, "end", MqttQualityOfServiceLevel.ExactlyOnce);
        }

        bool complete = await subscriber.WaitUntilAsync(
            deliveries => ledger.MissingFrom(deliveries).Count == 0 && deliveries.Any(d => d.Topic == TopicMarker),
            DeliveryTimeout);
        SubscriberDelivery[] delivered = subscriber.Deliveries;
        string report = Report(killPoint, acknowledgedAtKill, ledger, subscriber, loaded.Value, firstOutput, second.Output);
        output.WriteLine(report);
        if (!complete)
        {
            List<string> missing = ledger.MissingFrom(delivered);
            Assert.Fail($"after the restart, acknowledged messages did not arrive within {DeliveryTimeout.TotalSeconds} s " +
                $"(marker {(delivered.Any(d => d.Topic == TopicMarker) ? "arrived" : "did not arrive")}); missing: {string.Join(", ", missing)}\n{report}");
        }

        // Nothing that was never published, and each at the QoS of its topic (min(published, granted 2)).
        var counts = new Dictionary<(string Topic, int Number), int>();
        foreach (SubscriberDelivery delivery in delivered.Where(d => d.Topic != TopicMarker))
        {
            Assert.True(int.TryParse(delivery.Payload, NumberStyles.None, CultureInfo.InvariantCulture, out int number), $"unexpected payload {delivery}\n{report}");
            Assert.True(ledger.WasAttempted(delivery.Topic, number), $"delivered a message that was never published: {delivery}\n{report}");
            Assert.Equal(delivery.Topic == TopicQos2 ? (byte)2 : (byte)1, delivery.Qos);
            counts[(delivery.Topic, number)] = counts.GetValueOrDefault((delivery.Topic, number)) + 1;
        }

        // QoS 1: at least once. QoS 2: exactly once when acknowledged [MQTT-4.3.3-2], and never twice even when the
        // kill came before the PUBCOMP (the broker may have taken it, but then only once).
        List<string> lost = [.. ledger.MissingFrom(delivered)];
        List<string> duplicated = [.. counts.Where(c => c.Key.Topic == TopicQos2 && c.Value > 1).Select(c => $"{c.Key.Number} x{c.Value}")];
        Assert.True(lost.Count == 0, $"acknowledged messages lost: {string.Join(", ", lost)}\n{report}");
        Assert.True(duplicated.Count == 0, $"QoS 2 messages delivered more than once: {string.Join(", ", duplicated)}\n{report}");
        Assert.Equal(1, delivered.Count(d => d.Topic == TopicMarker));

        // The retained message: at least the last acknowledged one; a later unacknowledged one may have been
        // committed just before the kill, but never one that was not published.
        await using MqttNetClient late = await MqttNetClient.ConnectAsync(restartedPort);
        await late.SubscribeAsync(TopicRetained, MqttQualityOfServiceLevel.AtLeastOnce);
        ReceivedMessage retained = await late.NextAsync();
        Assert.True(retained.Retain, "a retained message sent on SUBSCRIBE carries RETAIN=1 [MQTT-3.3.1-8]");
        int retainedNumber = int.Parse(retained.Payload, NumberStyles.None, CultureInfo.InvariantCulture);
        Assert.True(ledger.WasAttempted(TopicRetained, retainedNumber), $"retained value {retainedNumber} was never published\n{report}");
        Assert.True(
            retainedNumber >= ledger.LastAcknowledgedRetained,
            $"retained value {retainedNumber} is older than the last acknowledged retained publish {ledger.LastAcknowledgedRetained}\n{report}");
    }

    /// <summary>
    /// Publishes 1, 2, 3, … in sequence, each awaited: odd numbers QoS 1 on crash/q1, even numbers QoS 2 on
    /// crash/q2, and after every 10th number that number again as a retained QoS 1 message on crash/retained.
    /// Sets <paramref name="reached"/> once <paramref name="killPoint"/> publishes are acknowledged and goes on
    /// until a publish fails (the broker was killed); returns that failure.
    /// </summary>
    private static async Task<Exception?> PublishUntilTheConnectionIsLostAsync(MqttNetClient publisher, PublishLedger ledger, int killPoint, TaskCompletionSource reached)
    {
        try
        {
            for (int number = 1; number < 1_000_000; number++)
            {
                bool odd = number % 2 == 1;
                await PublishOneAsync(publisher, ledger, odd ? TopicQos1 : TopicQos2, number, odd ? MqttQualityOfServiceLevel.AtLeastOnce : MqttQualityOfServiceLevel.ExactlyOnce, retain: false, killPoint, reached);
                if (number % 10 == 0)
                {
                    await PublishOneAsync(publisher, ledger, TopicRetained, number, MqttQualityOfServiceLevel.AtLeastOnce, retain: true, killPoint, reached);
                }
            }

            return null;
        }
        catch (Exception ex)
        {
            return ex;
        }
    }

    private static async Task PublishOneAsync(MqttNetClient publisher, PublishLedger ledger, string topic, int number, MqttQualityOfServiceLevel qos, bool retain, int killPoint, TaskCompletionSource reached)
    {
        ledger.Attempt(topic, number);
        MqttClientPublishResult result = await publisher.PublishAsync(topic, number.ToString(CultureInfo.InvariantCulture), qos, retain);
        if (!result.IsSuccess)
        {
            throw new InvalidOperationException($"publish of {topic} {number} refused: {result.ReasonCode}");
        }

        // PublishAsync returned success: MQTTnet has received the PUBACK (QoS 1) or the PUBCOMP (QoS 2).
        if (ledger.Acknowledge(topic, number) >= killPoint)
        {
            reached.TrySetResult();
        }
    }

    private static string Report(int killPoint, int acknowledgedAtKill, PublishLedger ledger, PersistentSubscriber subscriber, string loaded, string[] firstOutput, IEnumerable<string> secondOutput)
    {
        SubscriberDelivery[] delivered = subscriber.Deliveries;
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"kill point {killPoint}: {acknowledgedAtKill} publishes acknowledged when SIGKILL was sent, {ledger.AcknowledgedCount} in the end; {ledger.AttemptedCount} attempted (highest number {ledger.HighestNumber})");
        text.AppendLine(CultureInfo.InvariantCulture, $"last acknowledged retained {ledger.LastAcknowledgedRetained}; restart: {loaded}");
        text.AppendLine(CultureInfo.InvariantCulture, $"deliveries: {delivered.Count(d => d.Connection == 1)} before the kill, {delivered.Count(d => d.Connection == 2)} after the restart ({delivered.Count(d => d.Connection == 2 && d.Dup)} of them DUP=1); re-sent QoS 2 PUBLISHes answered with PUBREC only: {subscriber.SuppressedQos2Resends}; identifiers still awaiting PUBREL: [{string.Join(", ", subscriber.AwaitingRelease)}]");
        text.AppendLine("subscriber trace (last 60):");
        foreach (string line in subscriber.Trace.TakeLast(60))
        {
            text.AppendLine("  " + line);
        }

        text.AppendLine("broker before the kill (last 15 lines):");
        foreach (string line in firstOutput.TakeLast(15))
        {
            text.AppendLine("  " + line);
        }

        text.AppendLine("broker after the restart (last 15 lines):");
        foreach (string line in secondOutput.TakeLast(15))
        {
            text.AppendLine("  " + line);
        }

        return text.ToString();
    }

    [GeneratedRegex(@"Loaded (?<retained>\d+) retained messages, (?<sessions>\d+) persistent sessions and (?<queued>\d+) queued messages")]
    private static partial Regex LoadedLine();

    /// <summary>What the publisher sent and what the broker acknowledged; thread-safe.</summary>
    private sealed class PublishLedger
    {
        private readonly object _gate = new();
        private readonly HashSet<(string Topic, int Number)> _attempted = [];
        private readonly List<(string Topic, int Number)> _acknowledged = [];

        public int AcknowledgedCount
        {
            get
            {
                lock (_gate)
                {
                    return _acknowledged.Count;
                }
            }
        }

        public int AttemptedCount
        {
            get
            {
                lock (_gate)
                {
                    return _attempted.Count;
                }
            }
        }

        public int HighestNumber
        {
            get
            {
                lock (_gate)
                {
                    return _attempted.Count == 0 ? 0 : _attempted.Max(a => a.Number);
                }
            }
        }

        /// <summary>The number of the last retained publish acknowledged, 0 if none.</summary>
        public int LastAcknowledgedRetained
        {
            get
            {
                lock (_gate)
                {
                    return _acknowledged.Where(a => a.Topic == TopicRetained).Select(a => a.Number).DefaultIfEmpty(0).Max();
                }
            }
        }

        public void Attempt(string topic, int number)
        {
            lock (_gate)
            {
                _attempted.Add((topic, number));
            }
        }

        /// <summary>Records an acknowledgement; returns how many publishes are acknowledged now.</summary>
        public int Acknowledge(string topic, int number)
        {
            lock (_gate)
            {
                _acknowledged.Add((topic, number));
                return _acknowledged.Count;
            }
        }

        public bool WasAttempted(string topic, int number)
        {
            lock (_gate)
            {
                return _attempted.Contains((topic, number));
            }
        }

        /// <summary>The acknowledged publishes with no delivery among <paramref name="deliveries"/>, as "topic number (QoS n)".</summary>
        public List<string> MissingFrom(IReadOnlyList<SubscriberDelivery> deliveries)
        {
            var seen = new HashSet<(string, string)>();
            foreach (SubscriberDelivery delivery in deliveries)
            {
                seen.Add((delivery.Topic, delivery.Payload));
            }

            lock (_gate)
            {
                return [.. _acknowledged
                    .Where(a => !seen.Contains((a.Topic, a.Number.ToString(CultureInfo.InvariantCulture))))
                    .Select(a => $"{a.Topic} {a.Number} (QoS {(a.Topic == TopicQos2 ? 2 : 1)})")];
            }
        }
    }
}
