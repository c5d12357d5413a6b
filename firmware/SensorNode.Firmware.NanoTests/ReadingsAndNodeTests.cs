using nanoFramework.TestFramework;
using SensorNode.Firmware.Core.Config;
using SensorNode.Firmware.Core.Connectivity;
using SensorNode.Firmware.Core.Node;
using SensorNode.Firmware.Core.Readings;
using SensorNode.Firmware.NanoTests.Fakes;

namespace SensorNode.Firmware.NanoTests
{
    /// <summary>Filters, backoff and the node loop on nanoCLR, with generic-free fakes.</summary>
    [TestClass]
    public class ReadingsAndNodeTests
    {
        [TestMethod]
        public void Median_filter_and_plausibility()
        {
            var median = new MedianFilter(5);
            median.Add(20.0);
            median.Add(21.0);
            Assert.AreEqual(21.0, median.Add(29.0));

            var check = new PlausibilityCheck(-40, 80, 5);
            Assert.IsTrue(check.Check(21.0) == Plausibility.Accepted);
            Assert.IsTrue(check.Check(double.NaN) == Plausibility.NotANumber);
            Assert.IsTrue(check.Check(95.0) == Plausibility.OutOfRange);
            Assert.IsTrue(check.Check(40.0) == Plausibility.Jump);
        }

        [TestMethod]
        public void Backoff_is_capped()
        {
            var backoff = new Backoff(1000, 8000, new PseudoRandom(42));
            for (int i = 0; i < 20; i++)
            {
                long delay = backoff.NextDelayMs();
                Assert.IsTrue(delay > 0 && delay <= 8000);
            }
        }

        [TestMethod]
        public void Node_goes_online_with_will_and_publishes_readings()
        {
            NodeConfig config = ConfigParser.Parse("wifi_ssid=lab\nmqtt_host=h\nroom=kitchen\n").Config;
            var clock = new NanoClock();
            var session = new NanoSession();
            var services = new NodeServices();
            services.Sensor = new NanoSensor();
            services.Session = session;
            services.Network = new NanoNetwork();
            services.Clock = clock;
            services.Restarter = new NanoRestarter();
            services.Log = new NanoLog();
            var node = new NodeController(config, services);

            node.Tick();

            Assert.AreEqual("sensor/status/kitchen", session.LastConnect.WillTopic);
            Assert.AreEqual("offline", session.LastConnect.WillPayload);
            Assert.AreEqual("online", session.Last("sensor/status/kitchen"));
            Assert.AreEqual("21.0", session.Last("sensor/temperature/kitchen"));
            Assert.AreEqual("45.0", session.Last("sensor/humidity/kitchen"));
        }

        [TestMethod]
        public void Restart_publishes_offline_and_disconnects_cleanly()
        {
            NodeConfig config = ConfigParser.Parse("wifi_ssid=lab\nmqtt_host=h\nroom=kitchen\n").Config;
            var session = new NanoSession();
            var restarter = new NanoRestarter();
            var services = new NodeServices();
            services.Sensor = new NanoSensor();
            services.Session = session;
            services.Network = new NanoNetwork();
            services.Clock = new NanoClock();
            services.Restarter = restarter;
            services.Log = new NanoLog();
            var node = new NodeController(config, services);
            node.Tick();

            node.Restart("test");

            Assert.AreEqual("offline", session.Last("sensor/status/kitchen"));
            Assert.AreEqual(1, session.Disconnects);
            Assert.AreEqual(1, restarter.Count);
        }
    }
}
