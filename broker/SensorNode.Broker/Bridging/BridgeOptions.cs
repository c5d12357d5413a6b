using SensorNode.Broker.Sessions;

namespace SensorNode.Broker.Bridging;

/// <summary>Which way a bridge topic rule carries messages.</summary>
public enum BridgeDirection
{
    /// <summary>Local publications matching the local filter go upstream.</summary>
    Out,

    /// <summary>Upstream publications matching the remote filter come into the local broker.</summary>
    In,

    /// <summary>Both ways; the bridge never sends back what it brought in (no-local on both sides).</summary>
    Both,
}

/// <summary>What happens to the RETAIN flag of a bridged message.</summary>
public enum BridgeRetainMode
{
    /// <summary>RETAIN as published (MQTT 5 Retain As Published on the bridge's subscriptions).</summary>
    Keep,

    /// <summary>RETAIN cleared: for upstreams that refuse or charge for retained messages.</summary>
    Clear,
}

/// <summary>One upstream broker address; the list is tried in order (failover).</summary>
public sealed record UpstreamAddress(string Host, int Port)
{
    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}

/// <summary>One topic rule: which local topics go up and which remote topics come down, and how they are renamed.</summary>
public sealed class BridgeTopicRule
{
    public BridgeDirection Direction { get; set; } = BridgeDirection.Out;

    /// <summary>Local topic filter, e.g. <c>sensor/#</c>.</summary>
    public string Local { get; set; } = "#";

    /// <summary>Remote topic filter (a remap); null for the same as <see cref="Local"/>.</summary>
    public string? Remote { get; set; }

    /// <summary>The filter used at the upstream: <see cref="Remote"/>, or <see cref="Local"/>.</summary>
    public string RemoteFilter => Remote ?? Local;

    /// <summary>Highest QoS used on this rule in either direction (cloud services without QoS 2 take 1).</summary>
    public byte MaxQos { get; set; } = 2;

    public BridgeRetainMode Retain { get; set; } = BridgeRetainMode.Keep;

    public bool IsOut => Direction != BridgeDirection.In;

    public bool IsIn => Direction != BridgeDirection.Out;
}

/// <summary>One bridge to an upstream broker or cluster (issue #10).</summary>
public sealed class BridgeOptions
{
    /// <summary>Name used in logs, <c>$SYS/broker/bridge/&lt;name&gt;/...</c>, /metrics and the local session <c>$bridge/&lt;name&gt;</c>.</summary>
    public string Name { get; set; } = "upstream";

    /// <summary>Upstream addresses, tried in order on every (re)connect: the first is the primary.</summary>
    public List<UpstreamAddress> Addresses { get; } = [];

    public bool Tls { get; set; }

    /// <summary>PEM file of the CA(s) that sign the upstream's certificate; null trusts the system store.</summary>
    public string? CaFile { get; set; }

    /// <summary>PEM client certificate and key, for upstreams that authenticate clients by certificate (AWS IoT Core).</summary>
    public string? Certificate { get; set; }

    public string? PrivateKey { get; set; }

    /// <summary>TLS server name (SNI) and the name checked in the certificate; defaults to the address' host.</summary>
    public string? ServerName { get; set; }

    /// <summary>ALPN protocols offered, e.g. <c>x-amzn-mqtt-ca</c> for AWS IoT Core on port 443.</summary>
    public List<string> Alpn { get; } = [];

    public string? UserName { get; set; }

    public string? Password { get; set; }

    /// <summary>
    /// Client identifier at the upstream; defaults to <c>sensornode-&lt;host name&gt;-&lt;name&gt;</c>, so that the same
    /// bridge configuration on several sites does not make them take each other's upstream session over.
    /// </summary>
    public string? ClientId { get; set; }

    /// <summary>True for MQTT 5.0, false for 3.1.1.</summary>
    public bool Mqtt5 { get; set; } = true;

    public ushort KeepAliveSeconds { get; set; } = 60;

    /// <summary>
    /// Clean session / clean start at the upstream. False (the default) keeps the upstream session, so QoS 1/2
    /// exchanges in flight when the link broke are completed after reconnecting.
    /// </summary>
    public bool CleanStart { get; set; }

    /// <summary>MQTT 5 Session Expiry Interval asked of the upstream (seconds).</summary>
    public uint SessionExpirySeconds { get; set; } = 86_400;

    /// <summary>For 3.1.1 upstreams: connect with protocol level 0x84 (Mosquitto's bridge mode, no echo of our own messages).</summary>
    public bool BridgeProtocolFlag { get; set; } = true;

    /// <summary>First reconnect delay after every address failed; doubles up to <see cref="ReconnectMax"/>.</summary>
    public TimeSpan ReconnectMin { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan ReconnectMax { get; set; } = TimeSpan.FromSeconds(60);

    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Bound of the store-and-forward queue in bytes (oldest dropped first unless <see cref="OverflowPolicy"/> says otherwise).</summary>
    public long MaxQueuedBytes { get; set; } = 64L * 1024 * 1024;

    public int MaxQueuedMessages { get; set; } = 1_000_000;

    /// <summary>Queued messages older than this are dropped (counted) instead of forwarded; null keeps them.</summary>
    public TimeSpan? MaxMessageAge { get; set; }

    public QueueOverflowPolicy OverflowPolicy { get; set; } = QueueOverflowPolicy.DropOldest;

    /// <summary>Unacknowledged QoS 1/2 messages upstream (the upstream's Receive Maximum may lower it).</summary>
    public int MaxInflight { get; set; } = 20;

    /// <summary>Messages per second when draining a backlog; 0 drains as fast as the upstream acknowledges.</summary>
    public int DrainRatePerSecond { get; set; }

    /// <summary>
    /// The largest packet the upstream takes, for one that does not say (MQTT 3.1.1; Mosquitto's message_size_limit);
    /// 0: as announced (MQTT 5 CONNACK) or unlimited. A larger message is dropped and logged rather than sent: the
    /// upstream would close the connection, and again at every reconnect, with the bridge's queue stuck behind it.
    /// </summary>
    public long MaxPacketSize { get; set; }

    public List<BridgeTopicRule> Topics { get; } = [];

    /// <summary>The local session that queues outbound messages for this bridge.</summary>
    public string LocalClientId => BridgeManager.SessionPrefix + Name;

    public string EffectiveClientId => ClientId ?? $"sensornode-{Environment.MachineName.ToLowerInvariant()}-{Name}";
}
