using System.Text;
using System.Threading.Channels;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace SensorNode.Broker.Tests.Infrastructure;

/// <summary>A received message, copied out of MQTTnet's event.</summary>
public sealed record ReceivedMessage(string Topic, string Payload, MqttQualityOfServiceLevel Qos, bool Retain);

/// <summary>
/// An MQTTnet client (an implementation we did not write) wired for tests: every received message goes
/// into a channel, and <see cref="NextAsync"/> waits for the next one with a timeout instead of sleeping.
/// </summary>
public sealed class MqttNetClient : IAsyncDisposable
{
    private readonly Channel<ReceivedMessage> _received = Channel.CreateUnbounded<ReceivedMessage>();
    private readonly TaskCompletionSource<MqttClientDisconnectedEventArgs> _disconnected = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private MqttNetClient(IMqttClient client)
    {
        Client = client;
        client.ApplicationMessageReceivedAsync += e =>
        {
            MqttApplicationMessage m = e.ApplicationMessage;
            _received.Writer.TryWrite(new ReceivedMessage(m.Topic, Encoding.UTF8.GetString(m.Payload), m.QualityOfServiceLevel, m.Retain));
            return Task.CompletedTask;
        };
        client.DisconnectedAsync += e =>
        {
            if (e.ClientWasConnected)
            {
                _disconnected.TrySetResult(e);
            }

            return Task.CompletedTask;
        };
    }

    public IMqttClient Client { get; }

    public MqttClientConnectResult? ConnectResult { get; private set; }

    public static MqttClientOptionsBuilder Options(int port, string? clientId = null, bool cleanSession = true) =>
        new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", port)
            .WithProtocolVersion(MqttProtocolVersion.V311)
            .WithClientId(clientId ?? "test-" + Guid.NewGuid().ToString("N")[..12])
            .WithCleanSession(cleanSession)
            .WithTimeout(TestBroker.Timeout);

    public static async Task<MqttNetClient> ConnectAsync(int port, string? clientId = null, bool cleanSession = true, Action<MqttClientOptionsBuilder>? configure = null)
    {
        MqttClientOptionsBuilder builder = Options(port, clientId, cleanSession);
        configure?.Invoke(builder);
        return await ConnectAsync(builder.Build());
    }

    public static async Task<MqttNetClient> ConnectAsync(MqttClientOptions options)
    {
        var client = new MqttNetClient(new MqttClientFactory().CreateMqttClient());
        using var cts = new CancellationTokenSource(TestBroker.Timeout);
        try
        {
            client.ConnectResult = await client.Client.ConnectAsync(options, cts.Token);
        }
        catch
        {
            client.Client.Dispose();
            throw;
        }

        return client;
    }

    public async Task<MqttClientSubscribeResult> SubscribeAsync(string filter, MqttQualityOfServiceLevel qos = MqttQualityOfServiceLevel.AtMostOnce)
    {
        using var cts = new CancellationTokenSource(TestBroker.Timeout);
        return await Client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(filter, qos).Build(), cts.Token);
    }

    public async Task<MqttClientPublishResult> PublishAsync(string topic, string payload, MqttQualityOfServiceLevel qos = MqttQualityOfServiceLevel.AtMostOnce, bool retain = false)
    {
        using var cts = new CancellationTokenSource(TestBroker.Timeout);
        MqttApplicationMessage message = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(payload)
            .WithQualityOfServiceLevel(qos)
            .WithRetainFlag(retain)
            .Build();
        return await Client.PublishAsync(message, cts.Token);
    }

    /// <summary>Waits for the next received message; fails the test after the timeout.</summary>
    public async Task<ReceivedMessage> NextAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestBroker.Timeout);
        try
        {
            return await _received.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException("no message received within the timeout");
        }
    }

    /// <summary>
    /// Asserts that nothing but a marker arrives: this client subscribes to a private marker topic,
    /// <paramref name="publisher"/> publishes to it, and since a session's deliveries keep their order,
    /// anything the publisher sent before would have arrived first. No fixed wait.
    /// </summary>
    public async Task AssertNothingReceivedAsync(MqttNetClient publisher)
    {
        string marker = "marker/" + Guid.NewGuid().ToString("N");
        await SubscribeAsync(marker, MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.PublishAsync(marker, "marker", MqttQualityOfServiceLevel.AtLeastOnce);
        ReceivedMessage next = await NextAsync();
        Assert.Equal(marker, next.Topic);
    }

    /// <summary>Receives the next <paramref name="count"/> messages, each within the timeout.</summary>
    public async Task<List<ReceivedMessage>> NextManyAsync(int count, TimeSpan? timeout = null)
    {
        var messages = new List<ReceivedMessage>(count);
        for (int i = 0; i < count; i++)
        {
            messages.Add(await NextAsync(timeout));
        }

        return messages;
    }

    public async Task<MqttClientUnsubscribeResult> UnsubscribeAsync(string filter)
    {
        using var cts = new CancellationTokenSource(TestBroker.Timeout);
        return await Client.UnsubscribeAsync(new MqttClientUnsubscribeOptionsBuilder().WithTopicFilter(filter).Build(), cts.Token);
    }

    /// <summary>
    /// Waits until MQTTnet reports that a connection it had established was lost (closed by the broker or cut);
    /// fails the test after the timeout.
    /// </summary>
    public async Task<MqttClientDisconnectedEventArgs> WaitForDisconnectedAsync(TimeSpan? timeout = null)
    {
        try
        {
            return await _disconnected.Task.WaitAsync(timeout ?? TestBroker.Timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException("the client was not disconnected within the timeout");
        }
    }

    /// <summary>
    /// Returns everything received before a marker that <paramref name="publisher"/> publishes after its
    /// earlier messages: since a session's deliveries keep their order, the list is complete. No fixed wait.
    /// </summary>
    public async Task<List<ReceivedMessage>> ReceiveUntilMarkerAsync(MqttNetClient publisher)
    {
        string marker = "marker/" + Guid.NewGuid().ToString("N");
        await SubscribeAsync(marker, MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.PublishAsync(marker, "marker", MqttQualityOfServiceLevel.AtLeastOnce);
        var before = new List<ReceivedMessage>();
        while (true)
        {
            ReceivedMessage next = await NextAsync();
            if (next.Topic == marker)
            {
                return before;
            }

            before.Add(next);
        }
    }

    public bool TryTake(out ReceivedMessage? message) => _received.Reader.TryRead(out message);

    public async Task DisconnectAsync()
    {
        if (Client.IsConnected)
        {
            using var cts = new CancellationTokenSource(TestBroker.Timeout);
            await Client.DisconnectAsync(new MqttClientDisconnectOptions(), cts.Token);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await DisconnectAsync();
        }
        catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or InvalidOperationException)
        {
            // The test may already have cut the connection.
        }

        Client.Dispose();
    }
}
