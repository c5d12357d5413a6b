using System.CommandLine;
using SensorNode.Broker.Host;

return await Cli.Build().Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
