// FACADE (compile-time only, never deployed): nanoFramework.M2Mqtt 5.1.220 — reference §3.
// Assemblies nanoFramework.M2Mqtt + nanoFramework.M2Mqtt.Core.
using System;
using nanoFramework.M2Mqtt.Messages;
using System.Security.Cryptography.X509Certificates;

namespace nanoFramework.M2Mqtt
{
    /// <summary>§3.1 MqttSslProtocols.</summary>
    public enum MqttSslProtocols
    {
        None,
        SSLv3,
        TLSv1_0,
        TLSv1_1,
        TLSv1_2,
        TLSv1_3,
    }

    /// <summary>§3.5/§3.7: only the nested delegate types the adapters use.</summary>
    public interface IMqttClient
    {
        delegate void MqttMsgPublishEventHandler(object sender, MqttMsgPublishEventArgs e);

        delegate void MqttMsgPublishedEventHandler(object sender, MqttMsgPublishedEventArgs e);

        delegate void ConnectionClosedEventHandler(object sender, EventArgs e);
    }

    /// <summary>§3.1–3.5, the members SensorNode's M2MqttSession calls.</summary>
    public class MqttClient
    {
        public MqttClient(string brokerHostName, int brokerPort, bool secure,
                          X509Certificate caCert, X509Certificate clientCert, MqttSslProtocols sslProtocol)
        {
            throw new NotImplementedException();
        }

        public event IMqttClient.MqttMsgPublishEventHandler MqttMsgPublishReceived;

        public event IMqttClient.MqttMsgPublishedEventHandler MqttMsgPublished;

        public event IMqttClient.ConnectionClosedEventHandler ConnectionClosed;

        public bool IsConnected
        {
            get { throw new NotImplementedException(); }
        }

        public MqttReasonCode Connect(string clientId, string username, string password,
                                      bool willRetain, MqttQoSLevel willQosLevel, bool willFlag,
                                      string willTopic, string willMessage,
                                      bool cleanSession, ushort keepAlivePeriod)
        {
            throw new NotImplementedException();
        }

        public void Disconnect()
        {
            throw new NotImplementedException();
        }

        public void Close()
        {
            throw new NotImplementedException();
        }

        public void Dispose()
        {
            throw new NotImplementedException();
        }

        public ushort Publish(string topic, byte[] message, string contentType, System.Collections.ArrayList userProperties,
                              MqttQoSLevel qosLevel, bool retain)
        {
            throw new NotImplementedException();
        }

        public ushort Subscribe(string[] topics, MqttQoSLevel[] qosLevels)
        {
            throw new NotImplementedException();
        }

        // Keeps the compiler from warning about events the facade never raises.
        internal void Unused()
        {
            MqttMsgPublishReceived(null, null);
            MqttMsgPublished(null, null);
            ConnectionClosed(null, null);
        }
    }
}

namespace nanoFramework.M2Mqtt.Messages
{
    /// <summary>§3.6.</summary>
    public enum MqttQoSLevel
    {
        AtMostOnce = 0x00,
        AtLeastOnce = 0x01,
        ExactlyOnce = 0x02,
        GrantedFailure = 0x80,
    }

    /// <summary>§3.3: Success and the MQTT 3.1.1 refusal codes (the MQTT 5 codes 0x80… are left out).</summary>
    public enum MqttReasonCode
    {
        Success = 0,
        ConnectionRefusedUnacceptableProtocolVersion = 1,
        ConnectionRefusedIdentifierRejected = 2,
        ConnectionRefusedServerUnavailable = 3,
        ConnectionRefusedBadUserNameOrPassword = 4,
        ConnectionRefusedNotAuthorized = 5,
    }

    /// <summary>§3.5.</summary>
    public class MqttMsgPublishEventArgs : EventArgs
    {
        public string Topic
        {
            get { throw new NotImplementedException(); }
        }

        public byte[] Message
        {
            get { throw new NotImplementedException(); }
        }

        public bool DupFlag
        {
            get { throw new NotImplementedException(); }
        }

        public MqttQoSLevel QosLevel
        {
            get { throw new NotImplementedException(); }
        }

        public bool Retain
        {
            get { throw new NotImplementedException(); }
        }
    }

    /// <summary>§3.5.</summary>
    public class MqttMsgPublishedEventArgs : EventArgs
    {
        public ushort MessageId
        {
            get { throw new NotImplementedException(); }
        }

        public bool IsPublished
        {
            get { throw new NotImplementedException(); }
        }
    }
}

namespace System.Security.Cryptography.X509Certificates
{
    /// <summary>§3.1 (System.Net): X509Certificate with its (byte[]) and (string PEM) constructors.</summary>
    public class X509Certificate
    {
        public X509Certificate()
        {
            throw new NotImplementedException();
        }

        public X509Certificate(byte[] certificate)
        {
            throw new NotImplementedException();
        }

        public X509Certificate(string certificate)
        {
            throw new NotImplementedException();
        }
    }
}
