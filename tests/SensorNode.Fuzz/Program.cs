using SensorNode.Fuzz;

// Usage: SensorNode.Fuzz <target>            run under afl-fuzz (SharpFuzz out-of-process)
//        SensorNode.Fuzz <target> <file>...  run the target once per file (reproduce a finding)
if (args.Length == 2 && args[0] == "seed")
{
    SeedCorpus.Write(args[1]);
    return 0;
}

if (args.Length == 0 || !FuzzTargets.All.TryGetValue(args[0], out Action<byte[]>? target))
{
    Console.Error.WriteLine($"usage: SensorNode.Fuzz <{string.Join('|', FuzzTargets.All.Keys)}> [files...]");
    return 2;
}

if (args.Length > 1)
{
    foreach (string file in args[1..])
    {
        target(File.ReadAllBytes(file));
    }

    return 0;
}

SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
{
    using var memory = new MemoryStream();
    stream.CopyTo(memory);
    target(memory.ToArray());
});
return 0;
