using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace SensorNode.Broker.Hosting;

/// <summary>TLS for the mqtts and wss listeners: Kestrel's TLS middleware with a PEM certificate and key (TLS 1.2 and 1.3).</summary>
internal static class TlsListener
{
    public static void UseTls(ListenOptions listen, ListenerOptions listener)
    {
        X509Certificate2 certificate = X509Certificate2.CreateFromPemFile(listener.CertificatePath!, listener.PrivateKeyPath);
        listen.UseHttps(new HttpsConnectionAdapterOptions
        {
            ServerCertificate = certificate,
            SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            ClientCertificateMode = ClientCertificateMode.NoCertificate,
            HandshakeTimeout = TimeSpan.FromSeconds(10),
            OnAuthenticate = (_, ssl) =>
            {
                // MQTT over TLS negotiates no ALPN (Kestrel would offer h2 and http/1.1); wss keeps http/1.1.
                ssl.ApplicationProtocols = listener.Kind == ListenerKind.MqttTls ? null : [System.Net.Security.SslApplicationProtocol.Http11];
            },
        });
    }
}
