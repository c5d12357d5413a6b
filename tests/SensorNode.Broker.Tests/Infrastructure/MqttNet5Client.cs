using System.Text;
using System.Threading.Channels;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace SensorNode.Broker.Tests.Infrastructure;

/// <summary>A message received over MQTT 5.0, with the properties copied out of MQTTnet's event.</summary>
public sealed record V5Message(
    string Topic,
    string Payload,
    MqttQualityOfServiceLevel Qos,
    bool Retain,
    MqttPayloadFormatIndicator PayloadFormatIndicator,
    string? ContentType,
    string? ResponseTopic,
    byte[]? CorrelationData,
    uint MessageExpiryInterval,
    IReadOnlyList<(string Name, string Value)> UserProperties,
    IReadOnlyList<uint> SubscriptionIdentifiers);

/// <summary>
/// An MQTTnet 5 client speaking MQTT 5.0 (the counterpart of <see cref="MqttNetClient"/>, which speaks 3.1.1):
/// every received message, with its properties, goes into a channel and <see cref="NextAsync"/> waits for the
/// next one with a timeout instead of sleeping.
/// </summary>
public sealed class MqttNet5Client : IAsyncDisposable
{
    private readonly Channel<V5Message> _received = Channel.CreateUnbounded<V5Message>();
    private readonly TaskCompletionSource<MqttClientDisconnectedEventArgs> _disconnected = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private MqttNet5Client(IMqttClient client)
    {
        Client = client;
        client.ApplicationMessageReceivedAsync += e =>
        {
            MqttApplicationMessage m = e.ApplicationMessage;
            _received.Writer.TryWrite(new V5Message(
                m.Topic,
                Encoding.UTF8.GetString(m.Payload),
                m.QualityOfServiceLevel,
                m.Retain,
                m.PayloadFormatIndicator,
                m.ContentType,
                m.ResponseTopic,
                m.CorrelationData?.ToArray(),
                m.MessageExpiryInterval,
                m.UserProperties?.Select(p => (p.Name, p.ReadValueAsString())).ToList() ?? [],
                m.SubscriptionIdentifiers?.ToList() ?? []));
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

    public MqttClientConnectResult ConnectResult { get; private set; } = null!;

    public static MqttClientOptionsBuilder Options(int port, string? clientId = null) =>
        new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", port)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithClientId(clientId ?? "v5-" + Guid.NewGuid().ToString("N")[..12])
            .WithCleanStart(true)
            .WithTimeout(TestBroker.Timeout);

    public static async Task<MqttNet5Client> ConnectAsync(int port, string? clientId = null, Action<MqttClientOptionsBuilder>? configure = null)
    {
        MqttClientOptionsBuilder builder = Options(port, clientId);
        configure?.Invoke(builder);
        var client = new MqttNet5Client(new MqttClientFactory().CreateMqttClient());
        using var cts = new CancellationTokenSource(TestBroker.Timeout);
        try
        {
            client.ConnectResult = await client.Client.ConnectAsync(builder.Build(), cts.Token);
        }
        catch
        {
            client.Client.Dispose();
            throw;
        }

        return client;
    }

    /// <summary>One SUBSCRIBE with one filter; <paramref name="configure"/> sets the subscription options.</summary>
    public async Task<MqttClientSubscribeResult> SubscribeAsync(string filter, MqttQualityOfServiceLevel qos = MqttQualityOfServiceLevel.AtLeastOnce, Action<MqttTopicFilterBuilder>? configure = null, uint subscriptionIdentifier = 0)
    {
        var topicFilter = new MqttTopicFilterBuilder().WithTopic(filter).WithQualityOfServiceLevel(qos);
        configure?.Invoke(topicFilter);
        var options = new MqttClientSubscribeOptionsBuilder().WithTopicFilter(topicFilter.Build());
        if (subscriptionIdentifier != 0)
        {
            options.WithSubscriptionIdentifier(subscriptionIdentifier);
        }

        using var cts = new CancellationTokenSource(TestBroker.Timeout);
        return await Client.SubscribeAsync(options.Build(), cts.Token);
    }

    public async Task<MqttClientUnsubscribeResult> UnsubscribeAsync(string filter)
    {
        using var cts = new CancellationTokenSource(TestBroker.Timeout);
        return await Client.UnsubscribeAsync(new MqttClientUnsubscribeOptionsBuilder().WithTopicFilter(filter).Build(), cts.Token);
    }

    public async Task<MqttClientPublishResult> PublishAsync(string topic, string payload, MqttQualityOfServiceLevel qos = MqttQualityOfServiceLevel.AtLeastOnce, bool retain = false, Action<MqttApplicationMessageBuilder>? configure = null)
    {
        MqttApplicationMessageBuilder builder = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(payload)
            .WithQualityOfServiceLevel(qos)
            .WithRetainFlag(retain);
        configure?.Invoke(builder);
        using var cts = new CancellationTokenSource(TestBroker.Timeout);
        return await Client.PublishAsync(builder.Build(), cts.Token);
    }

    /// <summary>Waits for the next received message; fails the test after the timeout.</summary>
    public async Task<V5Message> NextAsync(TimeSpan? timeout = null)
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
    /// Returns everything received before a marker that <paramref name="publishMarker"/> publishes (QoS 1) after
    /// the messages under test: a session's deliveries keep their order, so the list is complete. No fixed wait.
    /// </summary>
    public async Task<List<V5Message>> ReceiveUntilMarkerAsync(Func<string, Task> publishMarker)
    {
        string marker = "marker/" + Guid.NewGuid().ToString("N");
        await SubscribeAsync(marker, MqttQualityOfServiceLevel.AtLeastOnce);
        await publishMarker(marker);
        var before = new List<V5Message>();
        while (true)
        {
            V5Message next = await NextAsync();
            if (next.Topic == marker)
            {
                return before;
            }

            before.Add(next);
        }
    }

    public Task<List<V5Message>> ReceiveUntilMarkerAsync(MqttNet5Client publisher) =>
        ReceiveUntilMarkerAsync(marker => publisher.PublishAsync(marker, "marker"));

    /// <summary>Waits until MQTTnet reports that an established connection was lost or closed by the broker.</summary>
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

    public async Task DisconnectAsync(MqttClientDisconnectOptions? options = null)
    {
        if (Client.IsConnected)
        {
            using var cts = new CancellationTokenSource(TestBroker.Timeout);
            await Client.DisconnectAsync(options ?? new MqttClientDisconnectOptions(), cts.Token);
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

/// <summary>Waiting on broker state that has no event: polled against a deadline, never a fixed sleep.</summary>
public static class Eventually
{
    public static async Task<bool> TrueAsync(Func<bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TestBroker.Timeout);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(20);
        }

        return true;
    }

    public static async Task AssertAsync(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        Assert.True(await TrueAsync(condition, timeout), "timed out waiting until " + what);
}
