using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MQTTnet.Protocol;
using SensorNode.Broker.Bridging;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Tests.Infrastructure;
using static SensorNode.Broker.Tests.Bridging.BridgeTestKit;

namespace SensorNode.Broker.Tests.Bridging;

/// <summary>TLS to the upstream with a CA the test makes: the server is checked against it, and the bridge shows a client certificate.</summary>
[Trait("Category", "Bridging")]
public sealed class BridgeTlsTests
{
    /// <summary>A test CA, a server certificate for localhost/127.0.0.1 and a client certificate, as PEM files.</summary>
    private sealed record TestPki(string CaFile, string ServerCert, string ServerKey, string ClientCert, string ClientKey, string OtherCaFile);

    private static TestPki CreatePki(string directory)
    {
        using ECDsa caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=SensorNode Test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        DateTimeOffset now = DateTimeOffset.UtcNow;
        using X509Certificate2 ca = caRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));

        string Issue(string subject, bool server, string name)
        {
            using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
            if (server)
            {
                var names = new SubjectAlternativeNameBuilder();
                names.AddDnsName("localhost");
                names.AddIpAddress(IPAddress.Loopback);
                request.CertificateExtensions.Add(names.Build());
            }

            byte[] serial = RandomNumberGenerator.GetBytes(12);
            serial[0] &= 0x7F;
            using X509Certificate2 certificate = request.Create(ca, now.AddMinutes(-5), now.AddHours(12), serial);
            File.WriteAllText(Path.Combine(directory, name + ".crt"), certificate.ExportCertificatePem());
            File.WriteAllText(Path.Combine(directory, name + ".key"), key.ExportPkcs8PrivateKeyPem());
            return Path.Combine(directory, name);
        }

        File.WriteAllText(Path.Combine(directory, "ca.crt"), ca.ExportCertificatePem());
        string serverBase = Issue("CN=localhost", server: true, "server");
        string clientBase = Issue("CN=sensornode-bridge", server: false, "client");

        using ECDsa otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var otherRequest = new CertificateRequest("CN=Some Other CA", otherKey, HashAlgorithmName.SHA256);
        otherRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using X509Certificate2 other = otherRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
        File.WriteAllText(Path.Combine(directory, "other-ca.crt"), other.ExportCertificatePem());

        return new TestPki(Path.Combine(directory, "ca.crt"), serverBase + ".crt", serverBase + ".key", clientBase + ".crt", clientBase + ".key", Path.Combine(directory, "other-ca.crt"));
    }

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Bridges_over_tls_with_a_test_ca_and_a_client_certificate(bool mqtt5)
    {
        MosquittoUpstream.RequireMosquitto();
        string directory = TestBroker.NewDataDirectory();
        TestPki pki = CreatePki(directory);

        // Mosquitto checks the bridge's client certificate against the same CA; a second, plain listener is for
        // the test's own subscriber.
        int plainPort = MosquittoUpstream.FreePort();
        await using MosquittoUpstream upstream = await MosquittoUpstream.StartAsync(string.Join('\n',
            $"cafile {pki.CaFile}",
            $"certfile {pki.ServerCert}",
            $"keyfile {pki.ServerKey}",
            "require_certificate true",
            $"listener {plainPort} 127.0.0.1"));

        BridgeOptions options = Options("tls", mqtt5, upstream.Port);
        options.Tls = true;
        options.CaFile = pki.CaFile;
        options.Certificate = pki.ClientCert;
        options.PrivateKey = pki.ClientKey;
        options.ServerName = "localhost";
        options.Topics.Add(new BridgeTopicRule { Direction = BridgeDirection.Both, Local = "sensor/#", Remote = "edge/sensor/#", MaxQos = 1 });
        await using BrokerServer server = await StartBrokerAsync(options);
        Bridge bridge = Assert.Single(server.Broker.Bridges);
        await WaitConnectedAsync(bridge);

        await using MqttNetClient remote = await ClientAsync(plainPort);
        await remote.SubscribeAsync("edge/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await using MqttNetClient local = await ClientAsync(server.Port);
        await local.SubscribeAsync("sensor/#", MqttQualityOfServiceLevel.AtLeastOnce);

        await local.PublishAsync("sensor/up", "up-over-tls", MqttQualityOfServiceLevel.AtLeastOnce);
        ReceivedMessage up = await remote.NextAsync(Wait);
        Assert.Equal(("edge/sensor/up", "up-over-tls"), (up.Topic, up.Payload));
        Assert.Equal("up-over-tls", (await local.NextAsync(Wait)).Payload);

        await remote.PublishAsync("edge/sensor/down", "down-over-tls", MqttQualityOfServiceLevel.AtLeastOnce);
        ReceivedMessage down = await local.NextAsync(Wait);
        Assert.Equal(("sensor/down", "down-over-tls"), (down.Topic, down.Payload));
    }

    [SkippableFact]
    public async Task An_upstream_certificate_from_another_ca_is_refused()
    {
        MosquittoUpstream.RequireMosquitto();
        string directory = TestBroker.NewDataDirectory();
        TestPki pki = CreatePki(directory);
        await using MosquittoUpstream upstream = await MosquittoUpstream.StartAsync(string.Join('\n',
            $"certfile {pki.ServerCert}",
            $"keyfile {pki.ServerKey}"));

        BridgeOptions options = Options("untrusted", mqtt5: true, upstream.Port);
        options.Tls = true;
        options.CaFile = pki.OtherCaFile;
        options.Topics.Add(new BridgeTopicRule { Local = "sensor/#" });
        await using BrokerServer server = await StartBrokerAsync(options);
        Bridge bridge = Assert.Single(server.Broker.Bridges);
        await WaitForAsync(bridge, b => b.State.StartsWith("disconnected: 127.0.0.1", StringComparison.Ordinal), "refused for its certificate");
        Assert.False(bridge.IsConnected);
        Assert.Equal(0, bridge.Connects);
    }
}
