using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Protocol.V5;

namespace SensorNode.Broker.Bridging;

/// <summary>A bridge's attempt to reach an upstream failed before the MQTT session was up; the message says why.</summary>
public sealed class UpstreamException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>A 3.1.1 CONNECT with the bridge protocol flag (level 0x84) was refused as an unacceptable protocol version [MQTT-3.1.2-2]: retry without it.</summary>
    public bool BridgeFlagRefused { get; init; }
}

/// <summary>
/// One network connection to an upstream broker on the broker's own codec: TCP or TLS (CA file, client certificate,
/// SNI, ALPN), CONNECT/CONNACK, then whole frames in and serialised writes out. The bridge decides packet
/// identifiers, DUP and PUBREL itself (it must, to carry QoS 1/2 state across reconnects and restarts).
/// </summary>
internal sealed class UpstreamLink : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly Stream _stream;
    private readonly PipeReader _reader;
    private readonly PipeWriter _writer;
    private readonly SemaphoreSlim _writeLock = new(1, 1);

    private UpstreamLink(TcpClient tcp, Stream stream, ProtocolLevel level)
    {
        _tcp = tcp;
        _stream = stream;
        Level = level;
        _reader = PipeReader.Create(stream);
        _writer = PipeWriter.Create(stream);
    }

    public ProtocolLevel Level { get; }

    public bool IsV5 => Level == ProtocolLevel.V500;

    public UpstreamAddress Address { get; private init; } = null!;

    public bool SessionPresent { get; private set; }

    /// <summary>The upstream's Receive Maximum (5.0), or ushort.MaxValue.</summary>
    public int ReceiveMaximum { get; private set; } = ushort.MaxValue;

    /// <summary>The upstream's Maximum QoS (5.0 CONNACK), or 2.</summary>
    public byte MaximumQos { get; private set; } = 2;

    /// <summary>False when the upstream said it does not take retained messages (5.0 Retain Available = 0).</summary>
    public bool RetainAvailable { get; private set; } = true;

    /// <summary>The upstream's Maximum Packet Size (5.0 CONNACK), or int.MaxValue.</summary>
    public long MaximumPacketSize { get; private set; } = int.MaxValue;

    /// <summary>Keep alive in force: ours, or the upstream's Server Keep Alive (5.0).</summary>
    public ushort KeepAliveSeconds { get; private set; }

    public static async Task<UpstreamLink> ConnectAsync(BridgeOptions options, UpstreamAddress address, CancellationToken cancellationToken, bool bridgeFlag = true)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.ConnectTimeout);
        var tcp = new TcpClient { NoDelay = true };
        Stream? stream = null;
        try
        {
            try
            {
                await tcp.ConnectAsync(address.Host, address.Port, timeout.Token);
            }
            catch (SocketException ex)
            {
                throw new UpstreamException($"cannot connect to {address}: {ex.Message}", ex);
            }

            stream = tcp.GetStream();
            if (options.Tls)
            {
                stream = await AuthenticateAsync(options, address, stream, timeout.Token);
            }

            ProtocolLevel level = options.Mqtt5 ? ProtocolLevel.V500 : ProtocolLevel.V311;
            var link = new UpstreamLink(tcp, stream, level) { Address = address };
            try
            {
                await link.HandshakeAsync(options, bridgeFlag && options.BridgeProtocolFlag && !options.Mqtt5, timeout.Token);
                return link;
            }
            catch
            {
                await link.DisposeAsync();
                throw;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            tcp.Dispose();
            throw new UpstreamException($"{address} did not complete the connection within {options.ConnectTimeout.TotalSeconds:0.#} s");
        }
        catch (Exception ex) when (ex is IOException or AuthenticationException or MqttProtocolException)
        {
            tcp.Dispose();
            throw new UpstreamException($"{address}: {ex.Message}", ex);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    private static async Task<Stream> AuthenticateAsync(BridgeOptions options, UpstreamAddress address, Stream inner, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
        var authentication = new SslClientAuthenticationOptions
        {
            TargetHost = options.ServerName ?? address.Host,
            EnabledSslProtocols = SslProtocols.None,
        };
        if (options.Alpn.Count > 0)
        {
            authentication.ApplicationProtocols = [.. options.Alpn.Select(p => new SslApplicationProtocol(p))];
        }

        if (options.Certificate is not null)
        {
            authentication.ClientCertificates = [LoadClientCertificate(options.Certificate, options.PrivateKey)];
        }

        if (options.CaFile is null)
        {
            // The system's CAs; the chain is built inside the handshake, on a socket thread: it must not fetch certificates.
            authentication.CertificateChainPolicy = new X509ChainPolicy { DisableCertificateDownloads = true };
        }
        else
        {
            X509Certificate2Collection roots = LoadCaFile(options.CaFile);
            authentication.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                if (certificate is null || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0 || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
                {
                    return false;
                }

                // The chain is built against the configured CA(s) only, not the system store.
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.AddRange(roots);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;

                // Chain building runs inside the handshake, on a socket thread: it must not fetch certificates.
                chain.ChainPolicy.DisableCertificateDownloads = true;
                using var leaf = new X509Certificate2(certificate);
                return chain.Build(leaf);
            };
        }

        try
        {
            await ssl.AuthenticateAsClientAsync(authentication, cancellationToken);
            return ssl;
        }
        catch
        {
            await ssl.DisposeAsync();
            throw;
        }
    }

    public static X509Certificate2Collection LoadCaFile(string path)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(path);
        return roots;
    }

    public static X509Certificate2 LoadClientCertificate(string certificate, string? privateKey)
    {
        using X509Certificate2 pem = X509Certificate2.CreateFromPemFile(certificate, privateKey);

        // SslStream needs the key in a form the platform's TLS can use: round-trip through PKCS#12.
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }

    private async Task HandshakeAsync(BridgeOptions options, bool bridgeFlag, CancellationToken cancellationToken)
    {
        var connect = new ConnectPacket
        {
            ProtocolLevel = IsV5 ? ProtocolLevel.V500 : bridgeFlag ? (ProtocolLevel)0x84 : ProtocolLevel.V311,
            CleanSession = options.CleanStart,
            KeepAliveSeconds = options.KeepAliveSeconds,
            ClientId = options.EffectiveClientId,
            UserName = options.UserName,
            Password = options.Password is null ? null : System.Text.Encoding.UTF8.GetBytes(options.Password),
            Properties = IsV5 ? new MqttProperties { SessionExpiryInterval = options.SessionExpirySeconds, ReceiveMaximum = 65_535 } : null,
        };
        KeepAliveSeconds = options.KeepAliveSeconds;
        await WriteAsync(output => MqttPacketWriter.Write(output, connect, IsV5 ? ProtocolLevel.V500 : ProtocolLevel.V311), cancellationToken);
        (byte header, byte[] body)? frame = await ReadFrameAsync(cancellationToken)
            ?? throw new UpstreamException($"{Address} closed the connection after CONNECT");
        if (MqttPacketDecoder.TypeOf(frame.Value.header) != PacketType.ConnAck)
        {
            throw new UpstreamException($"{Address} answered CONNECT with packet type {frame.Value.header >> 4}, not CONNACK");
        }

        ConnAckPacket connAck = MqttPacketDecoder.ReadConnAck(frame.Value.body, Level);
        if (connAck.ReasonCode != ReasonCode.Success)
        {
            throw new UpstreamException(IsV5
                ? $"{Address} refused the connection: {connAck.ReasonCode}"
                : $"{Address} refused the connection: {connAck.ReturnCode}")
            {
                BridgeFlagRefused = bridgeFlag && connAck.ReturnCode == ConnectReturnCode.UnacceptableProtocolVersion,
            };
        }

        SessionPresent = connAck.SessionPresent;
        if (connAck.Properties is { } properties)
        {
            ReceiveMaximum = properties.ReceiveMaximum ?? ushort.MaxValue;
            MaximumQos = properties.MaximumQos ?? 2;
            RetainAvailable = properties.RetainAvailable ?? true;
            KeepAliveSeconds = properties.ServerKeepAlive ?? KeepAliveSeconds;
            MaximumPacketSize = properties.MaximumPacketSize ?? int.MaxValue;
        }
    }

    /// <summary>The next whole packet (header and a copy of its body), or null once the upstream closed the connection.</summary>
    public async Task<(byte Header, byte[] Body)?> ReadFrameAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result = await _reader.ReadAsync(cancellationToken);
            ReadOnlySequence<byte> buffer = result.Buffer;
            if (MqttFrameReader.TryReadFrame(ref buffer, MqttFrameReader.MaxRemainingLength + 5, out byte header, out ReadOnlySequence<byte> body))
            {
                byte[] copy = body.ToArray();
                _reader.AdvanceTo(buffer.Start);
                return (header, copy);
            }

            _reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                return null;
            }
        }
    }

    /// <summary>Writes packets and flushes, one writer at a time (the forwarder and the acknowledgements share the link).</summary>
    public async Task WriteAsync(Action<IBufferWriter<byte>> write, CancellationToken cancellationToken)
    {
        await _writeLock.WaitAsync(cancellationToken);
        try
        {
            write(_writer);
            FlushResult flushed = await _writer.FlushAsync(cancellationToken);
            if (flushed.IsCompleted || flushed.IsCanceled)
            {
                throw new IOException("the upstream connection is closed");
            }
        }
        finally
        {
            _writeLock.Release();
        }
    }

    public Task WriteAckAsync(PacketType type, ushort packetId, CancellationToken cancellationToken) =>
        WriteAsync(output => MqttPacketWriter.WriteAck(output, type, packetId), cancellationToken);

    public async Task DisconnectAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await WriteAsync(output => MqttPacketWriter.WriteEmpty(output, PacketType.Disconnect), timeout.Token);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException or InvalidOperationException or SocketException)
        {
            // Already gone.
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _reader.CompleteAsync();
            await _writer.CompleteAsync();
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            // The stream may already be broken.
        }

        await _stream.DisposeAsync();
        _tcp.Dispose();
        _writeLock.Dispose();
    }
}
