using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;
using SensorNode.Broker.Security;

namespace SensorNode.Broker.Hosting;

/// <summary>
/// The TLS listener's certificate and client-certificate trust, loaded from files and reloaded when the files
/// change (or on <see cref="Reload"/>): new handshakes use the new certificate, open connections stay.
/// </summary>
internal sealed class TlsCertificates : IDisposable
{
    private readonly TlsOptions _options;
    private readonly ILogger _logger;
    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly Lock _reloading = new();

    // Replaced as a whole, so that a handshake never sees new CAs with the old CRL.
    private Material _material;

    /// <summary>
    /// What the files held at the last (re)load: the certificate, the certificate with its intermediates as the
    /// handshake sends them, the client CAs and their CRLs.
    /// </summary>
    private sealed record Material(
        X509Certificate2 Server,
        SslStreamCertificateContext Context,
        X509Certificate2Collection ClientAuthorities,
        CertificateRevocationLists? Revocation);

    public TlsCertificates(TlsOptions options, ILogger? logger = null)
    {
        _options = options;
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _material = Load(options);
        WarnIfExpired(_material);
        foreach (string? path in new[] { options.CertificatePath, options.KeyPath, options.Pkcs12Path, options.ClientCaPath, options.ClientCrlPath })
        {
            if (path is not null)
            {
                Watch(path);
            }
        }
    }

    /// <summary>Kestrel TLS options; <paramref name="mqtt"/> negotiates no ALPN (Kestrel would offer h2 and http/1.1), wss keeps http/1.1.</summary>
    public HttpsConnectionAdapterOptions HttpsOptions(bool mqtt) => new()
    {
        OnAuthenticate = (_, ssl) =>
        {
            ssl.ApplicationProtocols = mqtt ? null : [SslApplicationProtocol.Http11];

            // The whole chain, not the certificate alone (what the selector below would send): see LoadServerChain.
            ssl.ServerCertificateSelectionCallback = null;
            ssl.ServerCertificate = null;
            ssl.ServerCertificateContext = Volatile.Read(ref _material).Context;
        },
        SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        ServerCertificateSelector = (_, _) => Volatile.Read(ref _material).Server,
        ClientCertificateMode = _options.ClientCertificates switch
        {
            Security.ClientCertificateMode.Required => Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.RequireCertificate,
            Security.ClientCertificateMode.Optional => Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.AllowCertificate,
            _ => Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.NoCertificate,
        },
        ClientCertificateValidation = ValidateClient,
        HandshakeTimeout = TimeSpan.FromSeconds(10),
    };

    /// <summary>A client certificate must chain to the configured CA file (not the system store), and not be revoked by the CRL file.</summary>
    private bool ValidateClient(X509Certificate2 certificate, X509Chain? presented, SslPolicyErrors _)
    {
        Material material = Volatile.Read(ref _material);
        if (material.ClientAuthorities.Count == 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(material.ClientAuthorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;

        // Intermediates come from the client's handshake, never from the URLs its certificate names.
        chain.ChainPolicy.DisableCertificateDownloads = true;
        if (presented is not null)
        {
            chain.ChainPolicy.ExtraStore.AddRange(presented.ChainPolicy.ExtraStore);
        }

        if (chain.Build(certificate))
        {
            if (material.Revocation is not { } revocation)
            {
                return true;
            }

            X509ChainElementCollection elements = chain.ChainElements;
            X509Certificate2 issuer = elements[elements.Count > 1 ? 1 : 0].Certificate;
            if (revocation.Refusal(certificate, issuer, DateTimeOffset.UtcNow) is not { } refusal)
            {
                return true;
            }

            _logger.LogWarning("TLS client certificate {Subject} refused: {Refusal}", certificate.Subject, refusal);
            return false;
        }

        _logger.LogWarning(
            "TLS client certificate {Subject} refused: {Status}",
            certificate.Subject,
            string.Join(", ", chain.ChainStatus.Select(s => s.Status.ToString()).Distinct()));
        return false;
    }

    private void WarnIfExpired(Material material)
    {
        X509Certificate2 certificate = material.Server;
        if (certificate.NotAfter < DateTime.Now)
        {
            _logger.LogWarning("The TLS certificate {Subject} expired on {NotAfter:u}: clients that check it will refuse it", certificate.Subject, certificate.NotAfter.ToUniversalTime());
        }

        if (material.Revocation?.ExpiredNextUpdate(DateTimeOffset.UtcNow) is { } expired)
        {
            _logger.LogWarning("The client CRL file has a CRL past its Next Update ({NextUpdate:u}): client certificates from its issuer are refused until it is renewed", expired);
        }
    }

    public void Reload()
    {
        // One at a time: the watchers of the certificate, key, CA and CRL files fire together during a rotation, and
        // a reload that read the files earlier must not finish last and put back what they held then.
        lock (_reloading)
        {
            ReloadFiles();
        }
    }

    private void ReloadFiles()
    {
        try
        {
            Material material = Load(_options);
            Volatile.Write(ref _material, material);
            _logger.LogInformation("Reloaded the TLS certificate {Subject} (valid until {NotAfter:u})", material.Server.Subject, material.Server.NotAfter.ToUniversalTime());
            WarnIfExpired(material);
        }
        catch (Exception ex) when (ex is IOException or System.Security.Cryptography.CryptographicException or InvalidOperationException or UnauthorizedAccessException or FormatException)
        {
            // Half-written files during a rotation: keep serving the old certificate; the next change retries.
            _logger.LogWarning("Kept the previous TLS certificate, client CA and CRL: the files do not load ({Message})", ex.Message);
        }
    }

    private static Material Load(TlsOptions options)
    {
        (X509Certificate2 server, X509Certificate2Collection intermediates) = options.LoadServerChain();
        X509Certificate2Collection authorities = LoadAuthorities(options.ClientCaPath);

        // Offline: the chain is what the file holds; nothing is downloaded during a handshake.
        return new Material(
            server,
            SslStreamCertificateContext.Create(server, intermediates, offline: true),
            authorities,
            options.ClientCrlPath is { } crl ? CertificateRevocationLists.Load(crl, authorities) : null);
    }

    private static X509Certificate2Collection LoadAuthorities(string? path)
    {
        var collection = new X509Certificate2Collection();
        if (path is not null)
        {
            collection.ImportFromPemFile(path);
        }

        return collection;
    }

    private void Watch(string path)
    {
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
}
