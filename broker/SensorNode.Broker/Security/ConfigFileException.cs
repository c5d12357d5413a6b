namespace SensorNode.Broker.Security;

/// <summary>A file the broker reads is wrong; the message names the file, the line and what is wrong with it.</summary>
public sealed class ConfigFileException(string path, int line, string problem)
    : Exception($"{path}:{line}: {problem}")
{
    public string Path { get; } = path;

    public int Line { get; } = line;

    /// <summary>What is wrong, without the file and line.</summary>
    public string Problem { get; } = problem;
}
