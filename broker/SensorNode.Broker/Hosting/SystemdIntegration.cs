using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;

namespace SensorNode.Broker.Hosting;

/// <summary>
/// Running as a systemd service (<c>Type=notify</c>): systemd passes <c>NOTIFY_SOCKET</c>, the broker sends READY=1 once
/// every listener is bound and STOPPING=1 when it begins to shut down; SIGTERM stops it gracefully. Logs go to the
/// journal through stdout with syslog priority prefixes (<c>&lt;6&gt;</c>), which journald turns into levels.
/// </summary>
public static class SystemdIntegration
{
    /// <summary>systemd asked for sd_notify messages (a <c>Type=notify</c> unit).</summary>
    public static bool IsNotifyRequested => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NOTIFY_SOCKET"));

    /// <summary>Started by systemd (its output goes to the journal): log in the journal's format.</summary>
    public static bool IsUnderSystemd =>
        IsNotifyRequested
        || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("JOURNAL_STREAM"))
        || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("INVOCATION_ID"))
        || SystemdHelpers.IsSystemdService();

    /// <summary>The host's lifetime becomes systemd's (notify ready/stopping, SIGTERM).</summary>
    public static void AddNotifyLifetime(IServiceCollection services)
    {
        services.AddSingleton<ISystemdNotifier, SystemdNotifier>();
        services.AddSingleton<IHostLifetime, SystemdLifetime>();
    }
}
