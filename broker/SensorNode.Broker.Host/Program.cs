using System.CommandLine;
using SensorNode.Broker.Host;

// Socket completions run the broker's read loops on the socket engine threads (one per core) instead of hopping to the
// thread pool: at light load a message goes from the publisher's socket to the subscribers' without a thread switch
// (measured in bench/: 1.8x the messages per CPU-second at 10,000 msg/s). The engine reads this once, before the first
// socket; anything slow (password hashing) is handed to the pool by the broker. An explicit setting is left alone.
if (Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") is null)
{
    Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
}

return await Cli.Build().Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
