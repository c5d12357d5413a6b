using System.Globalization;

namespace SensorNode.Broker.Configuration;

/// <summary>
/// Typed reading of configuration entries: each reader method sets a value only when its key holds a valid one and
/// otherwise records an error naming source, line and key. The broker's binder and the bridges' reader share it.
/// </summary>
internal abstract class ConfigurationReader(ConfigurationEntries entries, List<ConfigurationError> errors, string? configPath, bool camelCaseEnumNames = false)
{
    public ConfigurationEntries Entries => entries;

    public List<ConfigurationError> Errors => errors;

    public string? ConfigPath => configPath;

    /// <summary>The entry at <paramref name="key"/>, or <paramref name="fallback"/>'s place (for a key that is missing) under that key.</summary>
    public ConfigurationEntry Entry(string key, ConfigurationEntry fallback) => entries[key] ?? fallback with { Key = key };

    /// <summary>Items of a list key ("bridges" → bridges:0, bridges:1, ...).</summary>
    public int Count(string key)
    {
        if (entries[key] is not { Kind: EntryKind.Array })
        {
            return 0;
        }

        string pattern = ConfigurationKeys.Pattern(key) + ":#";
        int depth = key.Count(c => c == ':') + 1;
        return entries.Count(e => e.Key.StartsWith(key + ":", StringComparison.OrdinalIgnoreCase) && e.Key.Count(c => c == ':') == depth
            && ConfigurationKeys.Pattern(e.Key).Equals(pattern, StringComparison.OrdinalIgnoreCase));
    }

    protected bool TryValue(string key, out ConfigurationEntry entry)
    {
        entry = entries[key]!;
        return entry is { Kind: EntryKind.Value };
    }

    public void String(string key, Action<string> set, bool path = false)
    {
        if (!TryValue(key, out ConfigurationEntry entry))
        {
            return;
        }

        if (string.IsNullOrWhiteSpace(entry.Value))
        {
            errors.Add(entry.Error("must not be empty"));
            return;
        }

        string value = entry.Value;
        if (path && configPath is not null && entry.Source == configPath && !Path.IsPathRooted(value))
        {
            // Paths in the file are relative to the file, as in most daemons' configuration.
            value = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(configPath))!, value));
        }

        set(value);
    }

    public void Int(string key, int min, int max, Action<int> set) => Long(key, min, max, v => set((int)v));

    public void Long(string key, long min, long max, Action<long> set)
    {
        if (!TryValue(key, out ConfigurationEntry entry))
        {
            return;
        }

        if (!long.TryParse(entry.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value))
        {
            errors.Add(entry.Error($"'{entry.Value}' is not a whole number ({min}..{max})"));
            return;
        }

        if (value < min || value > max)
        {
            errors.Add(entry.Error($"{value} is out of range ({min}..{max})"));
            return;
        }

        set(value);
    }

    public void Bool(string key, Action<bool> set)
    {
        if (!TryValue(key, out ConfigurationEntry entry))
        {
            return;
        }

        if (!bool.TryParse(entry.Value, out bool value))
        {
            errors.Add(entry.Error($"'{entry.Value}' is not true or false"));
            return;
        }

        set(value);
    }

    public void Enum<T>(string key, Action<T> set)
        where T : struct, System.Enum
    {
        if (!TryValue(key, out ConfigurationEntry entry))
        {
            return;
        }

        if (entry.Value is null || entry.Value.Any(char.IsAsciiDigit) || !System.Enum.TryParse(entry.Value, ignoreCase: true, out T value))
        {
            IEnumerable<string> names = System.Enum.GetNames<T>();
            if (camelCaseEnumNames)
            {
                names = names.Select(n => char.ToLowerInvariant(n[0]) + n[1..]);
            }

            errors.Add(entry.Error($"'{entry.Value}' is not one of {string.Join(", ", names)}"));
            return;
        }

        set(value);
    }
}
