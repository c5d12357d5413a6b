using System.Text;
using System.Threading.Channels;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace SensorNode.Firmware.Tests.EndToEnd;

public sealed record Seen(string Topic, string Payload, bool Retain);

/// <summary>An MQTTnet subscriber whose messages the test awaits with timeouts (no sleeps).</summary>
public sealed class Observer : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly Channel<Seen> _seen = Channel.CreateUnbounded<Seen>();

    private Observer()
    {
        _client.ApplicationMessageReceivedAsync += e =>
        {
            _seen.Writer.TryWrite(new Seen(e.ApplicationMessage.Topic, Encoding.UTF8.GetString(e.ApplicationMessage.Payload), e.ApplicationMessage.Retain));
            return Task.CompletedTask;
        };
    }

    public static async Task<Observer> StartAsync(int port, string filter)
    {
        var observer = new Observer();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await observer._client.ConnectAsync(
            new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port).WithProtocolVersion(MqttProtocolVersion.V311)
                .WithClientId("observer-" + Guid.NewGuid().ToString("N")[..8]).Build(),
            cts.Token);
        await observer._client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(filter, MqttQualityOfServiceLevel.AtLeastOnce).Build(), cts.Token);
        return observer;
    }

    public async Task PublishAsync(string topic, string payload)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(), cts.Token);
    }

    public async Task<Seen> WaitForAsync(Func<Seen, bool> match, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(15));
        try
        {
            while (true)
            {
                Seen next = await _seen.Reader.ReadAsync(cts.Token);
                if (match(next))
                {
                    return next;
                }
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException("expected message not seen");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _client.DisconnectAsync(new MqttClientDisconnectOptions(), cts.Token);
        }

        _client.Dispose();
    }
}
