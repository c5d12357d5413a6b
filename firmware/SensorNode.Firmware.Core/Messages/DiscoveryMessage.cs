using SensorNode.Firmware.Core.Config;
using SensorNode.Firmware.Core.Formatting;
using SensorNode.Firmware.Core.Readings;
using SensorNode.Firmware.Core.Topics;

namespace SensorNode.Firmware.Core.Messages
{
    /// <summary>
    /// Home Assistant MQTT discovery config for one sensor entity, published retained on
    /// <c>homeassistant/sensor/&lt;node_id&gt;_&lt;type&gt;/config</c> (long key names, for readability).
    /// </summary>
    public static class DiscoveryMessage
    {
        public static string Topic(NodeConfig config, string type)
        {
            return TopicNames.DiscoveryOf(config.DiscoveryPrefix, config.EffectiveNodeId, type);
        }

        public static string Build(NodeConfig config, string type, string firmwareVersion, string platform)
        {
            bool temperature = type == TopicNames.Temperature;
            string nodeId = config.EffectiveNodeId;
            var json = new JsonWriter();
            json.Text("name", temperature ? "Temperature" : "Humidity");
            json.Text("unique_id", nodeId + "_" + type);
            json.Text("object_id", nodeId + "_" + type);
            json.Text("state_topic", TopicNames.Reading(type, config.Room));
            json.Text("availability_topic", TopicNames.StatusOf(config.Room));
            json.Text("payload_available", Availability.Online);
            json.Text("payload_not_available", Availability.Offline);
            json.Text("device_class", type);
            json.Text("unit_of_measurement", temperature ? "°C" : "%");
            json.Text("state_class", "measurement");
            json.Integer("suggested_display_precision", 1);
            json.Integer("expire_after", (long)config.HeartbeatSeconds * 3);
            json.BeginObject("device");
            json.TextArray("identifiers", new string[] { nodeId });
            json.Text("name", "SensorNode " + config.Room);
            json.Text("manufacturer", "SensorNode");
            json.Text("model", platform + " + " + SensorLimits.For(config.SensorModel).Name);
            json.Text("sw_version", firmwareVersion);
            json.Text("suggested_area", config.Room);
            json.EndObject();
            return json.Finish();
        }
    }
}
