using System.Globalization;
using System.Text;

namespace SensorNode.Broker.Bridging;

/// <summary>The bridges' numbers for /metrics (Prometheus text format), one sample per bridge labelled with its name.</summary>
public static class BridgeMetricsText
{
    public static void Render(StringBuilder text, IReadOnlyList<Bridge> bridges)
    {
        if (bridges.Count == 0)
        {
            return;
        }

        Family(text, bridges, "sensornode_bridge_connected", "gauge", "1 while the bridge is connected to an upstream.", b => b.IsConnected ? 1 : 0);
        Family(text, bridges, "sensornode_bridge_queued_messages", "gauge", "Messages waiting to go upstream (queued and in flight).", b => b.QueuedMessages);
        Family(text, bridges, "sensornode_bridge_queued_bytes", "gauge", "Bytes of messages queued for the upstream.", b => b.QueuedBytes);
        Family(text, bridges, "sensornode_bridge_dropped_total", "counter", "Messages bound upstream given up (queue bounds, age, broker budget).", b => b.DroppedMessages);
        Family(text, bridges, "sensornode_bridge_forwarded_total", "counter", "PUBLISH packets sent upstream, re-sends included.", b => b.ForwardedMessages);
        Family(text, bridges, "sensornode_bridge_received_total", "counter", "PUBLISH packets received from the upstream.", b => b.ReceivedMessages);
        Family(text, bridges, "sensornode_bridge_connects_total", "counter", "Connections made to an upstream.", b => b.Connects);
    }

    private static void Family(StringBuilder text, IReadOnlyList<Bridge> bridges, string name, string type, string help, Func<Bridge, double> value)
    {
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        foreach (Bridge bridge in bridges)
        {
            string label = bridge.Name.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal);
            text.Append(name).Append("{bridge=\"").Append(label).Append("\"} ")
                .Append(value(bridge).ToString("R", CultureInfo.InvariantCulture)).Append('\n');
        }
    }
}
