using System.Security.Cryptography.X509Certificates;

namespace SensorNode.Broker.Security;

/// <summary>Who may connect and what they may do.</summary>
public sealed class SecurityOptions
{
    /// <summary>Users file (see <see cref="PasswordFile"/>); null: no passwords are checked.</summary>
    public string? PasswordFile { get; set; }

    /// <summary>Mosquitto-style ACL file (see <see cref="AclFile"/>); null: every client may do everything.</summary>
    public string? AclFile { get; set; }

    /// <summary>
    /// Clients without a user name: null decides by exposure, allowed while every listener is on loopback and
    /// refused once one is open to the network (secure by default).
    /// </summary>
    public bool? AllowAnonymous { get; set; }

    /// <summary>How long a failed login waits before its refusal is sent.</summary>
    public TimeSpan FailedLoginDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Failed logins for one user name from one address within a minute before further attempts are refused unchecked.</summary>
    public int MaxFailedLoginsPerMinute { get; set; } = 5;

    /// <summary>How long an address (for that user name) stays throttled after too many failures.</summary>
    public TimeSpan LoginThrottle { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>Whether and how a client certificate is asked for on the TLS listener.</summary>
public enum ClientCertificateMode
{
    None,
    Optional,
    Required,
}

/// <summary>The TLS listener (MQTTS): TLS 1.2 and 1.3 only.</summary>
public sealed class TlsOptions
{
    /// <summary>TLS port; 0 picks a free one.</summary>
    public int Port { get; set; } = 8883;

    /// <summary>PEM certificate (chain) file; with <see cref="KeyPath"/>.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>PEM private key file.</summary>
    public string? KeyPath { get; set; }

    /// <summary>PKCS#12 (.pfx) file instead of PEM.</summary>
    public string? Pkcs12Path { get; set; }

    public string? Pkcs12Password { get; set; }

    public ClientCertificateMode ClientCertificates { get; set; } = ClientCertificateMode.None;

    /// <summary>PEM file of the CA(s) that client certificates must chain to.</summary>
    public string? ClientCaPath { get; set; }

    /// <summary>CRL file (PEM or DER) of the client CAs, as Mosquitto's <c>crlfile</c>; see <see cref="CertificateRevocationLists"/>.</summary>
    public string? ClientCrlPath { get; set; }

    /// <summary>Use the client certificate's Common Name as the MQTT user name (no password then needed).</summary>
    public bool CertificateCommonNameAsUserName { get; set; } = true;

    internal X509Certificate2 LoadServerCertificate() => LoadServerChain().Certificate;

    /// <summary>
    /// The server certificate and the intermediates that come with it in the file (a <c>fullchain.pem</c>, or the
    /// other certificates of a PKCS#12 file). Those go to clients with the certificate: they trust only the root, and
    /// MQTT clients (OpenSSL's, mbedTLS on an ESP32) do not fetch a missing intermediate.
    /// </summary>
    /// <summary>
    /// Why <paramref name="certificate"/> cannot serve TLS (null when it can): one whose Extended Key Usage leaves out
    /// server authentication is refused by every client, so start-up says so rather than each handshake failing
    /// (Kestrel's own check, which the certificate context set per handshake bypasses).
    /// </summary>
    public static string? ServerUsageProblem(X509Certificate2 certificate)
    {
        if (certificate.Extensions["2.5.29.37"] is X509EnhancedKeyUsageExtension usages
            && !usages.EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>().Any(u => u.Value is "1.3.6.1.5.5.7.3.1" or "2.5.29.37.0"))
        {
            return $"the certificate {certificate.Subject} is not for servers: its Extended Key Usage does not include Server Authentication (1.3.6.1.5.5.7.3.1)";
        }

        return null;
    }

    private static void EnsureServerUsage(X509Certificate2 certificate)
    {
        if (ServerUsageProblem(certificate) is { } problem)
        {
            throw new InvalidOperationException(problem);
        }
    }

    internal (X509Certificate2 Certificate, X509Certificate2Collection Intermediates) LoadServerChain()
    {
        var intermediates = new X509Certificate2Collection();
        if (Pkcs12Path is not null)
        {
            X509Certificate2Collection all = X509CertificateLoader.LoadPkcs12CollectionFromFile(Pkcs12Path, Pkcs12Password);
            X509Certificate2 withKey = all.FirstOrDefault(c => c.HasPrivateKey) ?? throw new InvalidOperationException($"{Pkcs12Path} holds no certificate with its private key");
            intermediates.AddRange(all.Where(c => !ReferenceEquals(c, withKey)).ToArray());
            EnsureServerUsage(withKey);
            return (withKey, intermediates);
        }

        if (CertificatePath is null || KeyPath is null)
        {
            throw new InvalidOperationException("the TLS listener needs CertificatePath and KeyPath (PEM) or Pkcs12Path");
        }

        using var pem = X509Certificate2.CreateFromPemFile(CertificatePath, KeyPath);
        EnsureServerUsage(pem);
        var inFile = new X509Certificate2Collection();
        inFile.ImportFromPemFile(CertificatePath);
        intermediates.AddRange(inFile.Where(c => c.Thumbprint != pem.Thumbprint).ToArray());

        // An ephemeral PEM key cannot be used by SslStream on every platform: round-trip through PKCS#12.
        return (X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null), intermediates);
    }
}
