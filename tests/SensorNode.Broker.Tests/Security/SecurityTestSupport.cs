using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Formatter;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Security;
using SensorNode.Broker.Tests.Hosting;
using SensorNode.Broker.Tests.Infrastructure;
using SensorNode.Broker.Tests.Interop;

namespace SensorNode.Broker.Tests.Security;

/// <summary>Files, clients and waits shared by the security tests.</summary>
public static class SecurityTestSupport
{
    /// <summary>The fewest iterations the hasher accepts: keeps integration tests fast (the CLI test uses the real default).</summary>
    public const int FastIterations = 1000;

    /// <summary>Writes a users file with fast hashes for the given (user, password) pairs; returns its path.</summary>
    public static string WriteUsers(string directory, params (string User, string Password)[] users)
    {
        string path = Path.Combine(directory, "users.txt");
        File.WriteAllLines(path, users.Select(u => $"{u.User}:{PasswordHasher.Hash(u.Password, FastIterations)}"));
        return path;
    }

    /// <summary>Writes a file atomically (temp file + rename), as a careful admin or config tool does.</summary>
    public static void WriteAtomically(string path, string content)
    {
        string temp = Path.Combine(Path.GetDirectoryName(path)!, "." + Path.GetFileName(path) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        File.WriteAllText(temp, content);
        File.Move(temp, path, overwrite: true);
    }

    public static string WriteAcl(string directory, string content)
    {
        string path = Path.Combine(directory, "acl.conf");
        File.WriteAllText(path, content);
        return path;
    }

    /// <summary>A broker as <see cref="TestBroker"/> starts it, with its log lines captured.</summary>
    public static Task<BrokerServer> StartWithLogsAsync(CapturingLoggerProvider logs, Action<BrokerOptions>? configure = null)
    {
        var options = new BrokerOptions { Port = 0, BindAddress = "127.0.0.1", DataDirectory = TestBroker.NewDataDirectory() };
        configure?.Invoke(options);
        return BrokerServer.StartAsync(options, logging =>
        {
            logging.SetMinimumLevel(LogLevel.Trace);
            logging.AddProvider(logs);
        });
    }

    /// <summary>Bounded wait for the security manager to reload (file watcher): the version moves past <paramref name="before"/>.</summary>
    public static Task WaitForReloadAsync(BrokerServer broker, int before) =>
        BrokerWait.UntilAsync(() => broker.Broker.Security.Version != before, "the users/ACL files to be reloaded (SecurityManager.Version to change)");

    public static Task<MqttNetClient> ConnectV5Async(int port, string? clientId = null, Action<MqttClientOptionsBuilder>? configure = null) =>
        MqttNetClient.ConnectAsync(port, clientId, configure: b =>
        {
            b.WithProtocolVersion(MqttProtocolVersion.V500);
            configure?.Invoke(b);
        });

    /// <summary>A raw 3.1.1 CONNECT with credentials; returns the socket and the CONNACK (null when the broker closed without one).</summary>
    public static async Task<(RawMqttClient Client, ConnAckPacket? ConnAck)> RawConnectAsync(int port, string clientId, string? user = null, string? password = null, WillMessage? will = null)
    {
        RawMqttClient raw = await RawMqttClient.ConnectAsync(port);
        await raw.SendAsync(new ConnectPacket
        {
            ClientId = clientId,
            KeepAliveSeconds = 60,
            UserName = user,
            Password = password is null ? null : System.Text.Encoding.UTF8.GetBytes(password),
            Will = will,
        });
        return (raw, await raw.ReceiveAsync() as ConnAckPacket);
    }

    /// <summary>Runs the real `sensornode-broker` executable (e.g. `passwd add ...`) to completion.</summary>
    public static Task<ProcessResult> RunBrokerCliAsync(params string[] arguments) =>
        ExternalTool.RunAsync("dotnet", [BrokerProcess.ExecutablePath, .. arguments], timeout: TimeSpan.FromSeconds(30));
}

/// <summary>Collects every log line (formatted message, the values of its template and any exception) in memory.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyList<string> Lines => [.. _lines];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            string values = state is IEnumerable<KeyValuePair<string, object?>> pairs ? string.Join(" | ", pairs.Select(p => $"{p.Key}={p.Value}")) : string.Empty;
            provider._lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} [{values}] {exception}");
        }
    }
}

/// <summary>
/// A throwaway PKI made by the test itself: a CA, server certificates (CN=localhost, SAN localhost and
/// 127.0.0.1) and client certificates, written as PEM files in a temporary directory (never committed).
/// </summary>
public sealed class TestPki
{
    private TestPki(string directory, X509Certificate2 ca, string caPath)
    {
        Directory = directory;
        Ca = ca;
        CaPath = caPath;
    }

    public string Directory { get; }

    public X509Certificate2 Ca { get; }

    public string CaPath { get; }

    public static TestPki Create(string? name = "SensorNode Test CA")
    {
        string directory = TestBroker.NewDataDirectory();
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        X509Certificate2 ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        string caPath = Path.Combine(directory, "ca.pem");
        File.WriteAllText(caPath, ca.ExportCertificatePem());
        return new TestPki(directory, ca, caPath);
    }

    /// <summary>An intermediate CA signed by this one, as a PKI of its own (its <see cref="CaPath"/> holds the intermediate alone).</summary>
    public TestPki IssueIntermediate(string name = "SensorNode Test Intermediate CA")
    {
        string directory = TestBroker.NewDataDirectory();
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        byte[] serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using X509Certificate2 issued = request.Create(Ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(60), serial);
        X509Certificate2 intermediate = X509CertificateLoader.LoadPkcs12(issued.CopyWithPrivateKey(key).Export(X509ContentType.Pkcs12), null);
        string path = Path.Combine(directory, "intermediate.pem");
        File.WriteAllText(path, intermediate.ExportCertificatePem());
        return new TestPki(directory, intermediate, path);
    }

    /// <summary>Issues a server certificate for localhost / 127.0.0.1 and writes it to <paramref name="certPath"/> and <paramref name="keyPath"/>.</summary>
    public X509Certificate2 IssueServer(string certPath, string keyPath) =>
        Issue("CN=localhost", certPath, keyPath, server: true);

    /// <summary>Issues a client certificate with the given Common Name; returns it with its private key.</summary>
    public X509Certificate2 IssueClient(string commonName, string certPath, string keyPath) =>
        Issue($"CN={commonName}", certPath, keyPath, server: false);

    /// <summary>Issues a client certificate with any subject, e.g. one without a Common Name.</summary>
    public X509Certificate2 IssueClientWithSubject(string subject, string certPath, string keyPath) =>
        Issue(subject, certPath, keyPath, server: false);

    private X509Certificate2 Issue(string subject, string certPath, string keyPath, bool server)
    {
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        if (server)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddDnsName("localhost");
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
        }

        byte[] serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using X509Certificate2 issued = request.Create(Ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), serial);
        using X509Certificate2 withKey = issued.CopyWithPrivateKey(key);
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(certPath, issued.ExportCertificatePem());

        // An ephemeral key cannot always be used by SslStream: go through PKCS#12 as a real client would load it.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>
    /// Writes a CRL of this CA revoking <paramref name="revoked"/> (PEM, or DER when <paramref name="der"/>); valid from
    /// yesterday for a week unless <paramref name="nextUpdate"/> says otherwise.
    /// </summary>
    public void WriteCrl(string path, IEnumerable<X509Certificate2> revoked, DateTimeOffset? nextUpdate = null, bool der = false)
    {
        byte[] crl = BuildCrl(revoked, nextUpdate);
        if (der)
        {
            File.WriteAllBytes(path, crl);
        }
        else
        {
            File.WriteAllText(path, PemEncoding.WriteString("X509 CRL", crl) + "\n");
        }
    }

    public byte[] BuildCrl(IEnumerable<X509Certificate2> revoked, DateTimeOffset? nextUpdate = null)
    {
        var builder = new CertificateRevocationListBuilder();
        foreach (X509Certificate2 certificate in revoked)
        {
            builder.AddEntry(certificate, DateTimeOffset.UtcNow.AddMinutes(-5), X509RevocationReason.KeyCompromise);
        }

        DateTimeOffset next = nextUpdate ?? DateTimeOffset.UtcNow.AddDays(7);
        DateTimeOffset thisUpdate = next.AddDays(-1) < DateTimeOffset.UtcNow.AddDays(-1) ? next.AddDays(-1) : DateTimeOffset.UtcNow.AddDays(-1);
        return builder.Build(Ca, System.Numerics.BigInteger.One, next, HashAlgorithmName.SHA256, thisUpdate: thisUpdate);
    }

    /// <summary>True when <paramref name="certificate"/> chains to this test CA (and only to it) and names <paramref name="host"/>.</summary>
    public bool Validates(X509Certificate certificate, string host = "localhost")
    {
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(leaf) && leaf.MatchesHostname(host);
    }

    /// <summary>One bare TLS handshake with the listener; returns the thumbprint of the certificate the server presented.</summary>
    public async Task<string> HandshakeThumbprintAsync(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        string? seen = null;
        await using var ssl = new SslStream(tcp.GetStream(), false, (_, certificate, _, _) =>
        {
            seen = certificate is null ? null : Convert.ToHexString(certificate.GetCertHash());
            return certificate is not null && Validates(certificate);
        });
        using var cts = new CancellationTokenSource(TestBroker.Timeout);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" }, cts.Token);
        return seen ?? throw new InvalidOperationException("no server certificate");
    }
}
