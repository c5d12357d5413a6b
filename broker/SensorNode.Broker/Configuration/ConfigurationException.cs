namespace SensorNode.Broker.Configuration;

/// <summary>One thing wrong with the configuration: where (file and line, environment variable or option), which key, why.</summary>
public sealed record ConfigurationError(string Source, int? Line, string? Key, string Reason)
{
    /// <summary>"/etc/sensornode/broker.json:12: listeners[1].port: 'abc' is not a whole number".</summary>
    public override string ToString()
    {
        string where = Line is { } line ? $"{Source}:{line}" : Source;
        return Key is null ? $"{where}: {Reason}" : $"{where}: {Key}: {Reason}";
    }
}

/// <summary>The configuration cannot be used; the broker does not start. The message lists every error found.</summary>
public sealed class ConfigurationException : Exception
{
    public ConfigurationException(IReadOnlyList<ConfigurationError> errors)
        : base(string.Join(Environment.NewLine, errors))
    {
        Errors = errors;
    }

    public ConfigurationException(ConfigurationError error)
        : this([error])
    {
    }

    public IReadOnlyList<ConfigurationError> Errors { get; }
}
