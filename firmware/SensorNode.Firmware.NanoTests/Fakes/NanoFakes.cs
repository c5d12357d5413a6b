using System;
using System.Collections;
using SensorNode.Firmware.Core.Abstractions;

namespace SensorNode.Firmware.NanoTests.Fakes
{
    /// <summary>Fakes for the core's interfaces, written without generics so they run on nanoFramework.</summary>
    public sealed class NanoClock : IClock
    {
        public long Now;

        public long UptimeMilliseconds
        {
            get { return Now; }
        }

        public bool TryGetUtcNow(out DateTime utcNow)
        {
            utcNow = DateTime.UtcNow;
            return false;
        }
    }

    public sealed class NanoSensor : ISensor
    {
        public double Temperature = 21.0;
        public double Humidity = 45.0;
        public bool Failing;

        public bool Read(out double temperatureCelsius, out double humidityPercent)
        {
            temperatureCelsius = Temperature;
            humidityPercent = Humidity;
            return !Failing;
        }
    }

    public sealed class NanoNetwork : INetwork
    {
        public bool Up = true;

        public bool IsConnected
        {
            get { return Up; }
        }

        public int SignalDbm
        {
            get { return SignalStrength.Unknown; }
        }

        public bool Connect(string ssid, string password, int timeoutMilliseconds)
        {
            return Up;
        }
    }

    public sealed class NanoSession : IMqttSession
    {
        public readonly ArrayList Topics = new ArrayList();
        public readonly ArrayList Payloads = new ArrayList();
        public MqttConnectRequest LastConnect;
        public bool Connected;
        public bool Reachable = true;
        public int Disconnects;

        public bool IsConnected
        {
            get { return Connected; }
        }

        public int Connect(MqttConnectRequest request)
        {
            LastConnect = request;
            Connected = Reachable;
            return Reachable ? MqttConnectResult.Accepted : MqttConnectResult.TransportError;
        }

        public bool Publish(string topic, string payload, int qos, bool retain)
        {
            if (!Connected)
            {
                return false;
            }

            Topics.Add(topic);
            Payloads.Add(payload);
            return true;
        }

        public bool Subscribe(string topicFilter, int qos)
        {
            return Connected;
        }

        public InboundMessage TakeMessage()
        {
            return null;
        }

        public void Disconnect()
        {
            Disconnects++;
            Connected = false;
        }

        public void Abort()
        {
            Connected = false;
        }

        /// <summary>The last payload published on the topic, or null.</summary>
        public string Last(string topic)
        {
            for (int i = Topics.Count - 1; i >= 0; i--)
            {
                if ((string)Topics[i] == topic)
                {
                    return (string)Payloads[i];
                }
            }

            return null;
        }

        public int Count(string topic)
        {
            int count = 0;
            for (int i = 0; i < Topics.Count; i++)
            {
                if ((string)Topics[i] == topic)
                {
                    count++;
                }
            }

            return count;
        }
    }

    public sealed class NanoRestarter : IRestarter
    {
        public int Count;

        public void Restart(string reason)
        {
            Count++;
        }
    }

    public sealed class NanoLog : ILog
    {
        public void Write(string line)
        {
        }
    }
}
