using System.CommandLine;
using SensorNode.Broker.Security;

namespace SensorNode.Broker.Host;

/// <summary>The security options of `run` and the `passwd` command that manages the users file.</summary>
internal sealed class SecurityCommandLine
{
    private readonly Option<string?> PasswordFileOption = new("--password-file") { Description = "Users file (manage it with 'passwd'); clients must log in as one of them." };
    private readonly Option<string?> AclFileOption = new("--acl-file") { Description = "Mosquitto-style ACL file (user/topic/pattern lines)." };
    private readonly Option<bool?> AllowAnonymousOption = new("--allow-anonymous") { Description = "Allow clients without a user name (default: only while listening on loopback)." };
    private readonly Option<int?> TlsPortOption = new("--tls-port") { Description = "Port of the TLS listener (MQTTS, usually 8883); needs --tls-cert and --tls-key or --tls-pfx." };
    private readonly Option<string?> TlsCertOption = new("--tls-cert") { Description = "PEM certificate (chain) of the TLS listener; reloaded when the file changes or on SIGHUP." };
    private readonly Option<string?> TlsKeyOption = new("--tls-key") { Description = "PEM private key of the TLS listener." };
    private readonly Option<string?> TlsPfxOption = new("--tls-pfx") { Description = "PKCS#12 file instead of PEM (password in SENSORNODE_TLS_PFX_PASSWORD)." };
    private readonly Option<string?> TlsClientCaOption = new("--tls-client-ca") { Description = "PEM CA file client certificates must chain to." };
    private readonly Option<string?> TlsClientCrlOption = new("--tls-client-crl") { Description = "CRL file (PEM or DER) of the client CA: revoked client certificates are refused; reloaded when it changes." };
    private readonly Option<ClientCertificateMode> TlsClientCertsOption = new("--tls-client-certs")
    {
        Description = "Ask clients for certificates: None, Optional or Required; a certificate's CN becomes the user name.",
        DefaultValueFactory = _ => ClientCertificateMode.None,
    };

    public SecurityCommandLine(Command command)
    {
        foreach (Option option in new Option[] { PasswordFileOption, AclFileOption, AllowAnonymousOption, TlsPortOption, TlsCertOption, TlsKeyOption, TlsPfxOption, TlsClientCaOption, TlsClientCrlOption, TlsClientCertsOption })
        {
            command.Options.Add(option);
        }
    }

    public void Apply(ParseResult parse, BrokerOptions options)
    {
        options.Security.PasswordFile = parse.GetValue(PasswordFileOption) ?? options.Security.PasswordFile;
        options.Security.AclFile = parse.GetValue(AclFileOption) ?? options.Security.AclFile;
        options.Security.AllowAnonymous = parse.GetValue(AllowAnonymousOption) ?? options.Security.AllowAnonymous;
        string? cert = parse.GetValue(TlsCertOption);
        string? pfx = parse.GetValue(TlsPfxOption);
        if (parse.GetValue(TlsPortOption) is { } tlsPort || cert is not null || pfx is not null)
        {
            options.Tls = new TlsOptions
            {
                Port = parse.GetValue(TlsPortOption) ?? 8883,
                CertificatePath = cert,
                KeyPath = parse.GetValue(TlsKeyOption),
                Pkcs12Path = pfx,
                Pkcs12Password = Environment.GetEnvironmentVariable("SENSORNODE_TLS_PFX_PASSWORD"),
                ClientCaPath = parse.GetValue(TlsClientCaOption),
                ClientCrlPath = parse.GetValue(TlsClientCrlOption),
                ClientCertificates = parse.GetValue(TlsClientCertsOption),
            };
        }
    }

    /// <summary>`passwd add|delete|list FILE [USER]`: salted PBKDF2-SHA512 hashes, never plaintext.</summary>
    public static Command Passwd()
    {
        var file = new Argument<string>("file") { Description = "The users file (created if missing)." };
        var user = new Argument<string>("user") { Description = "User name." };
        var password = new Option<string?>("--password") { Description = "The password (otherwise read from the terminal without echo, or from standard input)." };

        var add = new Command("add", "Add a user or change a user's password.") { file, user, password };
        add.SetAction(parse =>
        {
            string path = parse.GetValue(file)!;
            string secret = parse.GetValue(password) ?? ReadPassword();
            if (secret.Length == 0)
            {
                Console.Error.WriteLine("passwd: empty password refused");
                return 2;
            }

            WarnIf(LoadOrEmpty(path).With(parse.GetValue(user)!, secret).Save(path));
            Console.WriteLine($"user '{parse.GetValue(user)}' saved in {path}");
            return 0;
        });

        var delete = new Command("delete", "Remove a user.") { file, user };
        delete.SetAction(parse =>
        {
            string path = parse.GetValue(file)!;
            PasswordFile users = LoadOrEmpty(path);
            if (!users.Contains(parse.GetValue(user)!))
            {
                Console.Error.WriteLine($"passwd: no user '{parse.GetValue(user)}' in {path}");
                return 1;
            }

            WarnIf(users.Without(parse.GetValue(user)!).Save(path));
            Console.WriteLine($"user '{parse.GetValue(user)}' removed from {path}");
            return 0;
        });

        var list = new Command("list", "List the users (never their hashes).") { file };
        list.SetAction(parse =>
        {
            foreach (string name in LoadOrEmpty(parse.GetValue(file)!).Users.Order(StringComparer.Ordinal))
            {
                Console.WriteLine(name);
            }

            return 0;
        });

        return new Command("passwd", "Manage the users file (salted PBKDF2-SHA512 hashes).") { add, delete, list };
    }

    private static void WarnIf(string? warning)
    {
        if (warning is not null)
        {
            Console.Error.WriteLine($"passwd: warning: {warning}");
        }
    }

    private static PasswordFile LoadOrEmpty(string path)
    {
        try
        {
            return File.Exists(path) ? PasswordFile.Load(path) : PasswordFile.Parse(path, []);
        }
        catch (ConfigFileException ex)
        {
            Console.Error.WriteLine($"passwd: {ex.Message}");
            throw;
        }
    }

    private static string ReadPassword()
    {
        if (Console.IsInputRedirected)
        {
            return Console.ReadLine() ?? string.Empty;
        }

        Console.Write("Password: ");
        var text = new System.Text.StringBuilder();
        while (true)
        {
            ConsoleKeyInfo key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                Console.WriteLine();
                return text.ToString();
            }

            if (key.Key == ConsoleKey.Backspace && text.Length > 0)
            {
                text.Length--;
            }
            else if (!char.IsControl(key.KeyChar))
            {
                text.Append(key.KeyChar);
            }
        }
    }
}
