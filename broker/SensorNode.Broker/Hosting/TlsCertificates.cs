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
    private X509Certificate2 _server;

    // The certificate with its intermediates, as the handshake sends them.
    private SslStreamCertificateContext _context;
    private X509Certificate2Collection _clientAuthorities;
    private CertificateRevocationLists? _revocation;

    public TlsCertificates(TlsOptions options, ILogger? logger = null)
    {
        _options = options;
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        (_server, _context) = LoadServer(options);
        WarnIfExpired(_server);
        _clientAuthorities = LoadAuthorities(options.ClientCaPath);
        _revocation = LoadRevocation(options.ClientCrlPath, _clientAuthorities);
        WarnIfCrlExpired(_revocation);
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
            ssl.ServerCertificateContext = Volatile.Read(ref _context);
        },
        SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        ServerCertificateSelector = (_, _) => Volatile.Read(ref _server),
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
    private bool ValidateClient(X509Certificate2 certificate, X509Chain? _, SslPolicyErrors __)
    {
        X509Certificate2Collection authorities = Volatile.Read(ref _clientAuthorities);
        if (authorities.Count == 0)
        {
            return false;
        }

        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain.Build(certificate))
        {
            if (Volatile.Read(ref _revocation) is not { } revocation)
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

    private void WarnIfExpired(X509Certificate2 certificate)
    {
        if (certificate.NotAfter < DateTime.Now)
        {
            _logger.LogWarning("The TLS certificate {Subject} expired on {NotAfter:u}: clients that check it will refuse it", certificate.Subject, certificate.NotAfter.ToUniversalTime());
        }
    }

    public void Reload()
    {
        try
        {
            (X509Certificate2 server, SslStreamCertificateContext context) = LoadServer(_options);
            X509Certificate2Collection authorities = LoadAuthorities(_options.ClientCaPath);
            CertificateRevocationLists? revocation = LoadRevocation(_options.ClientCrlPath, authorities);
            Volatile.Write(ref _server, server);
            Volatile.Write(ref _context, context);
            Volatile.Write(ref _clientAuthorities, authorities);
            Volatile.Write(ref _revocation, revocation);
            WarnIfCrlExpired(revocation);
            _logger.LogInformation("Reloaded the TLS certificate {Subject} (valid until {NotAfter:u})", server.Subject, server.NotAfter.ToUniversalTime());
            WarnIfExpired(server);
        }
        catch (Exception ex) when (ex is IOException or System.Security.Cryptography.CryptographicException or InvalidOperationException or UnauthorizedAccessException or FormatException)
        {
            // Half-written files during a rotation: keep serving the old certificate; the next change retries.
            _logger.LogWarning("Kept the previous TLS certificate: the files do not load ({Message})", ex.Message);
        }
    }

    private static (X509Certificate2 Server, SslStreamCertificateContext Context) LoadServer(TlsOptions options)
    {
        (X509Certificate2 server, X509Certificate2Collection intermediates) = options.LoadServerChain();

        // Offline: the chain is what the file holds; nothing is downloaded during a handshake.
        return (server, SslStreamCertificateContext.Create(server, intermediates, offline: true));
    }

    private static CertificateRevocationLists? LoadRevocation(string? path, X509Certificate2Collection authorities) =>
        path is null ? null : CertificateRevocationLists.Load(path, authorities);

    private void WarnIfCrlExpired(CertificateRevocationLists? revocation)
    {
        if (revocation?.ExpiredNextUpdate(DateTimeOffset.UtcNow) is { } expired)
        {
            _logger.LogWarning("The client CRL file has a CRL past its Next Update ({NextUpdate:u}): client certificates from its issuer are refused until it is renewed", expired);
        }
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
