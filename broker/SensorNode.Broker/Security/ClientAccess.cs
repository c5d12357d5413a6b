namespace SensorNode.Broker.Security;

/// <summary>One client's ACL rules, re-resolved whenever the ACL file is reloaded.</summary>
public sealed class ClientAccess(SecurityManager manager, string? user, string clientId)
{
    private AccessRules? _rules;
    private int _version = -1;

    public string? User { get; } = user;

    /// <summary>The version of the broker's rules now; <see cref="Rules"/> follows it.</summary>
    public int CurrentVersion => manager.Version;

    public AccessRules Rules
    {
        get
        {
            int version = manager.Version;
            if (_rules is null || _version != version)
            {
                _rules = manager.RulesFor(User, clientId);
                _version = version;
            }

            return _rules;
        }
    }
}
