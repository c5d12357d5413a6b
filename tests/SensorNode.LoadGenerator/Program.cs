using System.Globalization;
using System.Text.Json;
using SensorNode.LoadGenerator;

// sensornode-loadgen SCENARIO [--key value ...]
//   fanin     --publishers 100 --qos 0|1|2 --mode max|rate [--rate 10000] [--pacing even|tick] [--window 32]
//   fanout    --subscribers 100 --qos 0|1 [--window 200]
//   idle      --connections 10000 [--parallel 64] (connects in flight) [--keepalive 0] (seconds; a larger one must outlast the run)
//             [--hold 0] (seconds the connections stay open after the measurement, to look inside the broker)
//   retained  --count 100000
//   durable   fan-in at QoS 1 to persistent (clean session 0) subscribers
//   report    --in results.jsonl  (prints the markdown table of medians)
// Common: --host 127.0.0.1 --port 1883 --broker-pid PID --broker NAME --scenario-id ID --rep N
//         --warmup 1 --duration 5 --out results.jsonl (appends one JSON line)
//         --latency-log FILE (fanin/fanout/durable: every measured message's send time and latency, in µs)
if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.WriteLine("usage: SensorNode.LoadGenerator fanin|fanout|idle|retained|durable|report [--option value ...] (see Program.cs / bench/README.md)");
    return 2;
}

string scenario = args[0];

// Pinned to one core the pool would start with one worker; the publishers' sends and the pacer must never wait for injection.
ThreadPool.SetMinThreads(16, 16);
var opts = new Dictionary<string, string>(StringComparer.Ordinal);
for (int i = 1; i + 1 < args.Length; i += 2)
{
    opts[args[i].TrimStart('-')] = args[i + 1];
}

string Str(string key, string fallback) => opts.TryGetValue(key, out string? v) ? v : fallback;
int Int(string key, int fallback) => opts.TryGetValue(key, out string? v) ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
double Dbl(string key, double fallback) => opts.TryGetValue(key, out string? v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;

if (scenario == "report")
{
    List<Result> all = [.. File.ReadLines(Str("in", "results.jsonl")).Where(l => l.StartsWith('{')).Select(l => JsonSerializer.Deserialize<Result>(l)!)];
    Console.WriteLine(Report.Markdown(all));
    if (opts.ContainsKey("details"))
    {
        Console.WriteLine(Report.Details(all));
    }

    return 0;
}

string host = Str("host", "127.0.0.1");
int port = Int("port", 1883);
int pid = Int("broker-pid", 0);
var result = new Result { Scenario = Str("scenario-id", scenario), Broker = Str("broker", "broker"), Rep = Int("rep", 1) };

try
{
    switch (scenario)
    {
        case "fanin":
        case "fanout":
        case "durable":
            {
                bool fanout = scenario == "fanout";
                var flow = new FlowOptions
                {
                    Host = host,
                    Port = port,
                    BrokerPid = pid,
                    Publishers = fanout ? 1 : Int("publishers", 100),
                    Subscribers = fanout ? Int("subscribers", 100) : Int("subscribers", 1),
                    Qos = (byte)(scenario == "durable" ? Int("qos", 1) : Int("qos", 0)),
                    Mode = Str("mode", "max"),
                    Rate = Dbl("rate", 10_000),
                    Pacing = Str("pacing", "even") is var pacing && pacing is "even" or "tick" ? pacing : throw new ArgumentException("--pacing is even or tick"),
                    Window = Int("window", fanout ? 200 : 32),
                    WarmupSeconds = Dbl("warmup", 1),
                    DurationSeconds = Dbl("duration", 5),
                    DrainSeconds = Dbl("drain", 20),
                    PersistentSubscribers = scenario == "durable",
                    LatencyLog = opts.GetValueOrDefault("latency-log"),
                };
                await new Flow(flow).RunAsync(result);
                break;
            }

        case "idle":
            await IdleScenario.RunAsync(host, port, pid, Int("connections", 10_000), Int("parallel", 64), (ushort)Math.Clamp(Int("keepalive", 0), 0, ushort.MaxValue), Dbl("hold", 0), result);
            break;
        case "retained":
            await RetainedScenario.RunAsync(host, port, pid, Int("count", 100_000), result);
            break;
        default:
            Console.Error.WriteLine($"unknown scenario '{scenario}'");
            return 2;
    }
}
catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or OperationCanceledException or TimeoutException)
{
    result.Note = $"FAILED: {ex.GetType().Name}: {ex.Message}";
    result.Lost = Math.Max(result.Lost, result.Expected - result.Delivered);
    Console.Error.WriteLine(result.Summary());
    if (opts.TryGetValue("out", out string? failedOut))
    {
        await File.AppendAllTextAsync(failedOut, result.ToJson() + Environment.NewLine);
    }

    return 1;
}

Console.Error.WriteLine(result.Summary());
if (opts.TryGetValue("out", out string? outFile))
{
    await File.AppendAllTextAsync(outFile, result.ToJson() + Environment.NewLine);
}
else
{
    Console.WriteLine(result.ToJson());
}

return 0;
