using SensorNode.Broker.Hosting;

namespace SensorNode.Broker.Tests.Infrastructure;

/// <summary>
/// Starts the real broker in-process on an ephemeral loopback port, with its default SQLite store in a
/// fresh directory of its own (removed when the test run ends).
/// </summary>
public static class TestBroker
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static readonly string RunDirectory = CreateRunDirectory();

    public static Task<BrokerServer> StartAsync(Action<BrokerOptions>? configure = null)
    {
        var options = new BrokerOptions { Port = 0, BindAddress = "127.0.0.1", DataDirectory = NewDataDirectory() };
        configure?.Invoke(options);
        return BrokerServer.StartAsync(options);
    }

    /// <summary>A new empty directory for one broker's database.</summary>
    public static string NewDataDirectory()
    {
        string directory = Path.Combine(RunDirectory, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        return directory;
    }

    private static string CreateRunDirectory()
    {
        string root = Path.Combine(Path.GetTempPath(), "sensornode-tests");
        RemoveDirectoriesOfEndedRuns(root);
        string directory = Path.Combine(root, Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Directory.CreateDirectory(directory);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
                // A database still open by a broker that was not disposed; the OS temp cleaner gets it.
            }
        };
        return directory;
    }

    /// <summary>
    /// The test host is often ended before <see cref="AppDomain.ProcessExit"/> runs, so each run also removes the
    /// directories of earlier runs whose process is gone (named by process id).
    /// </summary>
    private static void RemoveDirectoriesOfEndedRuns(string root)
    {
        if (!Directory.Exists(root))
        {
            return;
        }

        foreach (string directory in Directory.EnumerateDirectories(root))
        {
            if (!int.TryParse(Path.GetFileName(directory), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int processId) || IsRunning(processId))
            {
                continue;
            }

            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Another run is removing it too, or it is not ours to remove.
            }
        }
    }

    private static bool IsRunning(int processId)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(processId);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
