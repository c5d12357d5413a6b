using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using MQTTnet;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Security;
using SensorNode.Broker.Tests.Infrastructure;
using SensorNode.Broker.Tests.Interop;
using Xunit.Abstractions;

namespace SensorNode.Broker.Tests.Security;

/// <summary>
/// A TLS listener's client CRL file (Mosquitto's <c>crlfile</c>): a revoked client certificate is refused at the
/// handshake, as are all of a CA's certificates while its CRL is missing or out of date; the file is reloaded when it
/// changes. CRLs are made by .NET's CertificateRevocationListBuilder, and one test uses mosquitto_pub.
/// </summary>
public sealed class CertificateRevocationTests(ITestOutputHelper output)
{
    private sealed record Pki(TestPki Authority, string ServerCert, string ServerKey, string CrlPath)
    {
        public (X509Certificate2 Certificate, string CertPath, string KeyPath) Client(string name)
        {
            string cert = Path.Combine(Authority.Directory, name + ".pem"), key = Path.Combine(Authority.Directory, name + ".key");
            return (Authority.IssueClient(name, cert, key), cert, key);
        }
    }

    private static Pki MakePki()
    {
        TestPki authority = TestPki.Create();
        string cert = Path.Combine(authority.Directory, "server.pem"), key = Path.Combine(authority.Directory, "server.key");
        authority.IssueServer(cert, key);
        return new Pki(authority, cert, key, Path.Combine(authority.Directory, "ca.crl"));
    }

    private static Task<BrokerServer> StartAsync(Pki pki) => TestBroker.StartAsync(o =>
    {
        o.Listeners.Add(new ListenerOptions { Kind = ListenerKind.Mqtt, BindAddress = "127.0.0.1", Port = 0 });
        o.Listeners.Add(new ListenerOptions
        {
            Kind = ListenerKind.MqttTls,
            BindAddress = "127.0.0.1",
            Port = 0,
            CertificatePath = pki.ServerCert,
            PrivateKeyPath = pki.ServerKey,
            ClientCertificates = ClientCertificateMode.Required,
            ClientCaPath = pki.Authority.CaPath,
            ClientCrlPath = pki.CrlPath,
        });
        o.Security.AllowAnonymous = false;
        o.Security.FailedLoginDelay = TimeSpan.FromMilliseconds(10);
    });

    private static async Task<bool> ConnectsAsync(BrokerServer broker, Pki pki, X509Certificate2 certificate)
    {
        try
        {
            await using MqttNetClient client = await MqttNetClient.ConnectAsync(broker.TlsPort, configure: b => b.WithTlsOptions(t => t
                .UseTls()
                .WithTargetHost("localhost")
                .WithSslProtocols(SslProtocols.Tls12 | SslProtocols.Tls13)
                .WithCertificateValidationHandler(e => pki.Authority.Validates(e.Certificate))
                .WithClientCertificates([certificate])));
            return client.ConnectResult?.ResultCode == MqttClientConnectResultCode.Success;
        }
        catch (MQTTnet.Exceptions.MqttCommunicationException)
        {
            return false;
        }
    }

    [Fact]
    public async Task A_revoked_client_certificate_is_refused_and_others_of_the_same_CA_are_not()
    {
        Pki pki = MakePki();
        (X509Certificate2 alice, _, _) = pki.Client("alice");
        (X509Certificate2 bob, _, _) = pki.Client("bob");
        pki.Authority.WriteCrl(pki.CrlPath, [bob]);
        await using BrokerServer broker = await StartAsync(pki);

        Assert.True(await ConnectsAsync(broker, pki, alice));
        Assert.False(await ConnectsAsync(broker, pki, bob));
    }

    [SkippableFact]
    public async Task Mosquitto_pub_with_a_revoked_certificate_is_refused()
    {
        string pub = ExternalTool.RequireMosquittoPub();
        Pki pki = MakePki();
        (_, string aliceCert, string aliceKey) = pki.Client("alice");
        (X509Certificate2 bob, string bobCert, string bobKey) = pki.Client("bob");
        pki.Authority.WriteCrl(pki.CrlPath, [bob], der: true);
        await using BrokerServer broker = await StartAsync(pki);
        string port = broker.TlsPort.ToString(System.Globalization.CultureInfo.InvariantCulture);

        string[] Tls(string cert, string key) => ["--cafile", pki.Authority.CaPath, "--cert", cert, "--key", key, "-h", "127.0.0.1", "-p", port, "-t", "crl/t", "-m", "x", "-q", "1"];
        (await ExternalTool.RunAsync(pub, Tls(aliceCert, aliceKey), output)).AssertSuccess();
        ProcessResult refused = await ExternalTool.RunAsync(pub, Tls(bobCert, bobKey), output);
        Assert.True(refused.ExitCode != 0, "a revoked certificate connected:\n" + refused.Description);
    }

    // The file is watched as the certificate is: revoking a device's certificate needs no restart. As with Mosquitto,
    // the check is made at the handshake, so a connection made before stays until it ends.
    [Fact]
    public async Task A_certificate_revoked_while_the_broker_runs_is_refused_from_the_next_handshake()
    {
        Pki pki = MakePki();
        (X509Certificate2 alice, _, _) = pki.Client("alice");
        pki.Authority.WriteCrl(pki.CrlPath, []);
        await using BrokerServer broker = await StartAsync(pki);
        Assert.True(await ConnectsAsync(broker, pki, alice));

        string next = pki.CrlPath + ".new";
        pki.Authority.WriteCrl(next, [alice]);
        File.Move(next, pki.CrlPath, overwrite: true);

        // Bounded wait for the file watcher: new handshakes until one is refused.
        bool connects = true;
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (connects && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
            connects = await ConnectsAsync(broker, pki, alice);
        }

        Assert.False(connects, "alice's certificate still connects after the CRL revoked it");
    }

    // OpenSSL (so Mosquitto) refuses a certificate whose CA's CRL has passed its Next Update: revocations since then
    // would be unknown.
    [Fact]
    public async Task A_CRL_past_its_next_update_refuses_the_CAs_certificates()
    {
        Pki pki = MakePki();
        (X509Certificate2 alice, _, _) = pki.Client("alice");
        pki.Authority.WriteCrl(pki.CrlPath, [], nextUpdate: DateTimeOffset.UtcNow.AddHours(-1));
        await using BrokerServer broker = await StartAsync(pki);

        Assert.False(await ConnectsAsync(broker, pki, alice));
    }

    [Fact]
    public void Lists_are_read_from_PEM_with_several_CRLs_or_DER_and_answer_per_issuer()
    {
        Pki pki = MakePki();
        TestPki other = TestPki.Create("Another CA");
        (X509Certificate2 alice, _, _) = pki.Client("alice");
        (X509Certificate2 bob, _, _) = pki.Client("bob");
        X509Certificate2 carol = other.IssueClient("carol", Path.Combine(other.Directory, "carol.pem"), Path.Combine(other.Directory, "carol.key"));
        DateTimeOffset now = DateTimeOffset.UtcNow;

        string both = Path.Combine(pki.Authority.Directory, "both.crl");
        File.WriteAllText(both, System.Security.Cryptography.PemEncoding.WriteString("X509 CRL", pki.Authority.BuildCrl([bob])) + "\n"
            + System.Security.Cryptography.PemEncoding.WriteString("X509 CRL", other.BuildCrl([carol])) + "\n");
        CertificateRevocationLists lists = CertificateRevocationLists.Load(both, [pki.Authority.Ca, other.Ca]);
        Assert.Equal(2, lists.Count);
        Assert.Null(lists.Refusal(alice, pki.Authority.Ca, now));
        Assert.Contains("is revoked", lists.Refusal(bob, pki.Authority.Ca, now));
        Assert.Contains("is revoked", lists.Refusal(carol, other.Ca, now));

        string der = Path.Combine(pki.Authority.Directory, "ca.der");
        pki.Authority.WriteCrl(der, [bob], der: true);
        CertificateRevocationLists fromDer = CertificateRevocationLists.Load(der, [pki.Authority.Ca]);
        Assert.Contains("is revoked", fromDer.Refusal(bob, pki.Authority.Ca, now));
        Assert.Contains("has no complete CRL in force from its issuer CN=Another CA", fromDer.Refusal(carol, other.Ca, now));
    }

    // A CRL that names the CA but was signed by another key (a forged or mixed-up file) is refused when loaded, so
    // check-config and start-up stop on it, and does not count as the CA's CRL in a handshake.
    [Fact]
    public void A_CRL_not_signed_by_its_CA_is_refused()
    {
        Pki pki = MakePki();
        TestPki impostor = TestPki.Create();
        (X509Certificate2 alice, _, _) = pki.Client("alice");
        string forged = Path.Combine(pki.Authority.Directory, "forged.crl");
        impostor.WriteCrl(forged, []);

        var ex = Assert.Throws<InvalidOperationException>(() => CertificateRevocationLists.Load(forged, [pki.Authority.Ca]));
        Assert.Contains("is not signed by that CA's key", ex.Message);
        Assert.Contains("has no complete CRL in force from its issuer", CertificateRevocationLists.Load(forged, []).Refusal(alice, pki.Authority.Ca, DateTimeOffset.UtcNow));

        File.WriteAllText(forged, "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n");
        Assert.Throws<InvalidOperationException>(() => CertificateRevocationLists.Load(forged, [pki.Authority.Ca]));
        File.WriteAllText(forged, "not a CRL");
        Assert.Contains("no CRL in the file", Assert.Throws<InvalidOperationException>(() => CertificateRevocationLists.Load(forged, [])).Message);
    }

    // RFC 5280 §5.2.4 / §5.2.5: a delta CRL, or one its Issuing Distribution Point narrows (here to CA certificates),
    // cannot say a certificate is not revoked. A newer one of those next to the complete CRL must not hide the
    // complete CRL's revocations, and alone it is not enough to let a certificate in.
    [Fact]
    public void A_newer_delta_or_narrowed_CRL_never_hides_a_revocation()
    {
        Pki pki = MakePki();
        (X509Certificate2 alice, _, _) = pki.Client("alice");
        (X509Certificate2 bob, _, _) = pki.Client("bob");
        DateTimeOffset now = DateTimeOffset.UtcNow;
        byte[] complete = Crl(pki.Authority, [bob], now.AddDays(-2), now.AddDays(5));
        byte[] delta = Crl(pki.Authority, [], now.AddHours(-1), now.AddDays(1), ("2.5.29.27", true, Der(w => w.WriteInteger(2))));
        byte[] caOnly = Crl(pki.Authority, [], now.AddHours(-1), now.AddDays(1), ("2.5.29.28", true, Der(w =>
        {
            w.PushSequence();
            w.WriteBoolean(true, new System.Formats.Asn1.Asn1Tag(System.Formats.Asn1.TagClass.ContextSpecific, 2));
            w.PopSequence();
        })));

        CertificateRevocationLists lists = LoadPem(pki, complete, delta, caOnly);
        Assert.Contains("is revoked", lists.Refusal(bob, pki.Authority.Ca, now));
        Assert.Null(lists.Refusal(alice, pki.Authority.Ca, now));

        CertificateRevocationLists narrowOnly = LoadPem(pki, delta, caOnly);
        Assert.Contains("no complete CRL in force", narrowOnly.Refusal(alice, pki.Authority.Ca, now));
    }

    // The start-up and reload warning about an out-of-date CRL looks at the CRL in force: an old one left in the file
    // next to its successor is no reason to warn.
    [Fact]
    public void Only_an_out_of_date_current_CRL_is_reported_as_expired()
    {
        Pki pki = MakePki();
        DateTimeOffset now = DateTimeOffset.UtcNow;
        byte[] old = Crl(pki.Authority, [], now.AddDays(-10), now.AddDays(-3));
        byte[] current = Crl(pki.Authority, [], now.AddDays(-1), now.AddDays(6));

        Assert.Null(LoadPem(pki, old, current).ExpiredNextUpdate(now));
        Assert.NotNull(LoadPem(pki, old).ExpiredNextUpdate(now));
    }

    // RFC 5280 §5.2: a CRL with a critical extension the reader does not know must not be used; refused at load, so
    // check-config names it. A non-critical unknown one is ignored.
    [Fact]
    public void A_CRL_with_an_unknown_critical_extension_is_refused()
    {
        Pki pki = MakePki();
        DateTimeOffset now = DateTimeOffset.UtcNow;
        byte[] critical = Crl(pki.Authority, [], now.AddDays(-1), now.AddDays(1), ("1.2.3.4", true, Der(w => w.WriteNull())));
        byte[] harmless = Crl(pki.Authority, [], now.AddDays(-1), now.AddDays(1), ("1.2.3.4", false, Der(w => w.WriteNull())));

        Assert.Contains("critical extension 1.2.3.4", Assert.Throws<InvalidOperationException>(() => LoadPem(pki, critical)).Message);
        Assert.Equal(1, LoadPem(pki, harmless).Count);
    }

    // A CA file may hold two certificates of one CA during a key rollover; its CRL is signed by one of them.
    [Fact]
    public void A_CRL_signed_by_one_of_two_certificates_of_its_CA_loads()
    {
        Pki pki = MakePki();
        TestPki rolled = TestPki.Create();
        (X509Certificate2 alice, _, _) = pki.Client("alice");
        string crl = Path.Combine(pki.Authority.Directory, "ca.crl");
        pki.Authority.WriteCrl(crl, [alice]);

        CertificateRevocationLists lists = CertificateRevocationLists.Load(crl, [rolled.Ca, pki.Authority.Ca]);
        Assert.Contains("is revoked", lists.Refusal(alice, pki.Authority.Ca, DateTimeOffset.UtcNow));
    }

    private static CertificateRevocationLists LoadPem(Pki pki, params byte[][] crls)
    {
        string path = Path.Combine(pki.Authority.Directory, Guid.NewGuid().ToString("N") + ".crl");
        File.WriteAllText(path, string.Concat(crls.Select(c => System.Security.Cryptography.PemEncoding.WriteString("X509 CRL", c) + "\n")));
        return CertificateRevocationLists.Load(path, [pki.Authority.Ca]);
    }

    private static byte[] Der(Action<System.Formats.Asn1.AsnWriter> write)
    {
        var writer = new System.Formats.Asn1.AsnWriter(System.Formats.Asn1.AsnEncodingRules.DER);
        write(writer);
        return writer.Encode();
    }

    /// <summary>A CRL with extensions of the test's choosing (CertificateRevocationListBuilder cannot add them), signed by the CA's ECDSA key.</summary>
    private static byte[] Crl(TestPki authority, X509Certificate2[] revoked, DateTimeOffset thisUpdate, DateTimeOffset nextUpdate, params (string Oid, bool Critical, byte[] Value)[] extensions)
    {
        const string EcdsaSha256 = "1.2.840.10045.4.3.2";
        var tbs = new System.Formats.Asn1.AsnWriter(System.Formats.Asn1.AsnEncodingRules.DER);
        tbs.PushSequence();
        tbs.WriteInteger(1);
        tbs.PushSequence();
        tbs.WriteObjectIdentifier(EcdsaSha256);
        tbs.PopSequence();
        tbs.WriteEncodedValue(authority.Ca.SubjectName.RawData);
        tbs.WriteUtcTime(thisUpdate);
        tbs.WriteUtcTime(nextUpdate);
        if (revoked.Length > 0)
        {
            tbs.PushSequence();
            foreach (X509Certificate2 certificate in revoked)
            {
                tbs.PushSequence();
                tbs.WriteInteger(certificate.SerialNumberBytes.Span);
                tbs.WriteUtcTime(thisUpdate);
                tbs.PopSequence();
            }

            tbs.PopSequence();
        }

        var context0 = new System.Formats.Asn1.Asn1Tag(System.Formats.Asn1.TagClass.ContextSpecific, 0, isConstructed: true);
        tbs.PushSequence(context0);
        tbs.PushSequence();
        foreach ((string oid, bool critical, byte[] value) in extensions)
        {
            tbs.PushSequence();
            tbs.WriteObjectIdentifier(oid);
            if (critical)
            {
                tbs.WriteBoolean(true);
            }

            tbs.WriteOctetString(value);
            tbs.PopSequence();
        }

        tbs.PopSequence();
        tbs.PopSequence(context0);
        tbs.PopSequence();
        byte[] signed = tbs.Encode();

        using System.Security.Cryptography.ECDsa key = authority.Ca.GetECDsaPrivateKey()!;
        byte[] signature = key.SignData(signed, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.DSASignatureFormat.Rfc3279DerSequence);
        var crl = new System.Formats.Asn1.AsnWriter(System.Formats.Asn1.AsnEncodingRules.DER);
        crl.PushSequence();
        crl.WriteEncodedValue(signed);
        crl.PushSequence();
        crl.WriteObjectIdentifier(EcdsaSha256);
        crl.PopSequence();
        crl.WriteBitString(signature);
        crl.PopSequence();
        return crl.Encode();
    }
}
