using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SensorNode.Broker.Security;

namespace SensorNode.Broker.Configuration;

/// <summary>
/// Reads the files the options name, as the broker will at start (users, ACL, the TLS listener's certificate and
/// client CA), so that `check-config` and `run` both stop on them with the file, the line and the key, exit 2, not a
/// stack trace at start-up.
/// </summary>
public static class StartupFileChecks
{
    public static void Check(BrokerOptions options)
    {
        var errors = new List<ConfigurationError>();
        if (options.Security.PasswordFile is { } users)
        {
            Try(errors, users, "security.passwordFile (--password-file)", () => PasswordFile.Load(users));
        }

        if (options.Security.AclFile is { } acl)
        {
            Try(errors, acl, "security.aclFile (--acl-file)", () => AclFile.Load(acl));
        }

        if (options.Tls is { } tls)
        {
            Try(errors, tls.Pkcs12Path ?? tls.CertificatePath ?? "command line", "--tls-cert, --tls-key or --tls-pfx", () => tls.LoadServerCertificate().Dispose());
            if (tls.ClientCertificates != ClientCertificateMode.None && tls.ClientCaPath is null)
            {
                errors.Add(new ConfigurationError("command line --tls-client-certs", null, "--tls-client-ca", $"client certificates are {tls.ClientCertificates} but no CA file says whom to trust, so every one would be refused"));
            }

            if (tls.ClientCaPath is { } ca)
            {
                Try(errors, ca, "--tls-client-ca", () =>
                {
                    var authorities = new X509Certificate2Collection();
                    authorities.ImportFromPemFile(ca);
                    if (authorities.Count == 0)
                    {
                        throw new InvalidOperationException("no PEM certificate in the file");
                    }
                });
            }
        }

        if (errors.Count > 0)
        {
            throw new ConfigurationException(errors);
        }
    }

    private static void Try(List<ConfigurationError> errors, string path, string key, Action load)
    {
        try
        {
            load();
        }
        catch (ConfigFileException ex)
        {
            errors.Add(new ConfigurationError(ex.Path, ex.Line, key, ex.Problem));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or InvalidOperationException or ArgumentException)
        {
            errors.Add(new ConfigurationError(path, null, key, ex.Message));
        }
    }
}
