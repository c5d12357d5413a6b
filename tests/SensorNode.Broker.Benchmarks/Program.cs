using BenchmarkDotNet.Running;

// dotnet run -c Release --project tests/SensorNode.Broker.Benchmarks -- --filter '*' --job short
BenchmarkSwitcher.FromAssembly(typeof(SensorNode.Broker.Benchmarks.CodecBenchmarks).Assembly).Run(args);
