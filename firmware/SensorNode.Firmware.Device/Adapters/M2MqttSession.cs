using System;
using System.Collections;
using System.Text;
using System.Threading;
using nanoFramework.M2Mqtt;
using nanoFramework.M2Mqtt.Messages;
using SensorNode.Firmware.Core.Abstractions;

namespace SensorNode.Firmware.Device.Adapters
{
    /// <summary>
    /// <see cref="IMqttSession"/> on nanoFramework.M2Mqtt 5.1.220 (reference §3). The client is built on the first
    /// connect, once the network is up, because its constructor resolves the host name. Received messages are
    /// buffered (bounded) for the core's loop; the library's own threads never call into the core.
    /// </summary>
    public sealed class M2MqttSession : IMqttSession
    {
        private const int MaxBufferedMessages = 16;
        private const int PublishWaitMs = 3000;

        private readonly object _lock = new object();
        private readonly ArrayList _inbound = new ArrayList();
        private readonly ManualResetEvent _published = new ManualResetEvent(false);
        private MqttClient _client;
        private ushort _awaitedMessageId;

        public bool IsConnected
        {
            get { return _client != null && _client.IsConnected; }
        }

        public int Connect(MqttConnectRequest request)
        {
            try
            {
                DropClient(false);
                _client = new MqttClient(request.Host, request.Port, request.UseTls, null, null,
                    request.UseTls ? MqttSslProtocols.TLSv1_2 : MqttSslProtocols.None);
                _client.MqttMsgPublishReceived += OnMessageReceived;
                _client.MqttMsgPublished += OnMessagePublished;

                // Full form (reference §3.3): willRetain, willQosLevel, willFlag, willTopic, willMessage, cleanSession, keepAlive (s).
                MqttReasonCode code = _client.Connect(request.ClientId, NullIfEmpty(request.UserName), NullIfEmpty(request.Password),
                    request.WillRetain, ToQos(request.WillQos), true, request.WillTopic, request.WillPayload,
                    request.CleanSession, (ushort)request.KeepAliveSeconds);
                if (code == MqttReasonCode.Success)
                {
                    return MqttConnectResult.Accepted;
                }

                DropClient(false);
                return (int)code;
            }
            catch (Exception ex)
            {
                // MqttConnectionException (socket/TLS/DNS), MqttCommunicationException (no CONNACK in 30 s), MqttClientException.
                Console.WriteLine("mqtt: connect failed: " + ex.Message);
                DropClient(false);
                return MqttConnectResult.TransportError;
            }
        }

        public bool Publish(string topic, string payload, int qos, bool retain)
        {
            MqttClient client = _client;
            if (client == null || !client.IsConnected)
            {
                return false;
            }

            try
            {
                _published.Reset();
                ushort id = client.Publish(topic, Encoding.UTF8.GetBytes(payload), null, null, ToQos(qos), retain);
                _awaitedMessageId = id;
                return true;
            }
            catch (Exception ex)
            {
                Console.WriteLine("mqtt: publish failed: " + ex.Message);
                return false;
            }
        }

        public bool Subscribe(string topicFilter, int qos)
        {
            MqttClient client = _client;
            if (client == null || !client.IsConnected)
            {
                return false;
            }

            try
            {
                client.Subscribe(new string[] { topicFilter }, new MqttQoSLevel[] { ToQos(qos) });
                return true;
            }
            catch (Exception ex)
            {
                Console.WriteLine("mqtt: subscribe failed: " + ex.Message);
                return false;
            }
        }

        public InboundMessage TakeMessage()
        {
            lock (_lock)
            {
                if (_inbound.Count == 0)
                {
                    return null;
                }

                var message = (InboundMessage)_inbound[0];
                _inbound.RemoveAt(0);
                return message;
            }
        }

        /// <summary>Waits (bounded) for the last QoS 1 publish, e.g. the retained "offline", then sends DISCONNECT.</summary>
        public void Disconnect()
        {
            MqttClient client = _client;
            if (client != null && client.IsConnected)
            {
                _published.WaitOne(PublishWaitMs, false);
                try
                {
                    client.Disconnect();
                }
                catch (Exception ex)
                {
                    Console.WriteLine("mqtt: disconnect failed: " + ex.Message);
                }
            }

            DropClient(false);
        }

        public void Abort()
        {
            DropClient(true);
        }

        private void DropClient(bool close)
        {
            MqttClient client = _client;
            _client = null;
            if (client == null)
            {
                return;
            }

            try
            {
                client.MqttMsgPublishReceived -= OnMessageReceived;
                client.MqttMsgPublished -= OnMessagePublished;
                if (close)
                {
                    client.Close();
                }

                client.Dispose();
            }
            catch (Exception ex)
            {
                Console.WriteLine("mqtt: close failed: " + ex.Message);
            }
        }

        private void OnMessageReceived(object sender, MqttMsgPublishEventArgs e)
        {
            byte[] bytes = e.Message;
            string payload = bytes == null ? string.Empty : Encoding.UTF8.GetString(bytes, 0, bytes.Length);
            lock (_lock)
            {
                if (_inbound.Count >= MaxBufferedMessages)
                {
                    _inbound.RemoveAt(0);
                }

                _inbound.Add(new InboundMessage(e.Topic, payload, e.Retain));
            }
        }

        private void OnMessagePublished(object sender, MqttMsgPublishedEventArgs e)
        {
            if (e.MessageId == _awaitedMessageId)
            {
                _published.Set();
            }
        }

        private static MqttQoSLevel ToQos(int qos)
        {
            if (qos <= 0)
            {
                return MqttQoSLevel.AtMostOnce;
            }

            return qos == 1 ? MqttQoSLevel.AtLeastOnce : MqttQoSLevel.ExactlyOnce;
        }

        private static string NullIfEmpty(string text)
        {
            return text == null || text.Length == 0 ? null : text;
        }
    }
}
