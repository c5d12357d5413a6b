using System.Text;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Persistence;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Persistence;

/// <summary>State that must survive the broker being stopped and started again on the same data directory.</summary>
public sealed class RestartTests
{
    private static Task<BrokerServer> StartAsync(string directory) => TestBroker.StartAsync(o => o.DataDirectory = directory);

    /// <summary>Start-up refused with a message naming the database and the reason, and nothing moved aside.</summary>
    private static void AssertRefusedAndLeftAlone(StoreException error, string directory, string reason)
    {
        Assert.Contains(Path.Combine(directory, SqliteBrokerStore.FileName), error.Message, StringComparison.Ordinal);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFileSystemEntries(directory, SqliteBrokerStore.FileName + ".damaged-*"));
    }

    private static Task<BrokerServer> StartRecoveringAsync(string directory) => TestBroker.StartAsync(o =>
    {
        o.DataDirectory = directory;
        o.RecoverDamagedStore = true;
    });

    private static async Task<RawMqttClient> ResumeAsync(int port, string clientId, bool expectPresent = true)
    {
        RawMqttClient client = await RawMqttClient.ConnectAsync(port);
        await client.SendAsync(new ConnectPacket { ClientId = clientId, CleanSession = false, KeepAliveSeconds = 60 });
        var connAck = Assert.IsType<ConnAckPacket>(await client.ReceiveAsync());
        Assert.Equal(ConnectReturnCode.Accepted, connAck.ReturnCode);
        Assert.Equal(expectPresent, connAck.SessionPresent);
        return client;
    }

    private static async Task SubscribeAsync(RawMqttClient client, string filter, byte qos)
    {
        await client.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription(filter, qos)] });
        var subAck = Assert.IsType<SubAckPacket>(await client.ReceiveAsync());
        Assert.Equal([qos], subAck.ReturnCodes);
    }

    /// <summary>
    /// [MQTT-3.3.4-3] A message queued for an MQTT 5 persistent session before a restart still carries the
    /// subscription identifiers of the subscriptions it matched: they are stored with it (schema version 2).
    /// </summary>
    [Fact]
    public async Task Messages_queued_before_a_restart_keep_their_subscription_identifiers_MQTT_3_3_4_3()
    {
        string directory = TestBroker.NewDataDirectory();
        void Persistent(MQTTnet.MqttClientOptionsBuilder b) => b.WithCleanStart(false).WithSessionExpiryInterval(3600);
        await using (BrokerServer first = await StartAsync(directory))
        {
            await using (MqttNet5Client subscriber = await MqttNet5Client.ConnectAsync(first.Port, "sid-restart", Persistent))
            {
                await subscriber.SubscribeAsync("sid/+/temp", subscriptionIdentifier: 7);
                await subscriber.SubscribeAsync("sid/#", subscriptionIdentifier: 9);
                await subscriber.DisconnectAsync();
            }

            await using MqttNet5Client publisher = await MqttNet5Client.ConnectAsync(first.Port);
            await publisher.PublishAsync("sid/kitchen/temp", "queued");
            await first.Broker.Store.FlushAsync();
        }

        await using BrokerServer second = await StartAsync(directory);
        await using MqttNet5Client back = await MqttNet5Client.ConnectAsync(second.Port, "sid-restart", Persistent);
        V5Message message = await back.NextAsync();
        Assert.Equal("queued", message.Payload);
        Assert.Equal([7u, 9u], message.SubscriptionIdentifiers.Order());
    }

    /// <summary>A database written by a broker of schema version 1 (no subscription identifiers) opens, migrates, and keeps its queue.</summary>
    [Fact]
    public async Task A_version_1_database_is_migrated_and_its_queued_message_delivered()
    {
        string directory = TestBroker.NewDataDirectory();
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(directory, SqliteBrokerStore.FileName)};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = """
                CREATE TABLE retained (topic TEXT PRIMARY KEY, qos INTEGER NOT NULL, payload BLOB NOT NULL, properties BLOB, expires_at INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
                CREATE TABLE sessions (client_id TEXT PRIMARY KEY, created_utc INTEGER NOT NULL, offline_since_utc INTEGER, expiry_s INTEGER NOT NULL DEFAULT 4294967295) WITHOUT ROWID;
                CREATE TABLE subscriptions (client_id TEXT NOT NULL, filter TEXT NOT NULL, qos INTEGER NOT NULL, options INTEGER NOT NULL DEFAULT 0, identifier INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (client_id, filter)) WITHOUT ROWID;
                CREATE TABLE messages (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, payload BLOB NOT NULL, properties BLOB, expires_at INTEGER NOT NULL DEFAULT 0);
                CREATE TABLE queue (client_id TEXT NOT NULL, seq INTEGER NOT NULL, message_id INTEGER NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, packet_id INTEGER NOT NULL, state INTEGER NOT NULL, PRIMARY KEY (client_id, seq)) WITHOUT ROWID;
                CREATE INDEX queue_message ON queue (message_id);
                CREATE TABLE inbound_qos2 (client_id TEXT NOT NULL, packet_id INTEGER NOT NULL, PRIMARY KEY (client_id, packet_id)) WITHOUT ROWID;
                CREATE TABLE wills (client_id TEXT PRIMARY KEY, topic TEXT NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, payload BLOB NOT NULL, properties BLOB, expires_at INTEGER NOT NULL DEFAULT 0, due_at INTEGER NOT NULL) WITHOUT ROWID;
                INSERT INTO sessions (client_id, created_utc, offline_since_utc) VALUES ('old-client', unixepoch(), unixepoch());
                INSERT INTO subscriptions (client_id, filter, qos) VALUES ('old-client', 'legacy/#', 1);
                INSERT INTO messages (id, topic, qos, retain, payload) VALUES (1, 'legacy/x', 1, 0, X'6F6C64');
                INSERT INTO queue (client_id, seq, message_id, qos, retain, packet_id, state) VALUES ('old-client', 1, 1, 1, 0, 0, 0);
                PRAGMA user_version = 1;
                """;
            command.ExecuteNonQuery();
        }

        await using BrokerServer broker = await StartAsync(directory);
        await using RawMqttClient client = await ResumeAsync(broker.Port, "old-client");
        var publish = Assert.IsType<PublishPacket>(await client.ReceiveAsync());
        Assert.Equal(("legacy/x", "old"), (publish.Topic, Encoding.UTF8.GetString(publish.Payload.Span)));
    }

    /// <summary>DISCONNECT, then wait for the broker to close: by then it has detached the session.</summary>
    private static async Task GoOfflineAsync(RawMqttClient client)
    {
        await client.SendAsync(EmptyPacket.Disconnect);
        await client.AssertClosedAsync();
    }

    /// <summary>
    /// Receives <paramref name="count"/> PUBLISHes as a correct client does, answering each (PUBACK, or PUBREC
    /// then PUBCOMP for the broker's PUBREL, which may come after later PUBLISHes), until all handshakes end.
    /// </summary>
    private static async Task<List<PublishPacket>> ReceiveAndAcknowledgeAsync(RawMqttClient client, int count)
    {
        var received = new List<PublishPacket>();
        int releasesOwed = 0;
        while (received.Count < count || releasesOwed > 0)
        {
            switch (await client.ReceiveAsync())
            {
                case PublishPacket publish:
                    received.Add(publish);
                    if (publish.Qos == 2)
                    {
                        releasesOwed++;
                    }

                    await client.SendAsync(new PacketIdPacket(publish.Qos == 2 ? PacketType.PubRec : PacketType.PubAck, publish.PacketId));
                    break;
                case PacketIdPacket { Type: PacketType.PubRel } release:
                    releasesOwed--;
                    await client.SendAsync(new PacketIdPacket(PacketType.PubComp, release.PacketId));
                    break;
                case var other:
                    Assert.Fail($"unexpected {other?.Type.ToString() ?? "close"}");
                    break;
            }
        }

        return received;
    }

    private static string Text(PublishPacket publish) => Encoding.UTF8.GetString(publish.Payload.Span);

    [Fact]
    public async Task Persistent_session_subscriptions_queued_messages_and_retained_survive_a_restart()
    {
        // [MQTT-3.1.2-4] the session, [MQTT-3.1.2-5] its QoS 1/2 messages, [MQTT-3.3.1-5] the retained message.
        string directory = TestBroker.NewDataDirectory();
        await using (BrokerServer first = await StartAsync(directory))
        {
            await using (RawMqttClient subscriber = await ResumeAsync(first.Port, "kitchen-display", expectPresent: false))
            {
                await SubscribeAsync(subscriber, "sensor/#", 2);
                await GoOfflineAsync(subscriber);
            }

            await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(first.Port);
            await publisher.PublishAsync("sensor/temperature/kitchen", "21.0", MqttQualityOfServiceLevel.AtLeastOnce);
            await publisher.PublishAsync("sensor/temperature/kitchen", "21.4", MqttQualityOfServiceLevel.ExactlyOnce);
            await publisher.PublishAsync("sensor/status/kitchen", "online", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
            await publisher.PublishAsync("sensor/noise/kitchen", "dropped: QoS 0 is not queued offline");
        }

        await using BrokerServer second = await StartAsync(directory);
        await using RawMqttClient resumed = await ResumeAsync(second.Port, "kitchen-display");
        List<PublishPacket> received = await ReceiveAndAcknowledgeAsync(resumed, 3);
        Assert.Equal(["21.0", "21.4", "online"], received.Select(Text));
        Assert.Equal([1, 2, 1], received.Select(p => (int)p.Qos));

        // The subscription itself survived: a new message is routed to the resumed session.
        await using MqttNetClient publisherAfter = await MqttNetClient.ConnectAsync(second.Port);
        await publisherAfter.PublishAsync("sensor/humidity/kitchen", "40", MqttQualityOfServiceLevel.AtLeastOnce);
        var live = Assert.IsType<PublishPacket>(await resumed.ReceiveAsync());
        Assert.Equal("40", Text(live));

        // And the retained message is replayed to a newcomer with RETAIN=1.
        await using MqttNetClient newcomer = await MqttNetClient.ConnectAsync(second.Port);
        await newcomer.SubscribeAsync("sensor/status/+", MqttQualityOfServiceLevel.AtLeastOnce);
        ReceivedMessage status = await newcomer.NextAsync();
        Assert.Equal("online", status.Payload);
        Assert.True(status.Retain);
    }

    [Fact]
    public async Task Unacknowledged_outbound_messages_are_resent_after_a_restart_with_dup_and_their_packet_ids()
    {
        // [MQTT-4.4.0-1]: PUBLISH re-sent with DUP=1 for an unacknowledged QoS 1 message; PUBREL re-sent for a
        // QoS 2 message whose PUBREC was received.
        string directory = TestBroker.NewDataDirectory();
        ushort qos1Id;
        ushort qos2Id;
        await using (BrokerServer first = await StartAsync(directory))
        {
            await using RawMqttClient subscriber = await ResumeAsync(first.Port, "forgetful", expectPresent: false);
            await SubscribeAsync(subscriber, "data/#", 2);
            await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(first.Port);
            await publisher.PublishAsync("data/one", "at least once", MqttQualityOfServiceLevel.AtLeastOnce);
            await publisher.PublishAsync("data/two", "exactly once", MqttQualityOfServiceLevel.ExactlyOnce);

            var one = Assert.IsType<PublishPacket>(await subscriber.ReceiveAsync());
            var two = Assert.IsType<PublishPacket>(await subscriber.ReceiveAsync());
            qos1Id = one.PacketId;
            qos2Id = two.PacketId;

            // No PUBACK for the first; PUBREC for the second, and wait for the broker's PUBREL (so its state is durable).
            await subscriber.SendAsync(new PacketIdPacket(PacketType.PubRec, two.PacketId));
            var pubRel = Assert.IsType<PacketIdPacket>(await subscriber.ReceiveAsync());
            Assert.Equal(PacketType.PubRel, pubRel.Type);
        }

        await using BrokerServer second = await StartAsync(directory);
        await using RawMqttClient resumed = await ResumeAsync(second.Port, "forgetful");

        var resent = Assert.IsType<PublishPacket>(await resumed.ReceiveAsync());
        Assert.Equal("data/one", resent.Topic);
        Assert.True(resent.Dup);
        Assert.Equal(qos1Id, resent.PacketId);
        var release = Assert.IsType<PacketIdPacket>(await resumed.ReceiveAsync());
        Assert.Equal(PacketType.PubRel, release.Type);
        Assert.Equal(qos2Id, release.PacketId);

        await resumed.SendAsync(new PacketIdPacket(PacketType.PubAck, resent.PacketId));
        await resumed.SendAsync(new PacketIdPacket(PacketType.PubComp, release.PacketId));
        await resumed.SendAsync(EmptyPacket.PingReq);
        Assert.Equal(PacketType.PingResp, (await resumed.ReceiveAsync())!.Type);
        Assert.Equal(0, second.Broker.Sessions.Find("forgetful")!.InflightCount);
    }

    [Fact]
    public async Task Inbound_qos2_packet_id_survives_a_restart_so_a_resent_publish_is_not_delivered_twice()
    {
        // [MQTT-4.3.3-2] across a restart: the broker remembers the identifier until PUBREL.
        string directory = TestBroker.NewDataDirectory();
        await using (BrokerServer first = await StartAsync(directory))
        {
            await using RawMqttClient watcher = await ResumeAsync(first.Port, "watcher", expectPresent: false);
            await SubscribeAsync(watcher, "once/#", 2);
            await GoOfflineAsync(watcher);

            await using RawMqttClient publisher = await ResumeAsync(first.Port, "publisher", expectPresent: false);
            await publisher.SendAsync(new PublishPacket { Topic = "once/a", Payload = Encoding.UTF8.GetBytes("1"), Qos = 2, PacketId = 5 });
            var pubRec = Assert.IsType<PacketIdPacket>(await publisher.ReceiveAsync());
            Assert.Equal(PacketType.PubRec, pubRec.Type);
        }

        await using BrokerServer second = await StartAsync(directory);
        await using RawMqttClient resumedPublisher = await ResumeAsync(second.Port, "publisher");
        await resumedPublisher.SendAsync(new PublishPacket { Topic = "once/a", Payload = Encoding.UTF8.GetBytes("1"), Qos = 2, PacketId = 5, Dup = true });
        Assert.Equal(PacketType.PubRec, Assert.IsType<PacketIdPacket>(await resumedPublisher.ReceiveAsync()).Type);
        await resumedPublisher.SendAsync(new PacketIdPacket(PacketType.PubRel, 5));
        Assert.Equal(PacketType.PubComp, Assert.IsType<PacketIdPacket>(await resumedPublisher.ReceiveAsync()).Type);
        await resumedPublisher.SendAsync(new PublishPacket { Topic = "once/marker", Payload = Encoding.UTF8.GetBytes("end"), Qos = 1, PacketId = 6 });
        Assert.Equal(PacketType.PubAck, Assert.IsType<PacketIdPacket>(await resumedPublisher.ReceiveAsync()).Type);

        await using RawMqttClient watcherBack = await ResumeAsync(second.Port, "watcher");
        List<PublishPacket> delivered = await ReceiveAndAcknowledgeAsync(watcherBack, 2);

        // The marker follows the one delivery: the re-sent PUBLISH was not delivered a second time.
        Assert.Equal(["once/a", "once/marker"], delivered.Select(p => p.Topic));
        await watcherBack.SendAsync(EmptyPacket.PingReq);
        Assert.Equal(PacketType.PingResp, (await watcherBack.ReceiveAsync())!.Type);
    }

    private static Action<ConnectPacket> PersistentWithDelayedWill(uint delaySeconds) => connect =>
    {
        connect.CleanSession = false;
        connect.Properties = new SensorNode.Broker.Protocol.V5.MqttProperties { SessionExpiryInterval = 3600 };
        connect.Will = new WillMessage
        {
            Topic = "status/node",
            Payload = Encoding.UTF8.GetBytes("offline"),
            Qos = 1,
            Retain = true,
            Properties = new SensorNode.Broker.Protocol.V5.MqttProperties { WillDelayInterval = delaySeconds },
        };
    };

    [Fact]
    public async Task A_will_waiting_out_its_delay_survives_a_restart_and_is_published_when_due()
    {
        // [MQTT-3.1.3-9] across a restart: the pending will is kept with the session.
        string directory = TestBroker.NewDataDirectory();
        await using (BrokerServer first = await StartAsync(directory))
        {
            RawMqttClient node = await RawMqttClient.ConnectV5AcceptedAsync(first.Port, "delayed-node", PersistentWithDelayedWill(2));
            node.Abort();
            await node.DisposeAsync();
            Assert.True(await Eventually.TrueAsync(() => first.Broker.Sessions.Find("delayed-node") is { IsConnected: false }));
            await first.Broker.Store.FlushAsync();
        }

        await using BrokerServer second = await StartAsync(directory);
        await using MqttNetClient watcher = await MqttNetClient.ConnectAsync(second.Port);
        await watcher.SubscribeAsync("status/#", MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce);

        ReceivedMessage will = await watcher.NextAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("offline", will.Payload);
        Assert.Equal("offline", Encoding.UTF8.GetString(second.Broker.Retained.Find("status/node")!.PayloadSpan));
    }

    [Fact]
    public async Task A_client_back_after_a_restart_within_the_delay_cancels_its_stored_will()
    {
        string directory = TestBroker.NewDataDirectory();
        await using (BrokerServer first = await StartAsync(directory))
        {
            RawMqttClient node = await RawMqttClient.ConnectV5AcceptedAsync(first.Port, "returning-node", PersistentWithDelayedWill(30));
            node.Abort();
            await node.DisposeAsync();
            Assert.True(await Eventually.TrueAsync(() => first.Broker.Sessions.Find("returning-node") is { IsConnected: false }));
            await first.Broker.Store.FlushAsync();
        }

        await using (BrokerServer second = await StartAsync(directory))
        {
            await using RawMqttClient back = await RawMqttClient.ConnectV5AcceptedAsync(second.Port, "returning-node", connect => connect.CleanSession = false);
            await second.Broker.Store.FlushAsync();
        }

        // Had the will survived the cancellation, the third start would schedule it again.
        await using BrokerServer third = await StartAsync(directory);
        Assert.Equal(0, third.Broker.DelayedWillCount);
        Assert.Null(third.Broker.Retained.Find("status/node"));
    }

    [Fact]
    public async Task Clean_sessions_leave_nothing_behind_and_a_clean_connect_discards_a_stored_session()
    {
        // [MQTT-3.1.2-6]
        string directory = TestBroker.NewDataDirectory();
        await using (BrokerServer first = await StartAsync(directory))
        {
            await using (RawMqttClient persistent = await ResumeAsync(first.Port, "was-persistent", expectPresent: false))
            {
                await SubscribeAsync(persistent, "x/#", 1);
                await GoOfflineAsync(persistent);
            }

            await using RawMqttClient clean = await RawMqttClient.ConnectMqttAsync(first.Port, "was-persistent", cleanSession: true);
            await SubscribeAsync(clean, "y/#", 1);
            await GoOfflineAsync(clean);
        }

        await using BrokerServer second = await StartAsync(directory);
        Assert.Equal(0, second.Broker.Sessions.Count);
        Assert.Equal(0, second.Broker.Subscriptions.Count);
    }

    [Fact]
    public async Task A_damaged_database_stops_start_up_with_a_message_naming_the_file_and_is_left_untouched()
    {
        string directory = TestBroker.NewDataDirectory();
        string database = Path.Combine(directory, SqliteBrokerStore.FileName);
        byte[] garbage = Encoding.ASCII.GetBytes(new string('x', 8192));
        await File.WriteAllBytesAsync(database, garbage);

        StoreException error = await Assert.ThrowsAsync<StoreException>(() => StartAsync(directory));

        Assert.Contains(database, error.Message, StringComparison.Ordinal);
        Assert.Contains("--recover-store", error.Message, StringComparison.Ordinal);
        Assert.Equal(garbage, await File.ReadAllBytesAsync(database));
    }

    /// <summary>SQLite takes an empty file for an empty database; the broker starts, but says the file was empty.</summary>
    [Fact]
    public void An_empty_database_file_is_reported_before_the_store_starts_empty()
    {
        string directory = TestBroker.NewDataDirectory();
        string database = Path.Combine(directory, SqliteBrokerStore.FileName);
        File.WriteAllBytes(database, []);
        using var logs = new SensorNode.Broker.Tests.Security.CapturingLoggerProvider();

        using (SqliteBrokerStore store = SqliteBrokerStore.Open(directory, StoreDurability.Full, logs.CreateLogger("store")))
        {
            Assert.Empty(store.Load().Sessions);
        }

        Assert.Contains(logs.Lines, line => line.StartsWith("Warning", StringComparison.Ordinal) && line.Contains(database, StringComparison.Ordinal) && line.Contains("empty file", StringComparison.Ordinal));
    }

    /// <summary>
    /// A database that cannot be opened for a reason other than damage (here: a directory where the file should be; in
    /// life a full disk, a read-only file system, permissions) is not called damaged, and --recover-store leaves it: a
    /// full disk at start-up used to be reported as damage, and the advice moved a healthy file aside.
    /// </summary>
    [Fact]
    public async Task A_database_that_cannot_be_opened_is_not_taken_for_damaged_and_recover_leaves_it()
    {
        string directory = TestBroker.NewDataDirectory();
        string database = Path.Combine(directory, SqliteBrokerStore.FileName);
        Directory.CreateDirectory(database);

        StoreException error = await Assert.ThrowsAsync<StoreException>(() => StartRecoveringAsync(directory));

        AssertRefusedAndLeftAlone(error, directory, "not damaged");
        Assert.DoesNotContain("--recover-store", error.Message, StringComparison.Ordinal);
        Assert.True(Directory.Exists(database));
    }

    /// <summary>
    /// The data directory deleted under a running broker (<c>rm -rf</c>): SQLite went on writing into the deleted file,
    /// every acknowledgement went out as usual, and the next start found nothing. The database is now written again from
    /// the open copy before the next commit, so what was acknowledged before and after the deletion survives.
    /// </summary>
    [Fact]
    public async Task A_data_directory_deleted_while_running_is_written_again_and_nothing_acknowledged_is_lost()
    {
        string directory = TestBroker.NewDataDirectory();
        string database = Path.Combine(directory, SqliteBrokerStore.FileName);
        await using (BrokerServer broker = await StartAsync(directory))
        {
            await using (RawMqttClient subscriber = await RawMqttClient.ConnectMqttAsync(broker.Port, "kept-node", cleanSession: false))
            {
                await SubscribeAsync(subscriber, "cmd/#", 1);
                await GoOfflineAsync(subscriber);
            }

            await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
            await publisher.PublishAsync("status/before", "1", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
            await publisher.PublishAsync("cmd/before", "queued before", MqttQualityOfServiceLevel.AtLeastOnce);

            Directory.Delete(directory, recursive: true);
            await publisher.PublishAsync("status/after", "2", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
            await publisher.PublishAsync("cmd/after", "queued after", MqttQualityOfServiceLevel.AtLeastOnce);

            Assert.True(File.Exists(database), "the database is back before the acknowledgement");
        }

        await using BrokerServer restarted = await StartAsync(directory);
        Assert.NotNull(restarted.Broker.Retained.Find("status/before"));
        Assert.NotNull(restarted.Broker.Retained.Find("status/after"));
        await using RawMqttClient back = await ResumeAsync(restarted.Port, "kept-node");
        List<PublishPacket> queued = await ReceiveAndAcknowledgeAsync(back, 2);
        Assert.Equal(["queued before", "queued after"], queued.Select(Text));
    }

    /// <summary>The same for an idle broker: the deletion is noticed within seconds, not at a commit that may never come.</summary>
    [Fact]
    public async Task A_data_directory_deleted_under_an_idle_broker_is_written_again()
    {
        string directory = TestBroker.NewDataDirectory();
        string database = Path.Combine(directory, SqliteBrokerStore.FileName);
        await using (BrokerServer broker = await StartAsync(directory))
        {
            await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
            await publisher.PublishAsync("status/idle", "kept", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);

            Directory.Delete(directory, recursive: true);

            await Eventually.AssertAsync(() => File.Exists(database), "the database is written again", TimeSpan.FromSeconds(20));
        }

        await using BrokerServer restarted = await StartAsync(directory);
        Assert.NotNull(restarted.Broker.Retained.Find("status/idle"));
    }

    /// <summary>A database from a newer broker is not damaged either: refused with the reason, never moved aside.</summary>
    [Fact]
    public async Task A_database_of_a_newer_schema_is_refused_and_recover_leaves_it()
    {
        string directory = TestBroker.NewDataDirectory();
        string database = Path.Combine(directory, SqliteBrokerStore.FileName);
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA user_version = 99;";
            command.ExecuteNonQuery();
        }

        StoreException error = await Assert.ThrowsAsync<StoreException>(() => StartRecoveringAsync(directory));

        AssertRefusedAndLeftAlone(error, directory, "newer");
        Assert.True(File.Exists(database));
    }

    [Fact]
    public async Task Recover_option_moves_a_damaged_database_aside_and_starts_empty()
    {
        string directory = TestBroker.NewDataDirectory();
        string database = Path.Combine(directory, SqliteBrokerStore.FileName);
        await File.WriteAllTextAsync(database, new string('x', 8192));

        await using BrokerServer broker = await StartRecoveringAsync(directory);

        string aside = Assert.Single(Directory.GetFiles(directory, SqliteBrokerStore.FileName + ".damaged-*"));
        Assert.Equal(new string('x', 8192), await File.ReadAllTextAsync(aside));
        await using MqttNetClient client = await MqttNetClient.ConnectAsync(broker.Port);
        await client.PublishAsync("works/again", "1", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        Assert.NotNull(broker.Broker.Retained.Find("works/again"));
    }

    [Fact]
    public async Task A_second_broker_on_the_same_data_directory_is_refused_while_the_first_runs()
    {
        string directory = TestBroker.NewDataDirectory();
        await using BrokerServer first = await StartAsync(directory);

        StoreException error = await Assert.ThrowsAsync<StoreException>(() => StartAsync(directory));

        Assert.Contains("in use by another broker", error.Message, StringComparison.Ordinal);
        await using MqttNetClient client = await MqttNetClient.ConnectAsync(first.Port);
        await client.PublishAsync("still/serving", "1", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
        Assert.NotNull(first.Broker.Retained.Find("still/serving"));
    }

    /// <summary>
    /// [MQTT-3.14.2-2] the Session Expiry Interval a DISCONNECT sets replaces the CONNECT's, across a restart too: a
    /// lengthened one must not lose the session (and its queue) at the next start, a shortened one must not keep it.
    /// </summary>
    [Theory]
    [InlineData(2u, 3600u)]
    [InlineData(3600u, 1u)]
    public async Task The_session_expiry_set_by_DISCONNECT_survives_a_restart_MQTT_3_14_2_2(uint atConnect, uint atDisconnect)
    {
        string directory = TestBroker.NewDataDirectory();
        await using (BrokerServer first = await StartAsync(directory))
        {
            RawMqttClient client = await RawMqttClient.ConnectV5AcceptedAsync(first.Port, "expiry-on-disconnect", connect =>
            {
                connect.CleanStart = false;
                connect.Properties = new SensorNode.Broker.Protocol.V5.MqttProperties { SessionExpiryInterval = atConnect };
            });
            await client.SendAsync(new DisconnectPacket(ReasonCode.NormalDisconnection, new SensorNode.Broker.Protocol.V5.MqttProperties { SessionExpiryInterval = atDisconnect }));
            await client.AssertClosedAsync();
            await client.DisposeAsync();
            await Eventually.AssertAsync(() => first.Broker.Sessions.Find("expiry-on-disconnect") is { IsConnected: false }, "the session is offline");
            await first.Broker.Store.FlushAsync();
        }

        await using BrokerServer second = await StartAsync(directory);
        Assert.Equal(atDisconnect, second.Broker.Sessions.Find("expiry-on-disconnect")?.ExpiryInterval);
    }

    /// <summary>
    /// [MQTT-3.1.2-8] a broker that stops closes its clients' connections without a DISCONNECT from them, so their wills
    /// are published (as Mosquitto does at shutdown): the retained "offline" is on disk at the next start, and a
    /// persistent subscriber that was away gets it then. Otherwise a node that never came back would stay "online".
    /// </summary>
    [Fact]
    public async Task Wills_of_clients_connected_when_the_broker_stops_are_published_and_kept_MQTT_3_1_2_8()
    {
        string directory = TestBroker.NewDataDirectory();
        await using (BrokerServer first = await StartAsync(directory))
        {
            await using (RawMqttClient watcher = await ResumeAsync(first.Port, "stop-watcher", expectPresent: false))
            {
                await SubscribeAsync(watcher, "status/#", 1);
                await GoOfflineAsync(watcher);
            }

            var will = new WillMessage { Topic = "status/stopping-node", Payload = Encoding.UTF8.GetBytes("offline"), Qos = 1, Retain = true };
            await using RawMqttClient node = await RawMqttClient.ConnectMqttAsync(first.Port, "stopping-node", will: will);
            await first.StopAsync();
            await node.AssertClosedAsync();
        }

        await using BrokerServer second = await StartAsync(directory);
        Assert.Equal("offline", Encoding.UTF8.GetString(second.Broker.Retained.Find("status/stopping-node")!.PayloadSpan));
        await using RawMqttClient back = await ResumeAsync(second.Port, "stop-watcher");
        var queued = Assert.IsType<PublishPacket>(await back.ReceiveAsync());
        Assert.Equal(("status/stopping-node", "offline"), (queued.Topic, Encoding.UTF8.GetString(queued.Payload.Span)));
    }

    /// <summary>
    /// [MQTT-3.1.3-9] a persistent session outlives the broker's stop, so the will delay of a client connected at the
    /// stop is waited out across the restart (the will is stored), not cut short.
    /// </summary>
    [Fact]
    public async Task A_delayed_will_of_a_client_connected_when_the_broker_stops_waits_out_the_restart()
    {
        string directory = TestBroker.NewDataDirectory();
        await using (BrokerServer first = await StartAsync(directory))
        {
            await using RawMqttClient node = await RawMqttClient.ConnectV5AcceptedAsync(first.Port, "stopping-delayed-node", PersistentWithDelayedWill(30));
            await first.StopAsync();
            Assert.Equal(ReasonCode.ServerShuttingDown, Assert.IsType<DisconnectPacket>(await node.ReceiveAsync()).ReasonCode);
            await node.AssertClosedAsync();
            Assert.Null(first.Broker.Retained.Find("status/node"));
        }

        await using BrokerServer second = await StartAsync(directory);
        Assert.Equal(1, second.Broker.DelayedWillCount);
        Assert.Null(second.Broker.Retained.Find("status/node"));
    }

    /// <summary>
    /// [MQTT-3.1.3-9] a will is due when its delay passes or its session ends: in memory every session ends with the
    /// broker, so a stop publishes the delayed wills, both of clients still connected and of those already gone.
    /// </summary>
    [Fact]
    public async Task In_memory_a_stop_publishes_the_delayed_wills_because_the_sessions_end_with_it_MQTT_3_1_3_9()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.Persistence = PersistenceMode.Memory);
        Action<ConnectPacket> DelayedWill(string topic) => connect =>
        {
            PersistentWithDelayedWill(3600)(connect);
            connect.Will = new WillMessage { Topic = topic, Payload = connect.Will!.Payload, Qos = 1, Retain = true, Properties = connect.Will.Properties };
        };

        RawMqttClient gone = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "gone-node", DelayedWill("status/gone"));
        gone.Abort();
        await gone.DisposeAsync();
        await Eventually.AssertAsync(() => broker.Broker.DelayedWillCount == 1, "the first node's will waits out its delay");
        await using RawMqttClient connected = await RawMqttClient.ConnectV5AcceptedAsync(broker.Port, "connected-node", DelayedWill("status/connected"));

        await broker.StopAsync();

        await Eventually.AssertAsync(
            () => broker.Broker.Retained.Find("status/gone") is not null && broker.Broker.Retained.Find("status/connected") is not null,
            "both wills were published at the stop");
        Assert.Equal(0, broker.Broker.DelayedWillCount);
    }

    /// <summary>
    /// In memory the broker's store is never read back: a persistent session (clean session 0, as Home Assistant and
    /// Node-RED connect) keeps its queue in the session alone. It wrote every message to the store, which never let
    /// go of one: the broker grew by each message a persistent subscriber was ever sent.
    /// </summary>
    [Fact]
    public async Task In_memory_a_persistent_session_leaves_nothing_in_the_store_for_the_messages_it_was_sent()
    {
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.Persistence = PersistenceMode.Memory);
        var store = Assert.IsType<InMemoryBrokerStore>(broker.Broker.Store);
        await using MqttNetClient subscriber = await MqttNetClient.ConnectAsync(broker.Port, "home-assistant", cleanSession: false);
        await subscriber.SubscribeAsync("sensor/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await using MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port);
        for (int i = 0; i < 50; i++)
        {
            await publisher.PublishAsync("sensor/temperature/kitchen", i.ToString(System.Globalization.CultureInfo.InvariantCulture), MqttQualityOfServiceLevel.AtLeastOnce);
        }

        List<ReceivedMessage> received = await subscriber.NextManyAsync(50);

        Assert.Equal("49", received[^1].Payload);
        Assert.Equal(0, store.MessageCount);
        Assert.Empty(store.Load().Sessions);

        // Still a persistent session: what is published while it is away waits for it [MQTT-3.1.2-4].
        await subscriber.DisconnectAsync();
        await publisher.PublishAsync("sensor/temperature/kitchen", "away", MqttQualityOfServiceLevel.AtLeastOnce);
        await using MqttNetClient back = await MqttNetClient.ConnectAsync(broker.Port, "home-assistant", cleanSession: false);
        Assert.True(back.ConnectResult!.IsSessionPresent);

        // A message whose PUBACK the client had not sent yet when it disconnected comes again first [MQTT-4.4.0-1].
        var again = new List<string>();
        ReceivedMessage next = await back.NextAsync();
        while (next.Payload != "away" && again.Count < 50)
        {
            again.Add(next.Payload);
            next = await back.NextAsync();
        }

        Assert.Equal("away", next.Payload);
        Assert.All(again, payload => Assert.Contains(payload, received.Select(m => m.Payload)));
    }

    [Fact]
    public async Task Memory_persistence_writes_nothing_to_disk()
    {
        string directory = TestBroker.NewDataDirectory();
        await using (BrokerServer broker = await TestBroker.StartAsync(o =>
        {
            o.DataDirectory = directory;
            o.Persistence = PersistenceMode.Memory;
        }))
        {
            await using MqttNetClient client = await MqttNetClient.ConnectAsync(broker.Port);
            await client.PublishAsync("kept/in/memory", "1", MqttQualityOfServiceLevel.AtLeastOnce, retain: true);
            Assert.NotNull(broker.Broker.Retained.Find("kept/in/memory"));
        }

        Assert.Empty(Directory.GetFileSystemEntries(directory));
    }
}
