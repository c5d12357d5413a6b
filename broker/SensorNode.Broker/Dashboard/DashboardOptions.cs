namespace SensorNode.Broker.Dashboard;

/// <summary>The dashboard served on the broker's HTTP and WebSocket listeners, and the history it records.</summary>
public sealed class DashboardOptions
{
    /// <summary>Serve the dashboard and record history (only where an HTTP or WebSocket listener exists).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How long every single reading is kept.</summary>
    public TimeSpan RawRetention { get; set; } = TimeSpan.FromHours(48);

    /// <summary>How long the averages are kept.</summary>
    public TimeSpan AverageRetention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>The width of one average.</summary>
    public TimeSpan AverageInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a dashboard login lasts without being used.</summary>
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How often buffered readings are written to the history store.</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The clock readings are stamped with and retention counts from (tests set their own).</summary>
    public TimeProvider Clock { get; set; } = TimeProvider.System;

    /// <summary>Checks the values; throws naming the option.</summary>
    public void Validate()
    {
        if (RawRetention <= TimeSpan.Zero || AverageRetention <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(RawRetention), "dashboard retention must be positive");
        }

        if (AverageInterval < TimeSpan.FromSeconds(1) || AverageInterval > TimeSpan.FromDays(1))
        {
            throw new ArgumentOutOfRangeException(nameof(AverageInterval), AverageInterval, "dashboard average interval must be 1 s..1 day");
        }
    }
}
