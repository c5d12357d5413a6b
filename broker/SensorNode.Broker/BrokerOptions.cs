using SensorNode.Broker.Persistence;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Sessions;

namespace SensorNode.Broker;

/// <summary>Decides whether a CONNECT's credentials are accepted (issue #6 brings password files and ACLs).</summary>
public delegate ConnectReturnCode ConnectAuthenticator(ConnectPacket connect);

/// <summary>Where the broker keeps its state.</summary>
public enum PersistenceMode
{
    /// <summary>SQLite database in <see cref="BrokerOptions.DataDirectory"/>: survives restarts and crashes (default).</summary>
    Sqlite,

    /// <summary>Nothing on disk: retained messages and persistent sessions end with the process.</summary>
    Memory,
}

/// <summary>Everything the broker can be told; defaults are what the executable runs with.</summary>
public sealed class BrokerOptions
{
    public const int DefaultPort = 1883;

    /// <summary>TCP port; 0 picks a free port (reported by <see cref="Hosting.BrokerServer.Port"/> and logged).</summary>
    public int Port { get; set; } = DefaultPort;

    /// <summary>
    /// Listen address: "localhost" (both loopback addresses, the default), "any" / "0.0.0.0" / "::", or an IP address.
    /// </summary>
    public string BindAddress { get; set; } = "localhost";

    /// <summary>
    /// Plain-TCP clients on Linux are served by the epoll transport (far less memory per idle connection); off, or
    /// with the environment variable <c>SENSORNODE_TCP_TRANSPORT=sockets</c>, by .NET sockets as on other systems.
    /// </summary>
    public bool UseEpollTransport { get; set; } =
        OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable("SENSORNODE_TCP_TRANSPORT") != "sockets";

    /// <summary>Directory of the SQLite database (created if missing); relative paths are from the current directory.</summary>
    public string DataDirectory { get; set; } = "sensornode-data";

    public PersistenceMode Persistence { get; set; } = PersistenceMode.Sqlite;

    public StoreDurability Durability { get; set; } = StoreDurability.Full;

    /// <summary>When the database is damaged, move it aside (kept for inspection) and start empty instead of refusing to start.</summary>
    public bool RecoverDamagedStore { get; set; }

    /// <summary>A store to use instead of opening one (embedding, tests); the broker does not dispose it.</summary>
    public IBrokerStore? Store { get; set; }

    /// <summary>Largest packet accepted, fixed header included; bigger ones close the connection.</summary>
    public int MaxPacketSize { get; set; } = 1024 * 1024;

    /// <summary>
    /// MQTT 5 Receive Maximum: unacknowledged QoS 1/2 PUBLISHes an MQTT 5 client may have towards the broker,
    /// announced in its CONNACK; one more is answered with DISCONNECT 0x93. Bounded by default (as EMQX and
    /// Mosquitto bound theirs) so that a client that never completes its exchanges is stopped early. MQTT 3.1.1
    /// clients cannot be told a limit and are held only to the 65,535 packet identifiers.
    /// </summary>
    public ushort ReceiveMaximum { get; set; } = 1024;

    /// <summary>MQTT 5 Topic Alias Maximum offered to clients (0 refuses topic aliases).</summary>
    public ushort TopicAliasMaximum { get; set; } = 64;

    /// <summary>MQTT 5 Server Keep Alive: when set, replaces the keep alive clients ask for.</summary>
    public ushort? ServerKeepAlive { get; set; }

    /// <summary>
    /// The longest keep alive a client may use (Mosquitto's <c>max_keepalive</c>), so that no connection can go
    /// unwatched (CVE-2020-13849): an MQTT 5 client asking for 0 or more is given this as its Server Keep Alive; an
    /// MQTT 3.x client, which cannot be told, is refused with CONNACK 0x02. Null sets no limit.
    /// </summary>
    public ushort? MaxKeepAlive { get; set; }

    /// <summary>
    /// The highest QoS clients may publish with (Mosquitto's <c>max_qos</c>; MQTT 5 Maximum QoS, §3.2.2.3.4):
    /// subscriptions are granted at most this, and a PUBLISH or will above it is refused.
    /// </summary>
    public byte MaximumQos { get; set; } = 2;

    /// <summary>
    /// Whether clients may publish retained messages (Mosquitto's <c>retain_available</c>; MQTT 5 Retain Available,
    /// §3.2.2.3.5): when false a retained PUBLISH or will is refused.
    /// </summary>
    public bool RetainAvailable { get; set; } = true;

    /// <summary>A socket that has not completed CONNECT in this time is closed.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often keep-alive and connect deadlines are checked.</summary>
    public TimeSpan TimeoutCheckInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How often sessions are checked for expiry (drops are reported at most once a minute).</summary>
    public TimeSpan HousekeepingInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long shutdown waits for connections to flush before cutting them.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(5);

    public SessionLimits Sessions { get; set; } = new();

    /// <summary>Users, ACL and anonymous policy.</summary>
    public Security.SecurityOptions Security { get; set; } = new();

    /// <summary>The TLS listener (MQTTS); null: none.</summary>
    public Security.TlsOptions? Tls { get; set; }

    /// <summary>Connections the broker keeps at once; more are refused (3.1.1 0x03, 5.0 0x89 Server busy).</summary>
    public int MaxConnections { get; set; } = 100_000;

    /// <summary>Connections from one IP address; more are refused (3.1.1 0x03, 5.0 0x97 Quota exceeded).</summary>
    public int MaxConnectionsPerAddress { get; set; } = 10_000;

    /// <summary>
    /// Longest client identifier accepted (3.1.1 0x02, 5.0 0x85). 1024 by default: more than any platform hands its
    /// devices (an Azure IoT Hub module's is up to 257), while the store, which keys a persistent session's queued
    /// messages by it, is not made to carry 64 KB per message.
    /// </summary>
    public int MaxClientIdLength { get; set; } = 1024;

    /// <summary>
    /// Whether a client may connect with an empty client identifier and be given one (Mosquitto's
    /// <c>allow_zero_length_clientid</c>): when false it is refused (3.1.1 0x02, 5.0 0x85), so that every client is
    /// known by a name of its own.
    /// </summary>
    public bool AllowZeroLengthClientId { get; set; } = true;

    /// <summary>
    /// Longest topic name or filter, in characters; a longer topic closes the connection (5.0: 0x90). By default
    /// the protocol's own limit, 65,535 bytes of UTF-8 (§1.5.4).
    /// </summary>
    public int MaxTopicLength { get; set; } = ushort.MaxValue;

    /// <summary>Most levels in a topic name or filter; by default Mosquitto's limit of 200 separators, 201 levels.</summary>
    public int MaxTopicLevels { get; set; } = 201;

    /// <summary>
    /// Subscriptions one client may hold; more are refused in SUBACK (3.1.1 0x80, 5.0 0x97). Home Assistant subscribes
    /// once per entity, so a large installation holds thousands; the bound is against a client that never stops.
    /// </summary>
    public int MaxSubscriptionsPerClient { get; set; } = 100_000;

    /// <summary>PUBLISH packets per second one client may send; faster clients are slowed down (reading pauses). 0: no limit.</summary>
    public int MaxPublishRatePerClient { get; set; }

    /// <summary>
    /// The endpoints to listen on (MQTT, MQTT over TLS, WebSocket, HTTP for /metrics and /health). When empty, the
    /// broker listens for MQTT on <see cref="BindAddress"/>:<see cref="Port"/> only (the embedded default).
    /// </summary>
    public IList<Hosting.ListenerOptions> Listeners { get; } = [];

    /// <summary>Bridges to upstream brokers or clusters (issue #10); see <see cref="Bridging.BridgeOptions"/>.</summary>
    public IList<Bridging.BridgeOptions> Bridges { get; } = [];

    /// <summary>How often the <c>$SYS/broker/...</c> topics are published; zero (the embedded default) publishes none.</summary>
    public TimeSpan SysInterval { get; set; } = TimeSpan.Zero;

    /// <summary>The listeners in effect: <see cref="Listeners"/>, or one MQTT listener from <see cref="BindAddress"/> and <see cref="Port"/>.</summary>
    public IReadOnlyList<Hosting.ListenerOptions> EffectiveListeners =>
        Listeners.Count > 0 ? [.. Listeners] : [new Hosting.ListenerOptions { Kind = Hosting.ListenerKind.Mqtt, BindAddress = BindAddress, Port = Port }];

    /// <summary>The dashboard on the HTTP and WebSocket listeners, and the history of readings it records.</summary>
    public Dashboard.DashboardOptions Dashboard { get; set; } = new();

    /// <summary>MQTT 5 enhanced authentication mechanisms, by Authentication Method (§4.12).</summary>
    public IList<Security.IEnhancedAuthenticator> EnhancedAuthenticators { get; } = [];

    /// <summary>Optional credential check; null accepts every client.</summary>
    public ConnectAuthenticator? Authenticator { get; set; }

    /// <summary>Checks values that would make the broker misbehave; throws with the option's name.</summary>
    public void Validate()
    {
        if (Port is < 0 or > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(Port), Port, "port must be 0-65535");
        }

        foreach (Hosting.ListenerOptions listener in Listeners)
        {
            if (listener.Port is < 0 or > 65535)
            {
                throw new ArgumentOutOfRangeException(nameof(Listeners), listener.Port, $"{listener.KindName} listener: port must be 0-65535");
            }

            if (listener.IsTls && (string.IsNullOrEmpty(listener.CertificatePath) || string.IsNullOrEmpty(listener.PrivateKeyPath)))
            {
                throw new ArgumentException($"{listener.KindName} listener on port {listener.Port} needs a certificate and a private key", nameof(Listeners));
            }
        }

        if (SysInterval < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(SysInterval), SysInterval, "must not be negative");
        }

        if (MaxPacketSize is < 16 or > MqttFrameReader.MaxRemainingLength + 5)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxPacketSize), MaxPacketSize, "max packet size must be 16..268435460 bytes");
        }

        if (Sessions.MaxInflightMessages is < 1 or > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(Sessions.MaxInflightMessages), Sessions.MaxInflightMessages, "must be 1-65535");
        }

        if (Sessions.MaxQueuedMessages < 1 || Sessions.MaxQueuedBytes < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Sessions), "queue bounds must be positive");
        }
    }
}
