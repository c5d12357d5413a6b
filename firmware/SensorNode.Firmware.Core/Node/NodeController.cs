using System;
using SensorNode.Firmware.Core.Abstractions;
using SensorNode.Firmware.Core.Commands;
using SensorNode.Firmware.Core.Config;
using SensorNode.Firmware.Core.Connectivity;
using SensorNode.Firmware.Core.Messages;
using SensorNode.Firmware.Core.Readings;
using SensorNode.Firmware.Core.Topics;

namespace SensorNode.Firmware.Core.Node
{
    /// <summary>
    /// The whole node: connection state machine, sensor schedule, filtering, reporting, commands, availability and
    /// watchdog. Single-threaded and driven by <see cref="Tick"/>, which the device's Program (or the simulator)
    /// calls in a loop every ~100 ms; all timing comes from <see cref="IClock.UptimeMilliseconds"/>.
    /// </summary>
    public sealed class NodeController
    {
        public const int ReadingQos = 1;
        public const int StatusQos = 1;
        public const int MaxMessagesPerTick = 8;

        private readonly NodeConfig _config;
        private readonly NodeServices _services;
        private readonly SensorLimits _limits;
        private readonly ReadingChannel _temperature;
        private readonly ReadingChannel _humidity;
        private readonly string _statusTopic;
        private readonly string _stateTopic;
        private readonly string _commandTopic;
        private readonly long _bootMs;
        private long _nextReadMs;
        private long _lastStatePublishMs;
        private bool _readNow;
        private bool _forcePublish;
        private bool _stateDirty;
        private bool _hadSuccessfulRead;

        public NodeController(NodeConfig config, NodeServices services)
        {
            _config = config;
            _services = services;
            _limits = SensorLimits.For(config.SensorModel);
            long heartbeatMs = config.HeartbeatSeconds * 1000L;
            _temperature = new ReadingChannel(TopicNames.Temperature, 1, _limits.MinTemperature, _limits.MaxTemperature,
                config.TemperatureJumpLimit, config.MedianWindow, config.TemperatureDeadband, heartbeatMs);
            _humidity = new ReadingChannel(TopicNames.Humidity, 1, _limits.MinHumidity, _limits.MaxHumidity,
                config.HumidityJumpLimit, config.MedianWindow, config.HumidityDeadband, heartbeatMs);
            _statusTopic = TopicNames.StatusOf(config.Room);
            _stateTopic = TopicNames.StateOf(config.Room);
            _commandTopic = TopicNames.CommandOf(config.Room);
            _bootMs = services.Clock.UptimeMilliseconds;
            _nextReadMs = _bootMs;
            IntervalSeconds = config.EffectiveReadIntervalSeconds;
            var random = new PseudoRandom(PseudoRandom.SeedFrom(config.EffectiveNodeId, _bootMs));
            Connection = new ConnectionManager(config, services.Network, services.Session, services.Log, random, _bootMs);
        }

        public ConnectionManager Connection { get; }

        /// <summary>The read interval in use (config, or changed by the interval command; never below the model's minimum).</summary>
        public int IntervalSeconds { get; private set; }

        public int ReadFailures { get; private set; }

        public int ConsecutiveReadFailures { get; private set; }

        /// <summary>True once a deliberate restart was carried out; <see cref="Tick"/> then does nothing.</summary>
        public bool Stopped { get; private set; }

        public ReadingChannel TemperatureChannel
        {
            get { return _temperature; }
        }

        public ReadingChannel HumidityChannel
        {
            get { return _humidity; }
        }

        public bool SensorFailing
        {
            get { return ConsecutiveReadFailures >= _config.SensorFailureThreshold; }
        }

        public LedMode LedMode
        {
            get { return Connection.State != ConnectionState.Online || SensorFailing ? LedMode.SlowBlink : LedMode.Off; }
        }

        /// <summary>One pass of the node's loop.</summary>
        public void Tick()
        {
            if (Stopped)
            {
                return;
            }

            long now = _services.Clock.UptimeMilliseconds;
            ConnectionEvent change = Connection.Tick(now);
            if (change == ConnectionEvent.Connected)
            {
                OnConnected();
            }

            if (Connection.State == ConnectionState.Online)
            {
                HandleMessages(now);
                if (Stopped)
                {
                    return;
                }
            }

            if (now >= _nextReadMs || _readNow)
            {
                TakeReading(now);
            }

            if (Connection.State == ConnectionState.Online)
            {
                PublishDue(now);
            }

            if (_config.WatchdogSeconds > 0 && now - Connection.LastOnlineMs >= _config.WatchdogSeconds * 1000L)
            {
                Restart("watchdog: no MQTT connection for " + _config.WatchdogSeconds.ToString() + " s");
                return;
            }

            if (_services.Led != null)
            {
                _services.Led.Set(StatusLedPattern.IsOn(LedMode, now) != _config.LedInverted);
            }
        }

        /// <summary>
        /// A deliberate restart: publish <c>offline</c> (retained) and disconnect cleanly when connected, so the broker
        /// does not need the will; then reboot.
        /// </summary>
        public void Restart(string reason)
        {
            _services.Log.Write("restart: " + reason);
            if (Connection.State == ConnectionState.Online && _services.Session.IsConnected)
            {
                _services.Session.Publish(_statusTopic, Availability.Offline, StatusQos, true);
                _services.Session.Disconnect();
            }

            Stopped = true;
            _services.Restarter.Restart(reason);
        }

        /// <summary>The current state message contents.</summary>
        public NodeStatus Snapshot()
        {
            long now = _services.Clock.UptimeMilliseconds;
            var status = new NodeStatus();
            status.Temperature = _temperature.Value;
            status.Humidity = _humidity.Value;
            DateTime utc;
            if (_services.Clock.TryGetUtcNow(out utc))
            {
                status.Time = Formatting.TimestampFormat.Iso8601Utc(utc);
            }

            status.FirmwareVersion = FirmwareInfo.Version;
            status.UptimeSeconds = (now - _bootMs) / 1000;
            status.FreeMemoryBytes = _services.DeviceInfo != null ? _services.DeviceInfo.FreeMemoryBytes : -1;
            status.ReadFailures = ReadFailures;
            status.ConsecutiveReadFailures = ConsecutiveReadFailures;
            status.RejectedReadings = _temperature.Rejected + _humidity.Rejected;
            status.SensorHealth = SensorFailing ? "failing" : (_hadSuccessfulRead ? "ok" : "starting");
            status.IntervalSeconds = IntervalSeconds;
            status.Reconnects = Connection.ConnectionLosses;
            status.WifiFailures = Connection.NetworkFailures;
            status.MqttFailures = Connection.BrokerFailures;
            status.SignalDbm = _services.Network.SignalDbm;
            return status;
        }

        private void OnConnected()
        {
            IMqttSession session = _services.Session;
            session.Publish(_statusTopic, Availability.Online, StatusQos, true);
            if (_config.Commands)
            {
                session.Subscribe(_commandTopic, 1);
            }

            if (_config.Discovery)
            {
                session.Subscribe(TopicNames.HomeAssistantStatus, 1);
                PublishDiscovery();
            }

            // Only the latest state goes out after a reconnect: nothing read while offline was queued.
            _forcePublish = true;
        }

        private void PublishDiscovery()
        {
            string platform = _services.DeviceInfo != null ? _services.DeviceInfo.Platform : "ESP32";
            _services.Session.Publish(DiscoveryMessage.Topic(_config, TopicNames.Temperature),
                DiscoveryMessage.Build(_config, TopicNames.Temperature, FirmwareInfo.Version, platform), 1, true);
            _services.Session.Publish(DiscoveryMessage.Topic(_config, TopicNames.Humidity),
                DiscoveryMessage.Build(_config, TopicNames.Humidity, FirmwareInfo.Version, platform), 1, true);
        }

        private void HandleMessages(long now)
        {
            for (int i = 0; i < MaxMessagesPerTick; i++)
            {
                InboundMessage message = _services.Session.TakeMessage();
                if (message == null)
                {
                    return;
                }

                if (message.Topic == _commandTopic)
                {
                    HandleCommand(message, now);
                    if (Stopped)
                    {
                        return;
                    }
                }
                else if (message.Topic == TopicNames.HomeAssistantStatus && message.Payload == Availability.Online && _config.Discovery)
                {
                    _services.Log.Write("homeassistant: online; republishing discovery and state");
                    PublishDiscovery();
                    _forcePublish = true;
                }
            }
        }

        private void HandleCommand(InboundMessage message, long now)
        {
            if (!_config.Commands)
            {
                return;
            }

            if (message.Retained)
            {
                // A retained command would be replayed at every connect (a retained "restart" would loop forever).
                _services.Log.Write("command: ignoring retained message '" + message.Payload + "'");
                return;
            }

            NodeCommand command = CommandParser.Parse(message.Payload);
            switch (command.Kind)
            {
                case CommandKind.SetInterval:
                    int seconds = command.IntervalSeconds < _limits.MinIntervalSeconds ? _limits.MinIntervalSeconds : command.IntervalSeconds;
                    IntervalSeconds = seconds;
                    if (_nextReadMs > now + (seconds * 1000L))
                    {
                        _nextReadMs = now + (seconds * 1000L);
                    }

                    _stateDirty = true;
                    _services.Log.Write("command: read interval now " + seconds.ToString() + " s");
                    break;
                case CommandKind.ReadNow:
                    _readNow = true;
                    _forcePublish = true;
                    _services.Log.Write("command: reading now");
                    break;
                case CommandKind.Restart:
                    Restart("command on " + _commandTopic);
                    break;
                default:
                    _services.Log.Write("command: '" + message.Payload + "' rejected: " + command.Error);
                    break;
            }
        }

        private void TakeReading(long now)
        {
            _readNow = false;
            _nextReadMs = now + (IntervalSeconds * 1000L);
            double temperature;
            double humidity;
            bool ok;
            try
            {
                ok = _services.Sensor.Read(out temperature, out humidity);
            }
            catch (Exception ex)
            {
                _services.Log.Write("sensor: " + ex.Message);
                temperature = double.NaN;
                humidity = double.NaN;
                ok = false;
            }

            if (!ok)
            {
                ReadFailures++;
                ConsecutiveReadFailures++;
                if (ConsecutiveReadFailures == _config.SensorFailureThreshold)
                {
                    _services.Log.Write("sensor: " + ConsecutiveReadFailures.ToString() + " failed reads in a row; check wiring and pins");
                    _stateDirty = true;
                }

                return;
            }

            if (SensorFailing)
            {
                _services.Log.Write("sensor: reading again after " + ConsecutiveReadFailures.ToString() + " failures");
                _stateDirty = true;
            }

            ConsecutiveReadFailures = 0;
            _hadSuccessfulRead = true;
            LogRejection(_temperature, _temperature.Offer(temperature), temperature);
            LogRejection(_humidity, _humidity.Offer(humidity), humidity);
        }

        private void LogRejection(ReadingChannel channel, Plausibility verdict, double raw)
        {
            if (verdict == Plausibility.Accepted)
            {
                return;
            }

            string why = verdict == Plausibility.NotANumber ? "not a number" : (verdict == Plausibility.OutOfRange ? "outside the " + _limits.Name + " range" : "jump too large");
            _services.Log.Write("sensor: rejected " + channel.Type + " " + Formatting.DecimalFormat.Format(raw, 1) + " (" + why + ")");
        }

        private void PublishDue(long now)
        {
            bool published = PublishChannel(_temperature, now);
            published = PublishChannel(_humidity, now) || published;
            bool heartbeat = now - _lastStatePublishMs >= _config.HeartbeatSeconds * 1000L;
            if (published || _forcePublish || _stateDirty || heartbeat)
            {
                if (_services.Session.Publish(_stateTopic, StateMessage.Build(Snapshot()), ReadingQos, true))
                {
                    _lastStatePublishMs = now;
                    _stateDirty = false;
                }
            }

            _forcePublish = false;
        }

        private bool PublishChannel(ReadingChannel channel, long now)
        {
            if (!channel.HasValue || !(_forcePublish || channel.ShouldPublish(now)))
            {
                return false;
            }

            string topic = TopicNames.Reading(channel.Type, _config.Room);
            if (!_services.Session.Publish(topic, Formatting.DecimalFormat.Format(channel.Value, channel.Decimals), ReadingQos, true))
            {
                return false;
            }

            channel.MarkPublished(now);
            return true;
        }
    }
}
