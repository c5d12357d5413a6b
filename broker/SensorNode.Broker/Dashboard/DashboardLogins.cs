using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using SensorNode.Broker.Security;

namespace SensorNode.Broker.Dashboard;

/// <summary>
/// Dashboard logins: user name and password checked by the broker's <see cref="SecurityManager"/> (same users file,
/// same failed-login throttling), then a random session token kept in an HttpOnly, SameSite=Strict cookie.
/// </summary>
public sealed class DashboardLogins(SecurityManager security, DashboardOptions options, TimeProvider clock)
{
    public const string CookieName = "sensornode_session";

    /// <summary>The client identifier the dashboard's viewers have for ACL patterns (%c).</summary>
    public const string ClientId = "sensornode-dashboard";

    private readonly ConcurrentDictionary<string, LoginSession> _sessions = new(StringComparer.Ordinal);

    /// <summary>How long a failed login waits before it is answered (the broker's setting for MQTT logins).</summary>
    public TimeSpan FailedLoginDelay { get; init; }

    /// <summary>True when the dashboard is open to the network (or anonymous access is refused outright).</summary>
    public bool LoginRequired => !security.DashboardAllowsAnonymous;

    /// <summary>Checks the credentials; a new session token when they are accepted.</summary>
    public (LoginVerdict Verdict, string? Token) Login(string user, string password, IPAddress? address)
    {
        if (string.IsNullOrEmpty(user))
        {
            return (LoginVerdict.BadCredentials, null);
        }

        LoginVerdict verdict = security.Login(user, Encoding.UTF8.GetBytes(password), address);
        if (verdict != LoginVerdict.Accepted)
        {
            return (verdict, null);
        }

        string token = Base64Url(RandomNumberGenerator.GetBytes(32));
        _sessions[token] = new LoginSession(user, clock.GetUtcNow() + options.SessionLifetime);
        foreach ((string key, LoginSession stale) in _sessions)
        {
            if (stale.Expires < clock.GetUtcNow())
            {
                _sessions.TryRemove(key, out _);
            }
        }

        return (verdict, token);
    }

    public void Logout(string? token)
    {
        if (token is not null)
        {
            _sessions.TryRemove(token, out _);
        }
    }

    /// <summary>
    /// Who is looking: the logged-in user of the token, or the anonymous viewer when no login is required;
    /// null when a login is needed.
    /// </summary>
    public Viewer? Resolve(string? token)
    {
        if (token is not null && _sessions.TryGetValue(token, out LoginSession? login))
        {
            if (login.Expires >= clock.GetUtcNow())
            {
                login.Expires = clock.GetUtcNow() + options.SessionLifetime;
                return new Viewer(login.User, security);
            }

            _sessions.TryRemove(token, out _);
        }

        return LoginRequired ? null : new Viewer(null, security);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private sealed class LoginSession(string user, DateTimeOffset expires)
    {
        public string User { get; } = user;

        public DateTimeOffset Expires { get; set; } = expires;
    }
}

/// <summary>Someone looking at the dashboard: what they may read follows the broker's ACL for their user.</summary>
public sealed class Viewer(string? user, SecurityManager security)
{
    private readonly ClientAccess _access = new(security, user, DashboardLogins.ClientId);

    public string? User { get; } = user;

    public AccessRules Rules => _access.Rules;

    public bool CanRead(string topic) => Rules.CanRead(topic);

    /// <summary>A $SYS topic: readable by everyone without an ACL, else as the ACL says ('#' alone does not reach '$' topics).</summary>
    public bool CanReadSys(string topic) => !security.HasAcl || Rules.CanRead(topic);

    /// <summary>The broker panel ($SYS numbers) is shown without an ACL, or to users who may read $SYS.</summary>
    public bool CanSeeBroker => !security.HasAcl || Rules.CanRead("$SYS/broker/clients/connected");
}
