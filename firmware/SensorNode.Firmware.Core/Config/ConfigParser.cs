using System.Collections;
using SensorNode.Firmware.Core.Formatting;
using SensorNode.Firmware.Core.Readings;
using SensorNode.Firmware.Core.Topics;

namespace SensorNode.Firmware.Core.Config
{
    /// <summary>
    /// Reads the line-based configuration file: one <c>key=value</c> per line, UTF-8; blank lines and lines
    /// starting with <c>#</c> are ignored; spaces around key and value are trimmed; a value in double quotes keeps
    /// its inner spaces. Unknown or repeated keys are errors. Every error names the line and the key.
    /// </summary>
    public static class ConfigParser
    {
        public static ConfigParseResult Parse(string text)
        {
            var config = new NodeConfig();
            var errors = new ArrayList();
            string[] keys = ConfigKeys.All;
            int[] lineOfKey = new int[keys.Length];

            if (text == null)
            {
                errors.Add("no configuration found");
                return Finish(config, errors);
            }

            if (text.Length > 0 && text[0] == (char)0xFEFF)
            {
                text = text.Substring(1);
            }

            string[] lines = text.Split('\n');
            for (int i = 0; i < lines.Length; i++)
            {
                int lineNumber = i + 1;
                string line = lines[i].Trim();
                if (line.Length == 0 || line[0] == '#')
                {
                    continue;
                }

                int equals = line.IndexOf('=');
                if (equals <= 0)
                {
                    errors.Add("line " + lineNumber.ToString() + ": expected key=value");
                    continue;
                }

                string key = AsciiText.ToLower(line.Substring(0, equals).Trim());
                string value = line.Substring(equals + 1).Trim();
                if (value.Length >= 2 && value[0] == '"' && value[value.Length - 1] == '"')
                {
                    value = value.Substring(1, value.Length - 2);
                }

                int keyIndex = IndexOf(keys, key);
                if (keyIndex < 0)
                {
                    errors.Add(Prefix(lineNumber, key) + "unknown key");
                    continue;
                }

                if (lineOfKey[keyIndex] != 0)
                {
                    errors.Add(Prefix(lineNumber, key) + "repeated (first set on line " + lineOfKey[keyIndex].ToString() + ")");
                    continue;
                }

                lineOfKey[keyIndex] = lineNumber;
                string problem = Apply(config, key, value);
                if (problem != null)
                {
                    if (!ConfigKeys.IsSecret(key) && value.Length <= 64)
                    {
                        problem += " (got '" + value + "')";
                    }

                    errors.Add(Prefix(lineNumber, key) + problem);
                }
            }

            CheckRequired(keys, lineOfKey, errors);
            CheckCombinations(config, keys, lineOfKey, errors);
            return Finish(config, errors);
        }

        private static ConfigParseResult Finish(NodeConfig config, ArrayList errors)
        {
            string[] result = new string[errors.Count];
            for (int i = 0; i < errors.Count; i++)
            {
                result[i] = (string)errors[i];
            }

            return new ConfigParseResult(config, result);
        }

        private static string Prefix(int lineNumber, string key)
        {
            return "line " + lineNumber.ToString() + ", key '" + key + "': ";
        }

        private static int IndexOf(string[] keys, string key)
        {
            for (int i = 0; i < keys.Length; i++)
            {
                if (keys[i] == key)
                {
                    return i;
                }
            }

            return -1;
        }

        private static void CheckRequired(string[] keys, int[] lineOfKey, ArrayList errors)
        {
            string[] required = new string[] { ConfigKeys.WifiSsid, ConfigKeys.MqttHost, ConfigKeys.Room };
            for (int i = 0; i < required.Length; i++)
            {
                if (lineOfKey[IndexOf(keys, required[i])] == 0)
                {
                    errors.Add("key '" + required[i] + "': required but missing");
                }
            }
        }

        private static void CheckCombinations(NodeConfig config, string[] keys, int[] lineOfKey, ArrayList errors)
        {
            if (config.MqttTls && lineOfKey[IndexOf(keys, ConfigKeys.MqttPort)] == 0)
            {
                config.MqttPort = 8883;
            }

            int passwordLine = lineOfKey[IndexOf(keys, ConfigKeys.MqttPassword)];
            if (config.MqttPassword.Length > 0 && config.MqttUser.Length == 0)
            {
                errors.Add(Prefix(passwordLine, ConfigKeys.MqttPassword) + "needs mqtt_user (MQTT sends no password without a user name)");
            }

            int min = SensorLimits.For(config.SensorModel).MinIntervalSeconds;
            if (config.ReadIntervalSeconds < min)
            {
                errors.Add(Prefix(lineOfKey[IndexOf(keys, ConfigKeys.ReadInterval)], ConfigKeys.ReadInterval)
                    + "must be at least " + min.ToString() + " s for " + SensorLimits.For(config.SensorModel).Name);
            }

            if (config.HeartbeatSeconds < config.ReadIntervalSeconds)
            {
                errors.Add(Prefix(lineOfKey[IndexOf(keys, ConfigKeys.Heartbeat)], ConfigKeys.Heartbeat)
                    + "must not be shorter than read_interval_s (" + config.ReadIntervalSeconds.ToString() + ")");
            }

            if (config.BackoffMaxSeconds < config.BackoffMinSeconds)
            {
                errors.Add(Prefix(lineOfKey[IndexOf(keys, ConfigKeys.BackoffMax)], ConfigKeys.BackoffMax)
                    + "must not be smaller than backoff_min_s (" + config.BackoffMinSeconds.ToString() + ")");
            }

            if (config.SensorEchoPin == config.SensorTriggerPin)
            {
                errors.Add(Prefix(lineOfKey[IndexOf(keys, ConfigKeys.SensorTriggerPin)], ConfigKeys.SensorTriggerPin)
                    + "must differ from sensor_echo_pin (the ESP32 binding uses two GPIOs joined to the data line)");
            }

            if (config.LedPin >= 0 && (config.LedPin == config.SensorEchoPin || config.LedPin == config.SensorTriggerPin))
            {
                errors.Add(Prefix(lineOfKey[IndexOf(keys, ConfigKeys.LedPin)], ConfigKeys.LedPin) + "must not be one of the sensor pins");
            }
        }

        /// <summary>Applies one key; returns null when fine, else the problem.</summary>
        private static string Apply(NodeConfig config, string key, string value)
        {
            int number;
            double real;
            bool flag;
            switch (key)
            {
                case ConfigKeys.WifiSsid:
                    if (value.Length < 1 || value.Length > 32)
                    {
                        return "must be 1 to 32 characters";
                    }

                    config.WifiSsid = value;
                    return null;
                case ConfigKeys.WifiPassword:
                    if (value.Length != 0 && (value.Length < 8 || value.Length > 63))
                    {
                        return "must be empty (open network) or 8 to 63 characters";
                    }

                    config.WifiPassword = value;
                    return null;
                case ConfigKeys.MqttHost:
                    if (value.Length < 1 || value.Length > 253 || value.IndexOf(' ') >= 0)
                    {
                        return "must be a host name or IP address (1 to 253 characters, no spaces)";
                    }

                    config.MqttHost = value;
                    return null;
                case ConfigKeys.MqttPort:
                    if (!Int(value, 1, 65535, out number))
                    {
                        return "must be a whole number from 1 to 65535";
                    }

                    config.MqttPort = number;
                    return null;
                case ConfigKeys.MqttTls:
                    if (!Bool(value, out flag))
                    {
                        return BoolProblem;
                    }

                    config.MqttTls = flag;
                    return null;
                case ConfigKeys.MqttUser:
                    if (value.Length > 128)
                    {
                        return "must be at most 128 characters";
                    }

                    config.MqttUser = value;
                    return null;
                case ConfigKeys.MqttPassword:
                    if (value.Length > 128)
                    {
                        return "must be at most 128 characters";
                    }

                    config.MqttPassword = value;
                    return null;
                case ConfigKeys.MqttKeepAlive:
                    if (!Int(value, 5, 3600, out number))
                    {
                        return "must be a whole number of seconds from 5 to 3600";
                    }

                    config.MqttKeepAliveSeconds = number;
                    return null;
                case ConfigKeys.Room:
                    string roomProblem = RoomName.Validate(value);
                    if (roomProblem != null)
                    {
                        return roomProblem;
                    }

                    config.Room = value;
                    return null;
                case ConfigKeys.NodeId:
                    string idProblem = NodeId.Validate(value);
                    if (idProblem != null)
                    {
                        return idProblem;
                    }

                    config.NodeId = value;
                    return null;
                case ConfigKeys.SensorModel:
                    string model = AsciiText.ToLower(value);
                    if (model == "dht22" || model == "am2302")
                    {
                        config.SensorModel = SensorModel.Dht22;
                        return null;
                    }

                    if (model == "dht11")
                    {
                        config.SensorModel = SensorModel.Dht11;
                        return null;
                    }

                    return "must be DHT11 or DHT22 (AM2302)";
                case ConfigKeys.SensorEchoPin:
                    return SensorPin(value, false, out number) ?? SetEcho(config, number);
                case ConfigKeys.SensorTriggerPin:
                    return SensorPin(value, true, out number) ?? SetTrigger(config, number);
                case ConfigKeys.LedPin:
                    if (!Int(value, -1, 33, out number))
                    {
                        return "must be -1 (no LED) or an output-capable GPIO from 0 to 33";
                    }

                    if (number >= 6 && number <= 11)
                    {
                        return "GPIO 6 to 11 are wired to the flash chip";
                    }

                    config.LedPin = number;
                    return null;
                case ConfigKeys.LedInverted:
                    if (!Bool(value, out flag))
                    {
                        return BoolProblem;
                    }

                    config.LedInverted = flag;
                    return null;
                case ConfigKeys.ReadInterval:
                    if (!Int(value, 1, 3600, out number))
                    {
                        return "must be a whole number of seconds from 1 to 3600";
                    }

                    config.ReadIntervalSeconds = number;
                    return null;
                case ConfigKeys.Heartbeat:
                    if (!Int(value, 10, 86400, out number))
                    {
                        return "must be a whole number of seconds from 10 to 86400";
                    }

                    config.HeartbeatSeconds = number;
                    return null;
                case ConfigKeys.TemperatureDeadband:
                    if (!Real(value, 0, 10, out real))
                    {
                        return "must be a number from 0 to 10 (°C)";
                    }

                    config.TemperatureDeadband = real;
                    return null;
                case ConfigKeys.HumidityDeadband:
                    if (!Real(value, 0, 50, out real))
                    {
                        return "must be a number from 0 to 50 (%RH)";
                    }

                    config.HumidityDeadband = real;
                    return null;
                case ConfigKeys.TemperatureJump:
                    if (!Real(value, 0.5, 100, out real))
                    {
                        return "must be a number from 0.5 to 100 (°C between two readings)";
                    }

                    config.TemperatureJumpLimit = real;
                    return null;
                case ConfigKeys.HumidityJump:
                    if (!Real(value, 1, 100, out real))
                    {
                        return "must be a number from 1 to 100 (%RH between two readings)";
                    }

                    config.HumidityJumpLimit = real;
                    return null;
                case ConfigKeys.MedianWindow:
                    if (!Int(value, 1, 9, out number))
                    {
                        return "must be a whole number from 1 (off) to 9";
                    }

                    config.MedianWindow = number;
                    return null;
                case ConfigKeys.Discovery:
                    if (!Bool(value, out flag))
                    {
                        return BoolProblem;
                    }

                    config.Discovery = flag;
                    return null;
                case ConfigKeys.DiscoveryPrefix:
                    if (value.Length == 0 || value.IndexOf('+') >= 0 || value.IndexOf('#') >= 0 || value[0] == '/' || value[value.Length - 1] == '/')
                    {
                        return "must be a topic prefix without wildcards or leading/trailing '/'";
                    }

                    config.DiscoveryPrefix = value;
                    return null;
                case ConfigKeys.Commands:
                    if (!Bool(value, out flag))
                    {
                        return BoolProblem;
                    }

                    config.Commands = flag;
                    return null;
                case ConfigKeys.BackoffMin:
                    if (!Int(value, 1, 3600, out number))
                    {
                        return "must be a whole number of seconds from 1 to 3600";
                    }

                    config.BackoffMinSeconds = number;
                    return null;
                case ConfigKeys.BackoffMax:
                    if (!Int(value, 1, 3600, out number))
                    {
                        return "must be a whole number of seconds from 1 to 3600";
                    }

                    config.BackoffMaxSeconds = number;
                    return null;
                case ConfigKeys.Watchdog:
                    if (!Int(value, 0, 86400, out number) || (number > 0 && number < 60))
                    {
                        return "must be 0 (off) or a whole number of seconds from 60 to 86400";
                    }

                    config.WatchdogSeconds = number;
                    return null;
                case ConfigKeys.SensorFailureThreshold:
                    if (!Int(value, 1, 100, out number))
                    {
                        return "must be a whole number from 1 to 100";
                    }

                    config.SensorFailureThreshold = number;
                    return null;
                default:
                    return "unknown key";
            }
        }

        private const string BoolProblem = "must be true or false (also yes/no, on/off, 1/0)";

        private static string SensorPin(string value, bool mustDrive, out int pin)
        {
            if (!Int(value, 0, 39, out pin))
            {
                return "must be a GPIO number from 0 to 39";
            }

            if (pin >= 6 && pin <= 11)
            {
                return "GPIO 6 to 11 are wired to the flash chip";
            }

            if (pin == 0 || pin == 2 || pin == 5 || pin == 12 || pin == 15)
            {
                return "is a boot-strapping pin (avoid GPIO 0, 2, 5, 12, 15; use e.g. 25, 26, 27, 32, 33)";
            }

            if (mustDrive && pin >= 34)
            {
                return "GPIO 34 to 39 are input-only and cannot drive the start pulse";
            }

            return null;
        }

        private static string SetEcho(NodeConfig config, int pin)
        {
            config.SensorEchoPin = pin;
            return null;
        }

        private static string SetTrigger(NodeConfig config, int pin)
        {
            config.SensorTriggerPin = pin;
            return null;
        }

        private static bool Int(string value, int min, int max, out int result)
        {
            return DecimalFormat.TryParseInt(value, out result) && result >= min && result <= max;
        }

        private static bool Real(string value, double min, double max, out double result)
        {
            return DecimalFormat.TryParse(value, out result) && result >= min && result <= max;
        }

        private static bool Bool(string value, out bool result)
        {
            string v = AsciiText.ToLower(value);
            result = v == "true" || v == "yes" || v == "on" || v == "1";
            return result || v == "false" || v == "no" || v == "off" || v == "0";
        }
    }
}
