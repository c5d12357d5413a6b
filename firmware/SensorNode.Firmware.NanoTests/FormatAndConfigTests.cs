using nanoFramework.TestFramework;
using SensorNode.Firmware.Core.Config;
using SensorNode.Firmware.Core.Formatting;
using SensorNode.Firmware.Core.Topics;

namespace SensorNode.Firmware.NanoTests
{
    /// <summary>Formats and config parsing, run inside nanoCLR: the run-time behaviour desktop .NET cannot show.</summary>
    [TestClass]
    public class FormatAndConfigTests
    {
        [TestMethod]
        [DataRow(21.4, "21.4")]
        [DataRow(-5.25, "-5.3")]
        [DataRow(-0.04, "0.0")]
        [DataRow(99.95, "100.0")]
        public void Decimal_is_invariant_with_one_decimal(double value, string expected)
        {
            Assert.AreEqual(expected, DecimalFormat.Format(value, 1));
        }

        [TestMethod]
        public void Topics_follow_sensor_type_room()
        {
            Assert.AreEqual("sensor/temperature/kitchen", TopicNames.TemperatureOf("kitchen"));
            Assert.AreEqual("sensor/status/kitchen", TopicNames.StatusOf("kitchen"));
        }

        [TestMethod]
        public void Room_validation()
        {
            Assert.IsTrue(RoomName.IsValid("kitchen"));
            Assert.IsFalse(RoomName.IsValid("a/b"));
            Assert.IsFalse(RoomName.IsValid("a+b"));
            Assert.IsFalse(RoomName.IsValid(""));

            // Found on the real nanoCLR: its string indexer misreads the low half of a surrogate pair.
            Assert.IsTrue(RoomName.IsValid("den\U0001F600"));
        }

        [TestMethod]
        public void Config_defaults_and_errors_with_line_and_key()
        {
            ConfigParseResult ok = ConfigParser.Parse("wifi_ssid=lab\nmqtt_host=h\nroom=kitchen\n");
            Assert.IsTrue(ok.IsValid);
            Assert.AreEqual(1883, ok.Config.MqttPort);
            Assert.AreEqual("sensornode_kitchen", ok.Config.EffectiveNodeId);

            ConfigParseResult bad = ConfigParser.Parse("wifi_ssid=lab\nmqtt_host=h\nroom=kitchen\nmqtt_port=abc\n");
            Assert.AreEqual(1, bad.Errors.Length);
            Assert.StartsWith("line 4, key 'mqtt_port'", bad.Errors[0]);
        }

        [TestMethod]
        public void Json_writer_escapes()
        {
            string json = new JsonWriter().Text("a", "x\"y").Number("n", 1.25, 2).Finish();
            Assert.AreEqual("{\"a\":\"x\\\"y\",\"n\":1.25}", json);
        }
    }
}
