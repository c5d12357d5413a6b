using SensorNode.Firmware.Core.Abstractions;
using SensorNode.Firmware.Core.Formatting;

namespace SensorNode.Firmware.Core.Messages
{
    /// <summary>
    /// The JSON on <c>sensor/state/&lt;room&gt;</c>, e.g.
    /// <c>{"temperature":21.4,"humidity":45.0,"time":"2026-11-25T23:51:57Z","firmware":"1.0.0","uptime_s":3600,
    /// "free_memory":81234,"read_failures":0,"consecutive_failures":0,"rejected_readings":0,"sensor":"ok",
    /// "interval_s":10,"reconnects":0,"wifi_failures":0,"mqtt_failures":0,"rssi":-61}</c>. Values not yet known are null; <c>time</c>, <c>free_memory</c>
    /// and <c>rssi</c> are left out when the platform cannot tell.
    /// </summary>
    public static class StateMessage
    {
        public static string Build(NodeStatus status)
        {
            var json = new JsonWriter();
            json.Number("temperature", status.Temperature, 1);
            json.Number("humidity", status.Humidity, 1);
            if (status.Time != null)
            {
                json.Text("time", status.Time);
            }

            json.Text("firmware", status.FirmwareVersion);
            json.Integer("uptime_s", status.UptimeSeconds);
            if (status.FreeMemoryBytes >= 0)
            {
                json.Integer("free_memory", status.FreeMemoryBytes);
            }

            json.Integer("read_failures", status.ReadFailures);
            json.Integer("consecutive_failures", status.ConsecutiveReadFailures);
            json.Integer("rejected_readings", status.RejectedReadings);
            json.Text("sensor", status.SensorHealth);
            json.Integer("interval_s", status.IntervalSeconds);
            json.Integer("reconnects", status.Reconnects);
            json.Integer("wifi_failures", status.WifiFailures);
            json.Integer("mqtt_failures", status.MqttFailures);
            if (status.SignalDbm != SignalStrength.Unknown)
            {
                json.Integer("rssi", status.SignalDbm);
            }

            return json.Finish();
        }
    }
}
