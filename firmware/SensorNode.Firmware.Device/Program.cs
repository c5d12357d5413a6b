using System;
using System.Device.Gpio;
using System.Threading;
using nanoFramework.Runtime.Native;
using SensorNode.Firmware.Core.Config;
using SensorNode.Firmware.Core.Node;
using SensorNode.Firmware.Device.Adapters;

namespace SensorNode.Firmware.Device
{
    /// <summary>
    /// The device's entry point: load and validate the configuration, wire the adapters to the portable core and
    /// run its loop. All behaviour lives in SensorNode.Firmware.Core (NodeController); this file only drives it.
    /// </summary>
    public static class Program
    {
        /// <summary>Where flash.ps1 puts the configuration (internal flash drive).</summary>
        public const string ConfigPath = "I:\\sensornode.conf";

        private const int TickMs = 100;
        private const int ConfigRetryMs = 30000;
        private const int MaxConsecutiveLoopErrors = 50;

        public static void Main()
        {
            var log = new SerialLog();
            var clock = new DeviceClock();
            var gpio = new GpioController();
            log.Write("SensorNode firmware " + FirmwareInfo.Version + " starting");

            GpioStatusLed led = null;
            NodeConfig config = LoadConfig(new FileConfigStore(ConfigPath), log, clock, gpio, ref led);

            var services = new NodeServices();
            services.Sensor = new DhtSensor(config.SensorModel, config.SensorEchoPin, config.SensorTriggerPin);
            services.Session = new M2MqttSession();
            services.Network = new WifiNetwork();
            services.Clock = clock;
            services.Led = led;
            services.Restarter = new DeviceRestarter();
            services.Log = log;
            services.DeviceInfo = new DeviceInfo();

            var node = new NodeController(config, services);
            log.Write("room '" + config.Room + "', node id " + config.EffectiveNodeId + ", broker " + config.MqttHost + ":" + config.MqttPort.ToString());

            int consecutiveErrors = 0;
            while (true)
            {
                try
                {
                    node.Tick();
                    consecutiveErrors = 0;
                }
                catch (Exception ex)
                {
                    // The core catches adapter failures itself; this is the last line of defence.
                    consecutiveErrors++;
                    log.Write("loop error " + consecutiveErrors.ToString() + ": " + ex.Message);
                    if (consecutiveErrors >= MaxConsecutiveLoopErrors)
                    {
                        log.Write("too many loop errors; rebooting");
                        Power.RebootDevice(RebootOption.NormalReboot);
                    }
                }

                Thread.Sleep(TickMs);
            }
        }

        /// <summary>
        /// Reads and validates the configuration; while it is missing or invalid, reports every problem (line and key)
        /// every 30 s and blinks the LED fast — never a crash or reboot loop. Returns a valid configuration.
        /// </summary>
        private static NodeConfig LoadConfig(FileConfigStore store, SerialLog log, DeviceClock clock, GpioController gpio, ref GpioStatusLed led)
        {
            while (true)
            {
                ConfigParseResult parsed = ConfigLoader.Load(store, log);
                NodeConfig config = parsed.Config;
                led = OpenLed(gpio, led, config.LedPin, log);
                if (parsed.IsValid)
                {
                    return config;
                }

                long until = clock.UptimeMilliseconds + ConfigRetryMs;
                while (clock.UptimeMilliseconds < until)
                {
                    if (led != null)
                    {
                        led.Set(StatusLedPattern.IsOn(LedMode.FastBlink, clock.UptimeMilliseconds) != config.LedInverted);
                    }

                    Thread.Sleep(TickMs);
                }
            }
        }

        private static GpioStatusLed OpenLed(GpioController gpio, GpioStatusLed current, int pin, SerialLog log)
        {
            if (current != null)
            {
                current.Close();
            }

            if (pin < 0)
            {
                return null;
            }

            try
            {
                return new GpioStatusLed(gpio, pin);
            }
            catch (Exception ex)
            {
                log.Write("led: cannot open GPIO " + pin.ToString() + ": " + ex.Message);
                return null;
            }
        }
    }
}
