using System.Diagnostics;
using System.Globalization;
using System.Text;
using SensorNode.Broker.Diagnostics;

namespace SensorNode.Broker.Http;

/// <summary>The broker's numbers in Prometheus' text exposition format (version 0.0.4), written by hand.</summary>
public static class PrometheusExporter
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Renders every metric; <paramref name="storeFlushSeconds"/> is the time a store flush took just now (null: not measured).</summary>
    public static string Render(BrokerStatus status, double? storeFlushSeconds)
    {
        BrokerSnapshot s = status.Snapshot();
        BrokerMetrics m = status.Broker.Metrics;
        var text = new StringBuilder(4096);

        Metric(text, "sensornode_build_info", "gauge", "Version of the broker; the value is always 1.", 1, $"version=\"{BrokerStatus.Version}\"");
        Metric(text, "sensornode_uptime_seconds", "gauge", "Seconds since the broker started.", s.Uptime.TotalSeconds);
        Metric(text, "sensornode_connections", "gauge", "Open network connections (TCP, TLS and WebSocket), including those not yet through CONNECT.", s.Connections);
        Metric(text, "sensornode_clients_connected", "gauge", "Clients connected (CONNECT accepted).", s.ClientsConnected);
        Metric(text, "sensornode_clients_maximum", "gauge", "Most clients connected at once since start.", s.ClientsMaximum);
        Metric(text, "sensornode_connections_accepted_total", "counter", "Network connections accepted since start.", m.ConnectionsAccepted);
        Metric(text, "sensornode_sessions", "gauge", "Sessions, connected or persistent and offline.", s.Sessions);
        Metric(text, "sensornode_sessions_offline", "gauge", "Persistent sessions whose client is not connected.", s.SessionsDisconnected);
        Metric(text, "sensornode_sessions_expired_total", "counter", "Persistent sessions discarded after their expiry.", m.SessionsExpired);
        Metric(text, "sensornode_subscriptions", "gauge", "Subscriptions of all sessions.", s.Subscriptions);
        Metric(text, "sensornode_retained_messages", "gauge", "Retained messages (including $SYS).", s.RetainedMessages);
        Metric(text, "sensornode_messages_received_total", "counter", "PUBLISH packets received from clients.", s.MessagesReceived);
        Metric(text, "sensornode_messages_sent_total", "counter", "PUBLISH packets sent to clients.", s.MessagesSent);
        if (m.CountsByQos)
        {
            // Each family's lines together, as the text format requires.
            Header(text, "sensornode_messages_received_by_qos_total", "counter", "PUBLISH packets received, by QoS.");
            for (int qos = 0; qos <= 2; qos++)
            {
                Sample(text, "sensornode_messages_received_by_qos_total", m.MessagesReceivedAtQos(qos), $"qos=\"{qos}\"");
            }

            Header(text, "sensornode_messages_sent_by_qos_total", "counter", "PUBLISH packets sent, by QoS.");
            for (int qos = 0; qos <= 2; qos++)
            {
                Sample(text, "sensornode_messages_sent_by_qos_total", m.MessagesSentAtQos(qos), $"qos=\"{qos}\"");
            }
        }

        Metric(text, "sensornode_bytes_received_total", "counter", "Bytes of MQTT packets received.", s.BytesReceived);
        Metric(text, "sensornode_bytes_sent_total", "counter", "Bytes of MQTT packets sent.", s.BytesSent);

        Header(text, "sensornode_messages_dropped_total", "counter", "Messages not delivered to a subscriber, by reason.");
        Sample(text, "sensornode_messages_dropped_total", m.DroppedQueueFull, "reason=\"queue_full\"");
        Sample(text, "sensornode_messages_dropped_total", m.DroppedBrokerQueueBudget, "reason=\"broker_queue_budget\"");
        Sample(text, "sensornode_messages_dropped_total", m.DroppedExpired, "reason=\"expired\"");
        Sample(text, "sensornode_messages_dropped_total", m.DroppedTooLargeForClient, "reason=\"too_large_for_client\"");

        Metric(text, "sensornode_queued_messages", "gauge", "Messages queued in all sessions, waiting to be sent.", s.QueuedMessages);
        Metric(text, "sensornode_inflight_messages", "gauge", "QoS 1/2 messages sent and not yet acknowledged.", s.InflightMessages);
        Metric(text, "sensornode_queued_bytes", "gauge", "Bytes of messages queued in all sessions.", s.QueuedBytes);
        Metric(text, "sensornode_store_size_bytes", "gauge", "Size of the database on disk (0 without persistence).", s.StoreSizeBytes);
        if (storeFlushSeconds is { } flush)
        {
            Metric(text, "sensornode_store_flush_seconds", "gauge", "Time a store flush (waiting for everything submitted to be durable) took at this scrape.", flush);
        }

        Metric(text, "sensornode_protocol_errors_total", "counter", "Connections closed for a protocol violation.", m.ProtocolErrors);
        Metric(text, "sensornode_auth_failures_total", "counter", "CONNECTs refused for credentials or authorisation.", m.AuthFailures);

        Bridging.BridgeMetricsText.Render(text, status.Broker.Bridges);

        using Process process = Process.GetCurrentProcess();
        Metric(text, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", process.WorkingSet64);
        Metric(text, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", process.TotalProcessorTime.TotalSeconds);
        Metric(text, "process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch in seconds.", status.StartedAtUtc.ToUnixTimeMilliseconds() / 1000.0);
        Metric(text, "dotnet_gc_heap_bytes", "gauge", "Bytes of the managed heap in use.", GC.GetTotalMemory(forceFullCollection: false));
        Header(text, "dotnet_gc_collections_total", "counter", "Garbage collections of each generation (a collection of a generation counts for the younger ones too).");
        for (int generation = 0; generation <= GC.MaxGeneration; generation++)
        {
            Sample(text, "dotnet_gc_collections_total", GC.CollectionCount(generation), $"generation=\"{generation}\"");
        }

        Metric(text, "dotnet_gc_pause_seconds_total", "counter", "Time the process was paused for garbage collections.", GC.GetTotalPauseDuration().TotalSeconds);
        Metric(text, "dotnet_gc_allocated_bytes_total", "counter", "Bytes allocated on the managed heap since the start (its rate is what drives collections).", GC.GetTotalAllocatedBytes(precise: false));
        return text.ToString();
    }

    private static void Metric(StringBuilder text, string name, string type, string help, double value, string? labels = null)
    {
        Header(text, name, type, help);
        Sample(text, name, value, labels);
    }

    private static void Header(StringBuilder text, string name, string type, string help)
    {
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        text.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
    }

    private static void Sample(StringBuilder text, string name, double value, string? labels = null)
    {
        text.Append(name);
        if (labels is not null)
        {
            text.Append('{').Append(labels).Append('}');
        }

        text.Append(' ').Append(value.ToString("R", CultureInfo.InvariantCulture)).Append('\n');
    }
}
