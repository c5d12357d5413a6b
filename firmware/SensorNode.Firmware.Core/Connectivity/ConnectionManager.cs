using System;
using SensorNode.Firmware.Core.Abstractions;
using SensorNode.Firmware.Core.Config;
using SensorNode.Firmware.Core.Topics;

namespace SensorNode.Firmware.Core.Connectivity
{
    /// <summary>
    /// The Wi-Fi → MQTT state machine, advanced by <see cref="Tick"/> from the node's loop (no threads here).
    /// Each layer retries with its own capped, jittered backoff; a lost connection goes back to the layer that
    /// failed. The Last Will (<c>offline</c>, retained, QoS 1) is registered with every CONNECT.
    /// </summary>
    public sealed class ConnectionManager
    {
        public const int NetworkConnectTimeoutMs = 20000;

        private readonly NodeConfig _config;
        private readonly INetwork _network;
        private readonly IMqttSession _session;
        private readonly ILog _log;
        private readonly Backoff _networkBackoff;
        private readonly Backoff _brokerBackoff;
        private long _nextNetworkAttemptMs;
        private long _nextBrokerAttemptMs;

        public ConnectionManager(NodeConfig config, INetwork network, IMqttSession session, ILog log, PseudoRandom random, long nowMs)
        {
            _config = config;
            _network = network;
            _session = session;
            _log = log;
            _networkBackoff = new Backoff(config.BackoffMinSeconds * 1000L, config.BackoffMaxSeconds * 1000L, random);
            _brokerBackoff = new Backoff(config.BackoffMinSeconds * 1000L, config.BackoffMaxSeconds * 1000L, random);
            State = ConnectionState.NetworkDown;
            LastOnlineMs = nowMs;
        }

        public ConnectionState State { get; private set; }

        /// <summary>The last time the node was online (or boot); the watchdog measures from here.</summary>
        public long LastOnlineMs { get; private set; }

        public int NetworkFailures { get; private set; }

        public int BrokerFailures { get; private set; }

        /// <summary>How often an established MQTT connection was lost.</summary>
        public int ConnectionLosses { get; private set; }

        /// <summary>When the next connection attempt is due (for logs and tests).</summary>
        public long NextAttemptMs
        {
            get { return State == ConnectionState.NetworkDown ? _nextNetworkAttemptMs : _nextBrokerAttemptMs; }
        }

        public ConnectionEvent Tick(long nowMs)
        {
            if (State == ConnectionState.Online)
            {
                if (_network.IsConnected && _session.IsConnected)
                {
                    LastOnlineMs = nowMs;
                    return ConnectionEvent.None;
                }

                ConnectionLosses++;
                _session.Abort();
                _nextBrokerAttemptMs = nowMs + _brokerBackoff.NextDelayMs();
                State = _network.IsConnected ? ConnectionState.BrokerDown : ConnectionState.NetworkDown;
                _nextNetworkAttemptMs = nowMs;
                _log.Write("mqtt: connection lost; reconnecting");
                return ConnectionEvent.Lost;
            }

            if (!_network.IsConnected)
            {
                State = ConnectionState.NetworkDown;
                if (nowMs < _nextNetworkAttemptMs)
                {
                    return ConnectionEvent.None;
                }

                _log.Write("wifi: connecting to '" + _config.WifiSsid + "'");
                bool joined;
                try
                {
                    joined = _network.Connect(_config.WifiSsid, _config.WifiPassword, NetworkConnectTimeoutMs);
                }
                catch (Exception ex)
                {
                    _log.Write("wifi: " + ex.Message);
                    joined = false;
                }

                if (!joined)
                {
                    NetworkFailures++;
                    long delay = _networkBackoff.NextDelayMs();
                    _nextNetworkAttemptMs = nowMs + delay;
                    _log.Write("wifi: no connection; next try in " + delay.ToString() + " ms");
                    return ConnectionEvent.None;
                }

                _networkBackoff.Reset();
                _nextBrokerAttemptMs = nowMs;
                _log.Write("wifi: connected");
            }

            State = ConnectionState.BrokerDown;
            if (nowMs < _nextBrokerAttemptMs)
            {
                return ConnectionEvent.None;
            }

            int result;
            try
            {
                result = _session.Connect(BuildRequest());
            }
            catch (Exception ex)
            {
                _log.Write("mqtt: " + ex.Message);
                result = MqttConnectResult.TransportError;
            }

            if (result != MqttConnectResult.Accepted)
            {
                BrokerFailures++;
                long delay = _brokerBackoff.NextDelayMs();
                _nextBrokerAttemptMs = nowMs + delay;
                _log.Write("mqtt: " + _config.MqttHost + ":" + _config.MqttPort.ToString() + " " + MqttConnectResult.Describe(result)
                    + "; next try in " + delay.ToString() + " ms");
                return ConnectionEvent.None;
            }

            _brokerBackoff.Reset();
            State = ConnectionState.Online;
            LastOnlineMs = nowMs;
            _log.Write("mqtt: connected to " + _config.MqttHost + ":" + _config.MqttPort.ToString() + " as " + _config.EffectiveNodeId);
            return ConnectionEvent.Connected;
        }

        /// <summary>The CONNECT with the availability Last Will: <c>sensor/status/&lt;room&gt;</c> = <c>offline</c>, retained, QoS 1.</summary>
        public MqttConnectRequest BuildRequest()
        {
            var request = new MqttConnectRequest();
            request.Host = _config.MqttHost;
            request.Port = _config.MqttPort;
            request.UseTls = _config.MqttTls;
            request.ClientId = _config.EffectiveNodeId;
            request.UserName = _config.MqttUser;
            request.Password = _config.MqttPassword;
            request.CleanSession = true;
            request.KeepAliveSeconds = _config.MqttKeepAliveSeconds;
            request.WillTopic = TopicNames.StatusOf(_config.Room);
            request.WillPayload = Availability.Offline;
            request.WillQos = 1;
            request.WillRetain = true;
            return request;
        }
    }
}
