namespace SensorNode.Broker.Security;

/// <summary>
/// The users file: one <c>user:$pbkdf2-sha512$...</c> line per user, '#' comments. Never holds a plaintext
/// password; managed with <c>sensornode-broker passwd</c>. A file written by <c>mosquitto_passwd</c> is read as well.
/// </summary>
public sealed class PasswordFile
{
    private readonly Dictionary<string, string> _hashes;

    private PasswordFile(Dictionary<string, string> hashes) => _hashes = hashes;

    public static PasswordFile Empty => new(new Dictionary<string, string>(StringComparer.Ordinal));

    public IReadOnlyCollection<string> Users => _hashes.Keys;

    /// <summary>Reads the users file; a file that does not exist is an error (a mistyped path must not mean "no users").</summary>
    public static PasswordFile Load(string path) => Parse(path, File.ReadAllLines(path));

    public static PasswordFile Parse(string path, IEnumerable<string> lines)
    {
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        int number = 0;
        foreach (string raw in lines)
        {
            number++;
            string line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new ConfigFileException(path, number, "expected 'user:hash'");
            }

            string user = line[..colon];
            string hash = line[(colon + 1)..];
            if (!PasswordHasher.IsWellFormed(hash))
            {
                throw new ConfigFileException(path, number, $"the hash of user '{user}' is not a $pbkdf2-sha512$ hash, nor a Mosquitto $7$ or $6$ one (plaintext passwords are not accepted; use 'passwd add')");
            }

            if (!hashes.TryAdd(user, hash))
            {
                throw new ConfigFileException(path, number, $"user '{user}' appears twice");
            }
        }

        return new PasswordFile(hashes);
    }

    public bool Contains(string user) => _hashes.ContainsKey(user);

    /// <summary>Checks a password; an unknown user costs the same work as a known one, so timing tells nothing.</summary>
    public bool Verify(string user, string password) =>
        _hashes.TryGetValue(user, out string? hash) ? PasswordHasher.Verify(password, hash) : VerifyDummy(password);

    private static readonly string DummyHash = PasswordHasher.Hash("dummy password for timing");

    private static bool VerifyDummy(string password)
    {
        PasswordHasher.Verify(password, DummyHash);
        return false;
    }

    public PasswordFile With(string user, string password)
    {
        if (user.Length == 0 || user.Contains(':', StringComparison.Ordinal))
        {
            throw new ArgumentException("a user name must not be empty or contain ':'", nameof(user));
        }

        var copy = new Dictionary<string, string>(_hashes, StringComparer.Ordinal) { [user] = PasswordHasher.Hash(password) };
        return new PasswordFile(copy);
    }

    public PasswordFile Without(string user)
    {
        var copy = new Dictionary<string, string>(_hashes, StringComparer.Ordinal);
        copy.Remove(user);
        return new PasswordFile(copy);
    }

    /// <summary>
    /// Writes the file atomically (temp file + rename), readable by its owner only where the OS allows. A file that
    /// exists keeps its owner, its group and its group's read permission (never anyone else's): one given to the
    /// service's group stays readable to the service. Returns a warning when the owner or group could not be kept.
    /// </summary>
    public string? Save(string path)
    {
        string temp = path + ".tmp";
        File.WriteAllLines(temp, ["# SensorNode users: name:$pbkdf2-sha512$iterations$salt$hash (managed by 'sensornode-broker passwd')", .. _hashes.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}:{p.Value}")]);
        string? warning = null;
        if (!OperatingSystem.IsWindows())
        {
            UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            if (File.Exists(path))
            {
                bool groupKept = true;
                if (FileOwnership.TryGet(path, out uint owner, out uint group)
                    && FileOwnership.TryGet(temp, out uint newOwner, out uint newGroup)
                    && (owner, group) != (newOwner, newGroup)
                    && !FileOwnership.TrySet(temp, owner, group))
                {
                    // Another group (the one of whoever runs passwd) must not be given the hashes the old one could read.
                    groupKept = group == newGroup;
                    warning = $"{path} was owned by {owner}:{group}; it now belongs to {newOwner}:{newGroup} (run passwd as the file's owner, or as root, to keep it)";
                }

                if (groupKept)
                {
                    mode |= File.GetUnixFileMode(path) & UnixFileMode.GroupRead;
                }
            }

            File.SetUnixFileMode(temp, mode);
        }

        File.Move(temp, path, overwrite: true);
        return warning;
    }
}
