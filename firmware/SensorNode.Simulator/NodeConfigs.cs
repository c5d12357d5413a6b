using SensorNode.Firmware.Core.Config;

namespace SensorNode.Simulator;

/// <summary>Builds virtual nodes' configurations through the firmware's own parser (so they obey the same rules).</summary>
public static class NodeConfigs
{
    public static ConfigParseResult For(string room, string host, int port, int intervalSeconds, string extraLines = "")
    {
        int heartbeat = Math.Max(10, intervalSeconds * 6);
        string text = $"""
            # virtual node
            wifi_ssid=simulated
            mqtt_host={host}
            mqtt_port={port}
            room={room}
            sensor_model=DHT22
            read_interval_s={Math.Max(2, intervalSeconds)}
            heartbeat_s={heartbeat}
            backoff_min_s=1
            backoff_max_s=10
            {extraLines}
            """;
        return ConfigParser.Parse(text);
    }
}
