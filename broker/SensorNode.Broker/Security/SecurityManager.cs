using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using SensorNode.Broker.Protocol;

namespace SensorNode.Broker.Security;

/// <summary>The outcome of checking a CONNECT's credentials.</summary>
public enum LoginVerdict
{
    Accepted,
    BadCredentials,
    NotAuthorized,
    Throttled,
}

/// <summary>
/// Authentication (users file, anonymous policy, failed-login throttling) and authorisation (ACL file) for
/// the broker. The files are reloaded when they change (or on <see cref="Reload"/>, e.g. SIGHUP) without
/// dropping connections; a file that no longer parses keeps the previous rules and logs why.
/// </summary>
public sealed class SecurityManager : IDisposable
{
    private readonly SecurityOptions _options;
    private readonly ILogger _logger;
    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly ConcurrentDictionary<string, bool> _verified = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Address, string User), Failures> _failures = new();
    private bool _anyFailure;
    private PasswordFile? _passwords;
    private AclFile? _acl;
    private int _version;
    private long _authFailures;

    /// <param name="exposedToNetwork">An MQTT listener (TCP, TLS or WebSocket) is open to the network.</param>
    /// <param name="dashboardExposed">A listener serving the dashboard (HTTP or WebSocket) is open to the network; by default the same.</param>
    public SecurityManager(SecurityOptions options, bool exposedToNetwork, ILogger logger, bool? dashboardExposed = null)
    {
        _options = options;
        _logger = logger;
        AllowAnonymous = options.AllowAnonymous ?? !exposedToNetwork;
        // Never more open than MQTT: a loopback dashboard behind a reverse proxy must not show what MQTT would refuse.
        DashboardAllowsAnonymous = AllowAnonymous && (options.AllowAnonymous ?? !(dashboardExposed ?? exposedToNetwork));
        _passwords = options.PasswordFile is { } passwords ? PasswordFile.Load(passwords) : null;
        _acl = options.AclFile is { } acl ? AclFile.Load(acl) : null;
        Watch(options.PasswordFile);
        Watch(options.AclFile);
    }

    /// <summary>MQTT clients without a user name are let in: set, or else while no MQTT listener is open to the network.</summary>
    public bool AllowAnonymous { get; }

    /// <summary>
    /// The dashboard is shown without a login: set (as <see cref="AllowAnonymous"/>), or else while no listener serving
    /// it is open to the network. An HTTP listener opened for Prometheus thus asks the dashboard's visitors to log in,
    /// without refusing the anonymous MQTT clients of a broker that stays on loopback.
    /// </summary>
    public bool DashboardAllowsAnonymous { get; }

    /// <summary>Changes whenever the rules are reloaded; connections re-resolve their rules when it moves.</summary>
    public int Version => Volatile.Read(ref _version);

    public bool HasAcl => _acl is not null;

    /// <summary>True when logins are checked against a users file (a PBKDF2 hash the first time a password is seen).</summary>
    public bool ChecksPasswords => Volatile.Read(ref _passwords) is not null;

    public long AuthFailures => Interlocked.Read(ref _authFailures);

    /// <summary>Checks a CONNECT's user name and password; counts and throttles failures per address and user.</summary>
    public LoginVerdict Login(string? user, byte[]? password, IPAddress? address, bool userFromCertificate = false)
    {
        // The key (a string for the address) is made only once a failure has been recorded. (Not _failures.IsEmpty: on
        // an empty dictionary that takes all its locks, on every login.)
        if (Volatile.Read(ref _anyFailure) && _failures.TryGetValue(FailureKey(address, user), out Failures? record) && record.IsBlocked(DateTimeOffset.UtcNow))
        {
            Interlocked.Increment(ref _authFailures);
            return LoginVerdict.Throttled;
        }

        LoginVerdict verdict = Check(user, password, userFromCertificate);
        if (verdict != LoginVerdict.Accepted)
        {
            Interlocked.Increment(ref _authFailures);
            RecordFailure(FailureKey(address, user), DateTimeOffset.UtcNow);
        }

        return verdict;
    }

    /// <summary>Addresses and user names with failures on record (bounded by <see cref="MaxTrackedFailures"/>).</summary>
    public int TrackedFailures => _failures.Count;

    /// <summary>
    /// Failures are kept per address and user name for the throttle, but refused logins cost nothing to send: the
    /// record is bounded (user names by length, entries by number, stale ones swept) so that they cannot fill memory.
    /// </summary>
    public const int MaxTrackedFailures = 10_000;

    private static (string Address, string User) FailureKey(IPAddress? address, string? user) => (address?.ToString() ?? "?", FailureKey(user));

    private static string FailureKey(string? user) => user is null ? string.Empty
        : user.Length <= 64 ? user
        : string.Concat(user.AsSpan(0, 64), "#", user.GetHashCode().ToString("x8", System.Globalization.CultureInfo.InvariantCulture));

    private void RecordFailure((string Address, string User) key, DateTimeOffset now)
    {
        Volatile.Write(ref _anyFailure, true);
        if (!_failures.TryGetValue(key, out Failures? record))
        {
            if (_failures.Count >= MaxTrackedFailures)
            {
                foreach ((var stale, Failures failures) in _failures)
                {
                    if (failures.IsStale(now))
                    {
                        _failures.TryRemove(stale, out _);
                    }
                }

                if (_failures.Count >= MaxTrackedFailures)
                {
                    // Full of live records: the ones on record keep their throttle, newcomers go unthrottled.
                    return;
                }
            }

            record = _failures.GetOrAdd(key, _ => new Failures());
        }

        record.Add(now, _options.MaxFailedLoginsPerMinute, _options.LoginThrottle);
    }

    private LoginVerdict Check(string? user, byte[]? password, bool userFromCertificate)
    {
        if (user is null)
        {
            return AllowAnonymous ? LoginVerdict.Accepted : LoginVerdict.NotAuthorized;
        }

        if (userFromCertificate)
        {
            return LoginVerdict.Accepted;
        }

        PasswordFile? passwords = _passwords;
        if (passwords is null)
        {
            // No users file: user names are only labels (for ACLs), as with Mosquitto without password_file.
            return AllowAnonymous ? LoginVerdict.Accepted : LoginVerdict.NotAuthorized;
        }

        if (password is null)
        {
            return LoginVerdict.BadCredentials;
        }

        string text = Encoding.UTF8.GetString(password);
        string cacheKey = user + "\n" + Convert.ToHexString(SHA256.HashData(password));
        if (_verified.TryGetValue(cacheKey, out bool known))
        {
            return known ? LoginVerdict.Accepted : LoginVerdict.BadCredentials;
        }

        bool ok = passwords.Verify(user, text);
        if (ok)
        {
            // Remember good logins only: a reconnecting node does not pay 210,000 PBKDF2 rounds again.
            _verified[cacheKey] = true;
        }

        return ok ? LoginVerdict.Accepted : LoginVerdict.BadCredentials;
    }

    /// <summary>The ACL rules of one client; everything is allowed without an ACL file.</summary>
    public AccessRules RulesFor(string? user, string clientId) => _acl?.RulesFor(user, clientId) ?? AccessRules.AllowAll;

    /// <summary>Re-reads the users and ACL files; on a parse error the previous rules stay.</summary>
    public void Reload()
    {
        try
        {
            PasswordFile? passwords = _options.PasswordFile is { } p ? PasswordFile.Load(p) : null;
            AclFile? acl = _options.AclFile is { } a ? AclFile.Load(a) : null;
            _passwords = passwords;
            _acl = acl;
            _verified.Clear();
            Interlocked.Increment(ref _version);
            _logger.LogInformation("Reloaded users ({Users}) and ACL ({Acl})", _options.PasswordFile ?? "none", _options.AclFile ?? "none");
        }
        catch (Exception ex) when (ex is ConfigFileException or IOException or UnauthorizedAccessException)
        {
            _logger.LogError("Kept the previous users and ACL: {Message}", ex.Message);
        }
    }

    private void Watch(string? path)
    {
        if (path is null)
        {
            return;
        }

        string full = Path.GetFullPath(path);
        var watcher = new FileSystemWatcher(Path.GetDirectoryName(full)!, Path.GetFileName(full))
        {
            NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime,
        };
        watcher.Changed += (_, _) => Reload();
        watcher.Created += (_, _) => Reload();
        watcher.Renamed += (_, _) => Reload();
        watcher.EnableRaisingEvents = true;
        _watchers.Add(watcher);
    }

    public void Dispose()
    {
        foreach (FileSystemWatcher watcher in _watchers)
        {
            watcher.Dispose();
        }
    }

    private sealed class Failures
    {
        private readonly Queue<DateTimeOffset> _recent = new();
        private DateTimeOffset _blockedUntil;

        public bool IsBlocked(DateTimeOffset now)
        {
            lock (_recent)
            {
                return now < _blockedUntil;
            }
        }

        /// <summary>No failure within the last minute and not blocked: nothing left to throttle.</summary>
        public bool IsStale(DateTimeOffset now)
        {
            lock (_recent)
            {
                return now >= _blockedUntil && (_recent.Count == 0 || now - _recent.Last() > TimeSpan.FromMinutes(1));
            }
        }

        public void Add(DateTimeOffset now, int maxPerMinute, TimeSpan throttle)
        {
            lock (_recent)
            {
                _recent.Enqueue(now);
                while (_recent.Count > 0 && now - _recent.Peek() > TimeSpan.FromMinutes(1))
                {
                    _recent.Dequeue();
                }

                if (_recent.Count >= maxPerMinute)
                {
                    _blockedUntil = now + throttle;
                }
            }
        }
    }
}
