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

            if (tls.ClientCrlPath is { } crl)
            {
                string? problem = tls.ClientCaPath is null || tls.ClientCertificates == ClientCertificateMode.None
                    ? "a CRL file needs --tls-client-certs and --tls-client-ca: there is nothing to check it against"
                    : ClientCrlProblem(crl, tls.ClientCaPath);
                if (problem is not null)
                {
                    errors.Add(new ConfigurationError(crl, null, "--tls-client-crl", problem));
                }
            }
        }

        if (errors.Count > 0)
        {
            throw new ConfigurationException(errors);
        }
    }

    /// <summary>Why the CRL file cannot be used with the CA file (null when it can).</summary>
    public static string? ClientCrlProblem(string crlPath, string caPath)
    {
        try
        {
            var authorities = new X509Certificate2Collection();
            authorities.ImportFromPemFile(caPath);
            CertificateRevocationLists.Load(crlPath, authorities);
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException or InvalidOperationException or FormatException)
        {
            return $"CRL file '{crlPath}': {ex.Message}";
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
