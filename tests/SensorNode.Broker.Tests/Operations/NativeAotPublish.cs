using System.Diagnostics;
using SensorNode.Broker.Tests.Interop;
using Xunit.Abstractions;

namespace SensorNode.Broker.Tests.Operations;

/// <summary>
/// The Native AOT broker (profile linux-x64-aot), published once per test run for the tests that need the program as
/// deployed. Skips the calling test without clang or off linux-x64; fails instead under CI=true (.ci/run installs clang).
/// </summary>
internal static class NativeAotPublish
{
    private static readonly SemaphoreSlim PublishGate = new(1, 1);
    private static string? s_published;

    public static async Task<string> ExecutableAsync(ITestOutputHelper output)
    {
        if (!OperatingSystem.IsLinux() || System.Runtime.InteropServices.RuntimeInformation.OSArchitecture != System.Runtime.InteropServices.Architecture.X64)
        {
            Skip.If(true, "the Native AOT broker is published for linux-x64");
        }

        ExternalTool.RequireClang();
        await PublishGate.WaitAsync();
        try
        {
            if (s_published is not null)
            {
                return s_published;
            }

            string root = ConfigurationTests.RepositoryRoot();
            string publishDirectory = Path.Combine(Path.GetTempPath(), "sensornode-aot-" + Environment.ProcessId);
            var clock = Stopwatch.StartNew();
            ProcessResult publish = await ExternalTool.RunAsync("dotnet",
                ["publish", Path.Combine(root, "broker", "SensorNode.Broker.Host"), "-p:PublishProfile=linux-x64-aot", $"-p:PublishDir={publishDirectory}/", "-nodeReuse:false", "-v", "q"],
                output, TimeSpan.FromMinutes(8));
            output.WriteLine($"dotnet publish -p:PublishProfile=linux-x64-aot: exit {publish.ExitCode} after {clock.Elapsed.TotalSeconds:F0} s");
            publish.AssertSuccess();
            string executable = Path.Combine(publishDirectory, "sensornode-broker");
            Assert.True(File.Exists(executable), $"{executable} was not published");
            s_published = executable;
            return executable;
        }
        finally
        {
            PublishGate.Release();
        }
    }
}
