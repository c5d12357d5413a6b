namespace SensorNode.Broker.Hosting;

/// <summary>What a listener speaks.</summary>
public enum ListenerKind
{
    /// <summary>MQTT over plain TCP (port 1883 by convention).</summary>
    Mqtt,

    /// <summary>MQTT over TLS (8883): a PEM certificate and private key are required.</summary>
    MqttTls,

    /// <summary>MQTT over WebSocket (ws://host:8080/mqtt, subprotocol "mqtt").</summary>
    WebSocket,

    /// <summary>MQTT over WebSocket over TLS (wss://): a PEM certificate and private key are required.</summary>
    WebSocketTls,

    /// <summary>Plain HTTP for operators: Prometheus <c>/metrics</c> and <c>/health</c>.</summary>
    Http,
}

/// <summary>One endpoint the broker listens on.</summary>
public sealed class ListenerOptions
{
    public ListenerKind Kind { get; set; } = ListenerKind.Mqtt;

    /// <summary>"localhost" (both loopback addresses), "any", or an IP address.</summary>
    public string BindAddress { get; set; } = "localhost";

    /// <summary>TCP port; 0 picks a free one.</summary>
    public int Port { get; set; } = BrokerOptions.DefaultPort;

    /// <summary>Request path of a WebSocket listener.</summary>
    public string Path { get; set; } = "/mqtt";

    /// <summary>PEM certificate (chain) file of a TLS listener.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>PEM private key file of a TLS listener.</summary>
    public string? PrivateKeyPath { get; set; }

    /// <summary>Whether a TLS listener asks clients for a certificate; a certificate's Common Name becomes the user name.</summary>
    public Security.ClientCertificateMode ClientCertificates { get; set; } = Security.ClientCertificateMode.None;

    /// <summary>PEM file of the CA(s) client certificates of a TLS listener must chain to.</summary>
    public string? ClientCaPath { get; set; }

    /// <summary>CRL file (PEM or DER) of the client CAs: revoked certificates are refused (see <see cref="Security.CertificateRevocationLists"/>).</summary>
    public string? ClientCrlPath { get; set; }

    public bool IsTls => Kind is ListenerKind.MqttTls or ListenerKind.WebSocketTls;

    public bool IsWebSocket => Kind is ListenerKind.WebSocket or ListenerKind.WebSocketTls;

    /// <summary>The name used in the configuration file.</summary>
    public string KindName => KindNames[Kind];

    public static IReadOnlyDictionary<ListenerKind, string> KindNames { get; } = new Dictionary<ListenerKind, string>
    {
        [ListenerKind.Mqtt] = "mqtt",
        [ListenerKind.MqttTls] = "mqtts",
        [ListenerKind.WebSocket] = "websocket",
        [ListenerKind.WebSocketTls] = "wss",
        [ListenerKind.Http] = "http",
    };

    public override string ToString() => Kind switch
    {
        ListenerKind.WebSocket => $"ws://{BindAddress}:{Port}{Path}",
        ListenerKind.WebSocketTls => $"wss://{BindAddress}:{Port}{Path}",
        ListenerKind.Http => $"http://{BindAddress}:{Port}",
        ListenerKind.MqttTls => $"mqtts://{BindAddress}:{Port}",
        _ => $"mqtt://{BindAddress}:{Port}",
    };
}
