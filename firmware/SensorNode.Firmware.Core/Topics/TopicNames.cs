namespace SensorNode.Firmware.Core.Topics
{
    /// <summary>The topics a node uses; all follow <c>sensor/&lt;type&gt;/&lt;room&gt;</c>.</summary>
    public static class TopicNames
    {
        public const string Temperature = "temperature";
        public const string Humidity = "humidity";

        /// <summary>Home Assistant's own availability topic (birth "online"): discovery is republished when it arrives.</summary>
        public const string HomeAssistantStatus = "homeassistant/status";

        public static string Reading(string type, string room)
        {
            return "sensor/" + type + "/" + room;
        }

        public static string TemperatureOf(string room)
        {
            return Reading(Temperature, room);
        }

        public static string HumidityOf(string room)
        {
            return Reading(Humidity, room);
        }

        /// <summary>Availability: "online"/"offline", retained; also the Last Will topic.</summary>
        public static string StatusOf(string room)
        {
            return Reading("status", room);
        }

        /// <summary>The JSON state message.</summary>
        public static string StateOf(string room)
        {
            return Reading("state", room);
        }

        /// <summary>Commands to the node (interval, read, restart).</summary>
        public static string CommandOf(string room)
        {
            return Reading("command", room);
        }

        /// <summary>Home Assistant discovery: <c>&lt;prefix&gt;/sensor/&lt;node_id&gt;_&lt;type&gt;/config</c>.</summary>
        public static string DiscoveryOf(string discoveryPrefix, string nodeId, string type)
        {
            return discoveryPrefix + "/sensor/" + nodeId + "_" + type + "/config";
        }
    }
}
