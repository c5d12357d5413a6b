using System.Globalization;
using System.Text;
using System.Text.Json;

namespace SensorNode.LoadGenerator;

/// <summary>One repetition of one scenario against one broker; one JSON line in the results file.</summary>
internal sealed class Result
{
    public string Scenario { get; set; } = "";
    public string Broker { get; set; } = "";
    public int Rep { get; set; }
    public long Published { get; set; }
    public long Delivered { get; set; }
    public long Expected { get; set; }
    public long Lost { get; set; }
    public long Duplicates { get; set; }
    public double Seconds { get; set; }
    public double MsgsPerSec { get; set; }
    public double BrokerCpuSec { get; set; }
    public double MsgsPerCpuSec { get; set; }
    public double BrokerCpuPct { get; set; }
    public double GenCpuPct { get; set; }
    public double P50Us { get; set; }
    public double P99Us { get; set; }
    public double P90Us { get; set; }
    public double P999Us { get; set; }
    public double KbPerConn { get; set; }
    public double ConnectsPerSec { get; set; }
    public double RssMb { get; set; }
    public double ReplaySec { get; set; }
    public string Note { get; set; } = "";

    public string ToJson() => JsonSerializer.Serialize(this);

    public string Summary() => string.Create(CultureInfo.InvariantCulture,
        $"{Scenario,-16} {Broker,-18} rep {Rep}: {MsgsPerSec,10:F0} msg/s {MsgsPerCpuSec,10:F0} msg/CPU-s  broker CPU {BrokerCpuPct,5:F0}%  gen CPU {GenCpuPct,5:F0}%  p50 {P50Us,6:F0} p90 {P90Us,6:F0} p99 {P99Us,6:F0} p99.9 {P999Us,6:F0} us  lost {Lost} dup {Duplicates}  {(KbPerConn != 0 ? $"{KbPerConn:F2} KB/conn {ConnectsPerSec:F0} conn/s " : "")}{(RssMb != 0 ? $"RSS {RssMb:F1} MB " : "")}{Note}");
}

/// <summary>Turns the JSON lines of a run into the markdown table: medians per scenario and broker, ratios, targets.</summary>
internal static class Report
{
    private static readonly string[] Peers = ["mosquitto", "mqttnet"];

    private sealed record Metric(string Scenario, string Name, Func<Result, double> Get, bool HigherIsBetter, string Format, string Target, Func<double, double, bool>? Met);

    private static readonly Metric[] Metrics =
    [
        .. new[] { "fanin-max-q0", "fanin-max-q1", "fanin-max-q2" }.SelectMany(s => new[]
        {
            new Metric(s, "msgs / broker-CPU-s", r => r.MsgsPerCpuSec, true, "N0", "≥ 1.5× Mosquitto", (sn, mq) => sn >= 1.5 * mq),
            new Metric(s, "msgs/s", r => r.MsgsPerSec, true, "N0", "", null),
        }),
        .. new[] { "fanin-rate-q0", "fanin-rate-q1", "fanin-tick-q0", "fanin-tick-q1" }.SelectMany(s => new[]
        {
            new Metric(s, "p99 latency (ms)", r => r.P99Us / 1000, false, "F3", "≤ Mosquitto", (sn, mq) => sn <= mq),
            new Metric(s, "p50 latency (ms)", r => r.P50Us / 1000, false, "F3", "", null),
            new Metric(s, "msgs / broker-CPU-s", r => r.MsgsPerCpuSec, true, "N0", "", null),
        }),
        .. new[] { "fanout100-q0", "fanout100-q1", "fanout1000-q0", "fanout1000-q1" }.SelectMany(s => new[]
        {
            new Metric(s, "deliveries / broker-CPU-s", r => r.MsgsPerCpuSec, true, "N0", "≥ 1.5× Mosquitto", (sn, mq) => sn >= 1.5 * mq),
            new Metric(s, "deliveries/s", r => r.MsgsPerSec, true, "N0", "", null),
        }),
        new Metric("idle", "KB per connection", r => r.KbPerConn, false, "F2", "≤ 2 KB", (sn, _) => sn <= 2),
        new Metric("idle", "connects/s", r => r.ConnectsPerSec, true, "N0", "≥ 20,000", (sn, _) => sn >= 20_000),
        // connects/s is bounded by whichever core saturates first, and on loopback the generator's core runs most of
        // the TCP handshake (~24 µs a connect); the broker's CPU per connect shows what the broker itself could take.
        new Metric("idle", "connects / broker-CPU-s", r => r.BrokerCpuSec > 0 ? r.Delivered / r.BrokerCpuSec : 0, true, "N0", "", null),
        new Metric("retained", "replay time (s)", r => r.ReplaySec, false, "F3", "≤ 0.3 s", (sn, _) => sn <= 0.3),
        new Metric("retained", "broker RSS after (MB)", r => r.RssMb, false, "F1", "≤ 50 MB", (sn, _) => sn <= 50),
        new Metric("durable-q1", "msgs / broker-CPU-s", r => r.MsgsPerCpuSec, true, "N0", "", null),
        new Metric("durable-q1", "msgs/s", r => r.MsgsPerSec, true, "N0", "", null),
    ];

    public static string Markdown(IReadOnlyList<Result> results)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| scenario | metric | SensorNode | Mosquitto | MQTTnet | SN/Mosquitto | SN/MQTTnet | target | met | lost (SN/Mq/Mn) |");
        sb.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |");
        foreach (Metric m in Metrics)
        {
            List<Result> rows = results.Where(r => r.Scenario == m.Scenario).ToList();
            if (rows.Count == 0)
            {
                continue;
            }

            double? sn = Median(rows, "sensornode", m.Get);
            double?[] peers = [.. Peers.Select(p => Median(rows, p, m.Get))];
            string Cell(double? v) => v is null ? "–" : v.Value.ToString(m.Format, CultureInfo.InvariantCulture);
            string Ratio(double? a, double? b) => a is null || b is null || b == 0 ? "–" : (a.Value / b.Value).ToString("F2", CultureInfo.InvariantCulture) + "×";
            string met = m.Met is null || sn is null ? "" : m.Met(sn.Value, peers[0] ?? double.NaN) ? "yes" : "**no**";
            string lost = string.Join("/", new[] { "sensornode" }.Concat(Peers).Select(b =>
                rows.Where(r => r.Broker == b).Select(r => r.Lost).DefaultIfEmpty(-1).Max() is var l && l < 0 ? "–" : l.ToString(CultureInfo.InvariantCulture)));
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {m.Scenario} | {m.Name} | {Cell(sn)} | {Cell(peers[0])} | {Cell(peers[1])} | {Ratio(sn, peers[0])} | {Ratio(sn, peers[1])} | {m.Target} | {met} | {lost} |");
        }

        sb.AppendLine();
        sb.AppendLine("Medians over the repetitions. Ratios are SensorNode/peer (for latency, time and memory lower is better, so a ratio below 1 favours SensorNode).");
        return sb.ToString();
    }

    /// <summary>
    /// Every repetition, for the appendix, grouped by scenario (in run order) and broker (the run interleaves the
    /// brokers): broker and generator CPU show which side was saturated.
    /// </summary>
    public static string Details(IReadOnlyList<Result> results)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| scenario | broker | rep | msgs/s | msgs/CPU-s | broker CPU % | gen CPU % | p50 ms | p90 ms | p99 ms | p99.9 ms | lost | dup | KB/conn | conn/s | RSS MB | note |");
        sb.AppendLine("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
        List<string> scenarios = [.. results.Select(r => r.Scenario).Distinct()];
        string[] brokers = ["sensornode", .. Peers];
        int BrokerOrder(string broker) => Array.IndexOf(brokers, broker) is var i and >= 0 ? i : brokers.Length;
        foreach (Result r in results.OrderBy(r => scenarios.IndexOf(r.Scenario)).ThenBy(r => BrokerOrder(r.Broker)).ThenBy(r => r.Rep))
        {
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Scenario} | {r.Broker} | {r.Rep} | {r.MsgsPerSec:N0} | {r.MsgsPerCpuSec:N0} | {r.BrokerCpuPct:F0} | {r.GenCpuPct:F0} | {r.P50Us / 1000:F3} | {r.P90Us / 1000:F3} | {r.P99Us / 1000:F3} | {r.P999Us / 1000:F3} | {r.Lost} | {r.Duplicates} | {r.KbPerConn:F2} | {r.ConnectsPerSec:N0} | {r.RssMb:F1} | {r.Note} |");
        }

        return sb.ToString();
    }

    private static double? Median(List<Result> rows, string broker, Func<Result, double> get)
    {
        double[] values = [.. rows.Where(r => r.Broker == broker).Select(get).Order()];
        if (values.Length == 0)
        {
            return null;
        }

        return values.Length % 2 == 1 ? values[values.Length / 2] : (values[(values.Length / 2) - 1] + values[values.Length / 2]) / 2;
    }
}
