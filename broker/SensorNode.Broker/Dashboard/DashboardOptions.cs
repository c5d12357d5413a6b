namespace SensorNode.Broker.Dashboard;

/// <summary>The dashboard served on the broker's HTTP and WebSocket listeners, and the history it records.</summary>
public sealed class DashboardOptions
{
    /// <summary>Serve the dashboard and record history (only where an HTTP or WebSocket listener exists).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How long the raw readings are kept.</summary>
    public TimeSpan RawRetention { get; set; } = TimeSpan.FromHours(48);

    /// <summary>
    /// At most one raw reading per sensor per this interval is kept; every reading counts in the averages. Bounds the
    /// history of a sensor that publishes many times a second (a DHT22 is read every few seconds at most).
    /// </summary>
    public TimeSpan RawInterval { get; set; } = TimeSpan.FromSeconds(10);

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

        if (RawInterval < TimeSpan.Zero || RawInterval > TimeSpan.FromHours(1))
        {
            throw new ArgumentOutOfRangeException(nameof(RawInterval), RawInterval, "dashboard raw interval must be 0..1 hour");
        }

        if (AverageInterval < TimeSpan.FromSeconds(1) || AverageInterval > TimeSpan.FromDays(1))
        {
            throw new ArgumentOutOfRangeException(nameof(AverageInterval), AverageInterval, "dashboard average interval must be 1 s..1 day");
        }
    }
}
