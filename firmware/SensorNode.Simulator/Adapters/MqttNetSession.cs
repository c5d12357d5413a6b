using System.Collections.Concurrent;
using System.Text;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using SensorNode.Firmware.Core.Abstractions;

namespace SensorNode.Simulator.Adapters;

/// <summary>
/// The core's MQTT session on MQTTnet. Synchronous by design (the core runs on its node's own thread): each call
/// waits for MQTTnet with a timeout. Received messages are buffered until the core takes them.
/// </summary>
public sealed class MqttNetSession : IMqttSession, IDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly ConcurrentQueue<InboundMessage> _inbound = new();
    private IMqttClient? _client;

    public bool IsConnected => _client?.IsConnected == true;

    public int Connect(MqttConnectRequest request)
    {
        DropClient();
        IMqttClient client = new MqttClientFactory().CreateMqttClient();
        client.ApplicationMessageReceivedAsync += e =>
        {
            MqttApplicationMessage m = e.ApplicationMessage;
            _inbound.Enqueue(new InboundMessage(m.Topic, Encoding.UTF8.GetString(m.Payload), m.Retain));
            return Task.CompletedTask;
        };

        MqttClientOptionsBuilder options = new MqttClientOptionsBuilder()
            .WithTcpServer(request.Host, request.Port)
            .WithProtocolVersion(MqttProtocolVersion.V311)
            .WithClientId(request.ClientId)
            .WithCleanSession(request.CleanSession)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(request.KeepAliveSeconds))
            .WithTimeout(Timeout)
            .WithWillTopic(request.WillTopic)
            .WithWillPayload(request.WillPayload)
            .WithWillQualityOfServiceLevel((MqttQualityOfServiceLevel)request.WillQos)
            .WithWillRetain(request.WillRetain);
        if (request.UserName.Length > 0)
        {
            options.WithCredentials(request.UserName, request.Password.Length > 0 ? request.Password : null);
        }

        if (request.UseTls)
        {
            options.WithTlsOptions(o => o.UseTls());
        }

        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            MqttClientConnectResult result = client.ConnectAsync(options.Build(), cts.Token).GetAwaiter().GetResult();
            if (result.ResultCode != MqttClientConnectResultCode.Success)
            {
                client.Dispose();
                return Map(result.ResultCode);
            }

            _client = client;
            return MqttConnectResult.Accepted;
        }
        catch (Exception ex) when (ex is MQTTnet.Adapter.MqttConnectingFailedException or MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            client.Dispose();
            return MqttConnectResult.TransportError;
        }
    }

    public bool Publish(string topic, string payload, int qos, bool retain)
    {
        IMqttClient? client = _client;
        if (client is null || !client.IsConnected)
        {
            return false;
        }

        MqttApplicationMessage message = new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(payload)
            .WithQualityOfServiceLevel((MqttQualityOfServiceLevel)qos)
            .WithRetainFlag(retain)
            .Build();
        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            return client.PublishAsync(message, cts.Token).GetAwaiter().GetResult().IsSuccess;
        }
        catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or InvalidOperationException)
        {
            return false;
        }
    }

    public bool Subscribe(string topicFilter, int qos)
    {
        IMqttClient? client = _client;
        if (client is null || !client.IsConnected)
        {
            return false;
        }

        try
        {
            using var cts = new CancellationTokenSource(Timeout);
            client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(topicFilter, (MqttQualityOfServiceLevel)qos).Build(), cts.Token)
                .GetAwaiter().GetResult();
            return true;
        }
        catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or InvalidOperationException)
        {
            return false;
        }
    }

    public InboundMessage TakeMessage() => _inbound.TryDequeue(out InboundMessage? message) ? message : null!;

    public void Disconnect()
    {
        IMqttClient? client = _client;
        if (client is not null && client.IsConnected)
        {
            try
            {
                using var cts = new CancellationTokenSource(Timeout);
                client.DisconnectAsync(new MqttClientDisconnectOptions(), cts.Token).GetAwaiter().GetResult();
            }
            catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or InvalidOperationException)
            {
                // Already gone: nothing to say goodbye to.
            }
        }

        DropClient();
    }

    public void Abort() => DropClient();

    public void Dispose() => DropClient();

    private void DropClient()
    {
        _client?.Dispose();
        _client = null;
    }

    private static int Map(MqttClientConnectResultCode code) => code switch
    {
        MqttClientConnectResultCode.UnsupportedProtocolVersion => 1,
        MqttClientConnectResultCode.ClientIdentifierNotValid => 2,
        MqttClientConnectResultCode.ServerUnavailable => 3,
        MqttClientConnectResultCode.BadUserNameOrPassword => 4,
        MqttClientConnectResultCode.NotAuthorized => 5,
        _ => MqttConnectResult.TransportError,
    };
}
