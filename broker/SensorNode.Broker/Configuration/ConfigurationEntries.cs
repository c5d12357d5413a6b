using System.Collections;
using System.Text;
using System.Text.Json;

namespace SensorNode.Broker.Configuration;

/// <summary>What kind of JSON node a configuration entry was.</summary>
public enum EntryKind
{
    Value,
    Object,
    Array,
}

/// <summary>One configuration key's value and where it came from.</summary>
public sealed record ConfigurationEntry(string Key, string? Value, EntryKind Kind, string Source, int? Line)
{
    public ConfigurationError Error(string reason) => new(Source, Line, ConfigurationKeys.Display(Key), reason);
}

/// <summary>
/// Configuration flattened to .NET-configuration-style keys ("listeners:0:port", compared case-insensitively),
/// each remembering its source. Later layers (environment, command line) replace earlier ones (file, defaults).
/// </summary>
public sealed class ConfigurationEntries : IEnumerable<ConfigurationEntry>
{
    private readonly Dictionary<string, ConfigurationEntry> _entries = new(StringComparer.OrdinalIgnoreCase);

    public int Count => _entries.Count;

    public ConfigurationEntry? this[string key] => _entries.TryGetValue(key, out ConfigurationEntry? entry) ? entry : null;

    public void Set(ConfigurationEntry entry)
    {
        _entries[entry.Key] = entry;

        // A value below a key makes that key (and its parents) containers.
        string key = entry.Key;
        for (int colon = key.LastIndexOf(':'); colon > 0; colon = key.LastIndexOf(':'))
        {
            string child = key;
            key = key[..colon];
            if (_entries.TryGetValue(key, out ConfigurationEntry? parent) && parent.Kind != EntryKind.Value)
            {
                break;
            }

            bool isIndex = int.TryParse(child.AsSpan(colon + 1), out _);
            _entries.TryAdd(key, new ConfigurationEntry(key, null, isIndex ? EntryKind.Array : EntryKind.Object, entry.Source, entry.Line));
        }
    }

    public void Set(string key, string? value, string source, int? line = null) => Set(new ConfigurationEntry(key, value, EntryKind.Value, source, line));

    public bool ContainsPrefix(string prefix) =>
        _entries.Keys.Any(k => k.Equals(prefix, StringComparison.OrdinalIgnoreCase) || k.StartsWith(prefix + ":", StringComparison.OrdinalIgnoreCase));

    public IEnumerator<ConfigurationEntry> GetEnumerator() => _entries.Values.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>
    /// Reads a JSON file (comments and trailing commas allowed) into entries with their line numbers. Syntax errors,
    /// duplicate keys and a top level that is not an object are reported with the file and line.
    /// </summary>
    public void AddJsonFile(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationException(new ConfigurationError(path, null, null, $"cannot read the configuration file: {ex.Message}"));
        }

        AddJson(bytes, path);
    }

    public void AddJson(byte[] bytes, string source)
    {
        ReadOnlySpan<byte> json = bytes;
        if (json.StartsWith("\uFEFF"u8))
        {
            json = json[3..];
        }

        int offset = bytes.Length - json.Length;
        if (FirstInvalidUtf8(json) is { } bad)
        {
            throw new ConfigurationException(new ConfigurationError(source, LineOf(bytes, offset + bad), null, $"the file is not valid UTF-8 (byte 0x{json[bad]:X2}); save it as UTF-8"));
        }

        var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        try
        {
            if (!reader.Read())
            {
                throw new ConfigurationException(new ConfigurationError(source, null, null, "the file is empty; it must hold one JSON object"));
            }

            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw new ConfigurationException(new ConfigurationError(source, LineOf(bytes, offset + (int)reader.TokenStartIndex), null, "the file must hold one JSON object ({ ... })"));
            }

            ReadObject(ref reader, bytes, offset, source, prefix: null);
            if (reader.Read())
            {
                throw new ConfigurationException(new ConfigurationError(source, LineOf(bytes, offset + (int)reader.TokenStartIndex), null, "unexpected content after the configuration object"));
            }
        }
        catch (JsonException ex)
        {
            int? line = ex.LineNumber is { } l ? (int)l + 1 : null;
            string reason = ex.Message;
            int cut = reason.IndexOf(" LineNumber:", StringComparison.Ordinal);
            if (cut > 0)
            {
                reason = reason[..cut].TrimEnd('.', ' ');
            }

            throw new ConfigurationException(new ConfigurationError(source, line, null, $"invalid JSON: {reason}"));
        }
    }

    /// <summary>Index of the first byte that is not part of valid UTF-8, or null.</summary>
    private static int? FirstInvalidUtf8(ReadOnlySpan<byte> text)
    {
        int index = 0;
        while (index < text.Length)
        {
            if (System.Text.Rune.DecodeFromUtf8(text[index..], out _, out int consumed) != System.Buffers.OperationStatus.Done)
            {
                return index;
            }

            index += consumed;
        }

        return null;
    }

    private void ReadObject(ref Utf8JsonReader reader, byte[] bytes, int offset, string source, string? prefix)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            int line = LineOf(bytes, offset + (int)reader.TokenStartIndex);
            string name = reader.GetString()!;
            string key = prefix is null ? name : prefix + ":" + name;
            if (name.Length == 0 || name.Contains(':', StringComparison.Ordinal))
            {
                throw new ConfigurationException(new ConfigurationError(source, line, ConfigurationKeys.Display(key), "not a valid key name"));
            }

            if (!seen.Add(name))
            {
                throw new ConfigurationException(new ConfigurationError(source, line, ConfigurationKeys.Display(key), "the key appears twice"));
            }

            reader.Read();
            ReadValue(ref reader, bytes, offset, source, key, line);
        }
    }

    private void ReadValue(ref Utf8JsonReader reader, byte[] bytes, int offset, string source, string key, int line)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
                _entries[key] = new ConfigurationEntry(key, null, EntryKind.Object, source, line);
                ReadObject(ref reader, bytes, offset, source, key);
                break;
            case JsonTokenType.StartArray:
                _entries[key] = new ConfigurationEntry(key, null, EntryKind.Array, source, line);
                int index = 0;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    int itemLine = LineOf(bytes, offset + (int)reader.TokenStartIndex);
                    ReadValue(ref reader, bytes, offset, source, key + ":" + index.ToString(System.Globalization.CultureInfo.InvariantCulture), itemLine);
                    index++;
                }

                break;
            case JsonTokenType.String:
                _entries[key] = new ConfigurationEntry(key, reader.GetString(), EntryKind.Value, source, line);
                break;
            case JsonTokenType.Number:
                _entries[key] = new ConfigurationEntry(key, Encoding.UTF8.GetString(reader.ValueSpan), EntryKind.Value, source, line);
                break;
            case JsonTokenType.True or JsonTokenType.False:
                _entries[key] = new ConfigurationEntry(key, reader.TokenType == JsonTokenType.True ? "true" : "false", EntryKind.Value, source, line);
                break;
            case JsonTokenType.Null:
                _entries[key] = new ConfigurationEntry(key, null, EntryKind.Value, source, line);
                break;
        }
    }

    private static int LineOf(byte[] bytes, int position)
    {
        int line = 1;
        int end = Math.Min(position, bytes.Length);
        for (int i = 0; i < end; i++)
        {
            if (bytes[i] == (byte)'\n')
            {
                line++;
            }
        }

        return line;
    }

    /// <summary>
    /// Adds <c>SENSORNODE_*</c> environment variables: <c>SENSORNODE_DATADIRECTORY</c>, <c>SENSORNODE_LISTENERS__0__PORT</c>
    /// ("__" separates levels, as in .NET configuration). <c>SENSORNODE_CONFIG</c> (the file's path) is not a key.
    /// </summary>
    public void AddEnvironment(IDictionary environment, string prefix = ConfigurationKeys.EnvironmentPrefix)
    {
        foreach (DictionaryEntry variable in environment)
        {
            if (variable.Key is not string name || !name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)
                || ConfigurationKeys.OtherVariables.Contains(name))
            {
                continue;
            }

            string key = ConfigurationKeys.Canonical(name[prefix.Length..].Replace("__", ":", StringComparison.Ordinal));
            Set(key, variable.Value as string, $"environment variable {name}");
        }
    }
}
