using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using SensorNode.Broker.Protocol;

namespace SensorNode.Broker.Persistence;

/// <summary>
/// Durable state in one SQLite database (WAL). A single committer thread takes every submission queued
/// while the previous commit ran and writes them in one transaction (group commit), then runs their
/// callbacks in order: durability costs one fsync per batch, not per message.
/// </summary>
public sealed partial class SqliteBrokerStore : IBrokerStore
{
    public const string FileName = "sensornode.db";
    private const int SchemaVersion = 3;
    private const int MaxSubmissionsPerCommit = 8192;
    /// <summary>How often messages no queue refers to any more are dropped (both stores).</summary>
    internal static readonly TimeSpan PurgeInterval = TimeSpan.FromSeconds(30);

    private readonly string _path;
    private readonly StoreDurability _durability;
    private FileStream _lock;
    private readonly ILogger _logger;
    private SqliteConnection _connection;
    private readonly BlockingCollection<Submission> _submissions = new(new ConcurrentQueue<Submission>());
    private readonly Thread _committer;
    private long _lastPurge = Environment.TickCount64;
    private bool _reopenNeeded;
    private long _stopRequestedAt;
    private volatile bool _failing;

    private SqliteBrokerStore(string path, FileStream directoryLock, SqliteConnection connection, ILogger logger, StoreDurability durability)
    {
        _path = path;
        _durability = durability;
        _lock = directoryLock;
        _connection = connection;
        _logger = logger;
        PrepareCommands();
        _committer = new Thread(CommitLoop) { IsBackground = true, Name = "sensornode-store" };
        _committer.Start();
    }

    public string Path => _path;

    /// <summary>True while commits fail (full or failing disk): what waits on them is held back.</summary>
    public bool IsFailing => _failing;

    /// <summary>
    /// True once a stopping broker gave up writing something because the disk kept refusing it (nothing in it was
    /// acknowledged): the process should not report a clean stop.
    /// </summary>
    public bool GaveUpWritingAtStop => _gaveUpAtStop;

    /// <summary>How long a stopping broker keeps retrying commits the disk refuses, from the moment it is asked to stop.</summary>
    internal TimeSpan StopRetryLimit { get; set; } = TimeSpan.FromSeconds(10);

    private volatile bool _gaveUpAtStop;

    public long SizeOnDisk
    {
        get
        {
            long size = 0;
            foreach (string file in new[] { _path, _path + "-wal" })
            {
                if (File.Exists(file))
                {
                    size += new FileInfo(file).Length;
                }
            }

            return size;
        }
    }

    /// <summary>
    /// Opens (or creates) the database in <paramref name="dataDirectory"/>. A damaged or unreadable file throws
    /// <see cref="StoreException"/> naming it, unless <paramref name="moveAsideIfDamaged"/> is set: then the file
    /// is renamed for inspection and a fresh database started.
    /// </summary>
    public static SqliteBrokerStore Open(string dataDirectory, StoreDurability durability, ILogger logger, bool moveAsideIfDamaged = false)
    {
        Directory.CreateDirectory(dataDirectory);
        string path = System.IO.Path.Combine(System.IO.Path.GetFullPath(dataDirectory), FileName);
        FileStream directoryLock = LockDirectory(path);
        if (new FileInfo(path) is { Exists: true, Length: 0 })
        {
            // SQLite takes an empty file for an empty database; the broker writes its schema at once, so an empty file
            // was truncated or replaced: say so rather than start afresh in silence.
            logger.LogWarning("The broker database {Path} is an empty file (0 bytes): starting with an empty store", path);
        }

        bool existed = File.Exists(path);
        try
        {
            return new SqliteBrokerStore(path, directoryLock, OpenConnection(path, durability), logger, durability);
        }
        catch (SqliteException ex) when (!IsDamage(ex))
        {
            // A full disk, an I/O error, a read-only file system or permissions: the file may be perfectly healthy, so
            // it is never moved aside for this (--recover-store would throw good state away).
            directoryLock.Dispose();
            if (!existed && new FileInfo(path) is { Exists: true, Length: 0 })
            {
                File.Delete(path);
            }

            throw new StoreException($"the broker database {path} cannot be opened: {Describe(ex)}. Nothing was changed and the file is not damaged: start again once that is fixed.", ex);
        }
        catch (StoreException ex) when (!ex.IsDamage)
        {
            directoryLock.Dispose();
            throw new StoreException($"the broker database {path} cannot be used: {ex.Message}. Nothing was changed.", ex);
        }
        catch (Exception ex) when (ex is SqliteException or StoreException)
        {
            if (!moveAsideIfDamaged)
            {
                directoryLock.Dispose();
                throw new StoreException(
                    $"the broker database {path} cannot be used: {ex.Message}. Nothing was changed. Start with --recover-store to move it aside (it is kept for inspection) and start with an empty store.",
                    ex);
            }

            string aside = MoveAside(path);
            logger.LogError("The broker database {Path} was damaged ({Reason}); moved it to {Aside} and started an empty store", path, ex.Message, aside);
            try
            {
                return new SqliteBrokerStore(path, directoryLock, OpenConnection(path, durability), logger, durability);
            }
            catch (SqliteException fresh)
            {
                directoryLock.Dispose();
                throw new StoreException($"an empty broker database cannot be created at {path}: {Describe(fresh)}. The damaged file is kept as {aside}.", fresh);
            }
        }
        catch
        {
            directoryLock.Dispose();
            throw;
        }
    }

    /// <summary>Two brokers on one database would corrupt each other's state: the second is refused.</summary>
    private static FileStream LockDirectory(string databasePath)
    {
        string lockPath = databasePath + ".lock";
        try
        {
            return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new StoreException($"the broker database {databasePath} is in use by another broker ({lockPath} is locked); give each broker its own --data-dir", ex);
        }
    }

    /// <summary>Renames the database and its WAL files to "*.damaged-TIMESTAMP"; returns the new database path.</summary>
    public static string MoveAside(string path)
    {
        SqliteConnection.ClearAllPools();
        string suffix = ".damaged-" + DateTime.UtcNow.ToString("yyyyMMddTHHmmssZ", System.Globalization.CultureInfo.InvariantCulture);
        foreach (string extension in new[] { string.Empty, "-wal", "-shm" })
        {
            if (File.Exists(path + extension))
            {
                File.Move(path + extension, path + suffix + extension);
            }
        }

        return path + suffix;
    }

    private static SqliteConnection OpenConnection(string path, StoreDurability durability)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = 1,
        }.ToString());
        try
        {
            connection.Open();
            // The broker is the only writer; another one (someone's sqlite3 shell) holding the lock makes a commit fail,
            // be logged and be retried after a second rather than wait in silence (the default is 30 s; DefaultTimeout
            // above is the same for Microsoft.Data.Sqlite's own commands, BEGIN among them).
            Execute(connection, "PRAGMA busy_timeout=1000;");
            Execute(connection, "PRAGMA journal_mode=WAL;");
            Execute(connection, durability == StoreDurability.Full ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;");
            string check = Convert.ToString(Scalar(connection, "PRAGMA quick_check;"), System.Globalization.CultureInfo.InvariantCulture) ?? "no answer";
            if (!string.Equals(check, "ok", StringComparison.Ordinal))
            {
                throw new StoreException($"integrity check failed: {check}") { IsDamage = true };
            }

            Migrate(connection);
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>Errors that mean the file itself is damaged (or is no database), as opposed to its disk or its permissions.</summary>
    private static bool IsDamage(SqliteException ex) => ex.SqliteErrorCode is 11 /* SQLITE_CORRUPT */ or 26 /* SQLITE_NOTADB */;

    /// <summary>SQLite's message, with what it most likely means for someone running a broker.</summary>
    internal static string Describe(SqliteException ex) => ex.SqliteErrorCode switch
    {
        13 => $"{ex.Message} (the disk is full: free some space)",
        10 => $"{ex.Message} (an I/O error: is the disk full, failing or mounted read-only?)",
        8 => $"{ex.Message} (read-only: is the file system mounted read-only, or the file not writable by the broker's user?)",
        14 => $"{ex.Message} (cannot open the file: does the directory exist and can the broker's user write to it?)",
        3 => $"{ex.Message} (permission denied)",
        _ => ex.Message,
    };

    private static void Migrate(SqliteConnection connection)
    {
        long version = Convert.ToInt64(Scalar(connection, "PRAGMA user_version;"), System.Globalization.CultureInfo.InvariantCulture);
        if (version > SchemaVersion)
        {
            throw new StoreException($"the database has schema version {version}, newer than this broker's {SchemaVersion}; run a newer broker");
        }

        if (version < 1)
        {
            // Set before the first table exists: lets the periodic purge hand freed pages back to the file system.
            Execute(connection, "PRAGMA auto_vacuum = INCREMENTAL;");
            using SqliteTransaction transaction = connection.BeginTransaction();
            Execute(connection, """
                CREATE TABLE IF NOT EXISTS retained (topic TEXT PRIMARY KEY, qos INTEGER NOT NULL, payload BLOB NOT NULL, properties BLOB, expires_at INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS sessions (client_id TEXT PRIMARY KEY, created_utc INTEGER NOT NULL, offline_since_utc INTEGER, expiry_s INTEGER NOT NULL DEFAULT 4294967295) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS subscriptions (client_id TEXT NOT NULL, filter TEXT NOT NULL, qos INTEGER NOT NULL, options INTEGER NOT NULL DEFAULT 0, identifier INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (client_id, filter)) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, payload BLOB NOT NULL, properties BLOB, expires_at INTEGER NOT NULL DEFAULT 0);
                CREATE TABLE IF NOT EXISTS queue (client_id TEXT NOT NULL, seq INTEGER NOT NULL, message_id INTEGER NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, packet_id INTEGER NOT NULL, state INTEGER NOT NULL, PRIMARY KEY (client_id, seq)) WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS queue_message ON queue (message_id);
                CREATE TABLE IF NOT EXISTS inbound_qos2 (client_id TEXT NOT NULL, packet_id INTEGER NOT NULL, PRIMARY KEY (client_id, packet_id)) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS wills (client_id TEXT PRIMARY KEY, topic TEXT NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL, payload BLOB NOT NULL, properties BLOB, expires_at INTEGER NOT NULL DEFAULT 0, due_at INTEGER NOT NULL) WITHOUT ROWID;
                PRAGMA user_version = 1;
                """, transaction);
            transaction.Commit();
        }

        // Version 2: queued messages keep the MQTT 5 subscription identifiers they go out with.
        MigrateTo(connection, version, 2, "ALTER TABLE queue ADD COLUMN subscription_ids BLOB;");

        // Version 3: a message queued through a shared subscription names it, so that it still goes to another member
        // of the group if its session ends after a restart.
        MigrateTo(connection, version, 3, "ALTER TABLE queue ADD COLUMN shared_via TEXT;");
    }

    /// <summary>Runs one schema step, with the version it leads to, in a transaction of its own, if the file is older.</summary>
    private static void MigrateTo(SqliteConnection connection, long version, int target, string sql)
    {
        if (version >= target)
        {
            return;
        }

        using SqliteTransaction transaction = connection.BeginTransaction();
        Execute(connection, $"{sql}\nPRAGMA user_version = {target.ToString(System.Globalization.CultureInfo.InvariantCulture)};", transaction);
        transaction.Commit();
    }

    public StoredState Load()
    {
        var state = new StoredState();
        using (SqliteCommand retained = _connection.CreateCommand())
        {
            retained.CommandText = "SELECT topic, qos, payload, properties, expires_at FROM retained;";
            using SqliteDataReader reader = retained.ExecuteReader();
            while (reader.Read())
            {
                state.Retained.Add(ApplicationMessage.Create(reader.GetString(0), (byte[])reader[2], (byte)reader.GetInt32(1), retain: true, ReadProperties(reader, 3), reader.GetInt64(4)));
            }
        }

        var sessions = new Dictionary<string, StoredSession>(StringComparer.Ordinal);
        ReadRows("SELECT client_id, offline_since_utc, expiry_s FROM sessions;", r => sessions[r.GetString(0)] = new StoredSession(r.GetString(0))
        {
            OfflineSince = r.IsDBNull(1) ? null : DateTimeOffset.FromUnixTimeSeconds(r.GetInt64(1)),
            ExpiryInterval = (uint)r.GetInt64(2),
        });
        ReadRows("SELECT client_id, filter, qos, options, identifier FROM subscriptions;", r =>
            sessions.GetValueOrDefault(r.GetString(0))?.Subscriptions.Add((r.GetString(1), (byte)r.GetInt32(2), StoreOperation.UnpackOptions(r.GetInt32(3), r.GetInt64(4)))));
        ReadRows("SELECT client_id, packet_id FROM inbound_qos2;", r =>
            sessions.GetValueOrDefault(r.GetString(0))?.InboundQos2.Add((ushort)r.GetInt32(1)));

        var messages = new Dictionary<long, ApplicationMessage>();
        ReadRows("SELECT id, topic, qos, retain, payload, properties, expires_at FROM messages WHERE id IN (SELECT message_id FROM queue);", r =>
            messages[r.GetInt64(0)] = ApplicationMessage.Create(r.GetString(1), (byte[])r[4], (byte)r.GetInt32(2), r.GetInt64(3) != 0, ReadProperties(r, 5), r.GetInt64(6)));
        ReadRows("SELECT client_id, seq, message_id, qos, retain, packet_id, state, subscription_ids, shared_via FROM queue ORDER BY client_id, seq;", r =>
        {
            if (sessions.TryGetValue(r.GetString(0), out StoredSession? session) && messages.TryGetValue(r.GetInt64(2), out ApplicationMessage? message))
            {
                uint[]? subscriptionIds = r.IsDBNull(7) ? null : DecodeSubscriptionIds((byte[])r[7]);
                session.Queue.Add(new StoredQueuedMessage(r.GetInt64(1), message, (byte)r.GetInt32(3), r.GetInt64(4) != 0, (ushort)r.GetInt32(5), (QueuedState)r.GetInt32(6), subscriptionIds, r.IsDBNull(8) ? null : r.GetString(8)));
            }
        });

        ReadRows("SELECT client_id, topic, qos, retain, payload, properties, expires_at, due_at FROM wills;", r =>
            state.DelayedWills.Add((r.GetString(0), ApplicationMessage.Create(r.GetString(1), (byte[])r[4], (byte)r.GetInt32(2), r.GetInt64(3) != 0, ReadProperties(r, 5), r.GetInt64(6)), r.GetInt64(7))));
        state.LastMessageId = Convert.ToInt64(Scalar(_connection, "SELECT IFNULL(MAX(id), 0) FROM messages;"), System.Globalization.CultureInfo.InvariantCulture);
        state.Sessions.AddRange(sessions.Values);
        return state;
    }

    private static Protocol.V5.MqttProperties? ReadProperties(SqliteDataReader reader, int column)
    {
        if (reader.IsDBNull(column))
        {
            return null;
        }

        var span = new MqttSpanReader((byte[])reader[column]);
        return Protocol.V5.MqttPropertiesReader.Read(ref span, Protocol.V5.PropertyContext.Publish);
    }

    private static byte[]? EncodeProperties(ApplicationMessage? message)
    {
        if (message?.Properties is not { } properties)
        {
            return null;
        }

        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        Protocol.V5.MqttPropertiesWriter.Write(buffer, properties);
        return buffer.WrittenSpan.ToArray();
    }

    private void ReadRows(string sql, Action<SqliteDataReader> row)
    {
        using SqliteCommand command = _connection.CreateCommand();
        command.CommandText = sql;
        using SqliteDataReader reader = command.ExecuteReader();
        while (reader.Read())
        {
            row(reader);
        }
    }

    public void Submit(StoreOperation operation) => _submissions.Add(new Submission([operation], null));

    public void Submit(ReadOnlySpan<StoreOperation> operations, Action? onDurable = null) =>
        _submissions.Add(new Submission(operations.ToArray(), onDurable));

    public Task FlushAsync()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _submissions.Add(new Submission([], null, done));
        return done.Task;
    }

    public void Dispose()
    {
        Interlocked.CompareExchange(ref _stopRequestedAt, Environment.TickCount64, 0);
        _submissions.CompleteAdding();
        _committer.Join();
        DisposeCommands();

        try
        {
            if (!_reopenNeeded)
            {
                Execute(_connection, "PRAGMA wal_checkpoint(TRUNCATE);");
            }
        }
        catch (SqliteException ex)
        {
            _logger.LogWarning("Checkpoint at shutdown failed: {Message}", ex.Message);
        }

        _connection.Dispose();
        _submissions.Dispose();
        _lock.Dispose();
    }

    private void CommitLoop()
    {
        var batch = new List<Submission>(256);
        while (!_submissions.IsCompleted)
        {
            batch.Clear();
            if (!_submissions.TryTake(out Submission first, TimeSpan.FromSeconds(5)))
            {
                // Idle: a deleted database must be noticed now, not at a next commit that may never come.
                CommitWithRetry([]);
                PurgeIfDue();
                continue;
            }

            batch.Add(first);
            while (batch.Count < MaxSubmissionsPerCommit && _submissions.TryTake(out Submission next))
            {
                batch.Add(next);
            }

            bool written = CommitWithRetry(batch);
            foreach (Submission submission in batch)
            {
                if (!written)
                {
                    // Given up at a stop: what waited on it (an acknowledgement, a CONNACK, a QoS 2 PUBLISH whose packet
                    // identifier was to be durable) must not go out. A flush ends, as a write failure.
                    submission.Flush?.TrySetException(new IOException($"the broker database {_path} could not be written before the stop"));
                    continue;
                }

                submission.Flush?.TrySetResult();

                try
                {
                    submission.OnDurable?.Invoke();
                }
                catch (Exception ex)
                {
                    _logger.LogError(ex, "A store completion callback failed");
                }
            }

            PurgeIfDue();
        }
    }

    /// <summary>
    /// A failed commit (disk full, I/O error) is retried until it succeeds: nothing submitted is dropped, and
    /// acknowledgements waiting on it are held back meanwhile, which slows the publishers instead of losing data.
    /// A broker that is stopping gives up after <see cref="StopRetryLimit"/>: what it could not write was never
    /// acknowledged (a client re-sends it), and a stop must not hang until someone frees the disk.
    /// </summary>
    private bool CommitWithRetry(List<Submission> batch)
    {
        long started = Environment.TickCount64;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                RestoreFileIfDeleted();
                if (batch.Count == 0)
                {
                    _failing = false;
                    return true;
                }

                using SqliteTransaction transaction = _connection.BeginTransaction();
                foreach (Submission submission in batch)
                {
                    foreach (StoreOperation operation in submission.Operations)
                    {
                        Apply(operation);
                    }
                }

                transaction.Commit();
                _failing = false;
                if (attempt > 1)
                {
                    _logger.LogWarning("Store commits to {Path} succeed again after {Attempts} attempts ({Seconds:F0} s); the acknowledgements held meanwhile go out now", _path, attempt, (Environment.TickCount64 - started) / 1000.0);
                }

                return true;
            }
            catch (Exception ex) when (ex is SqliteException or IOException or UnauthorizedAccessException or StoreException)
            {
                _failing = true;
                string reason = ex is SqliteException sqlite ? Describe(sqlite) : ex.Message;
                long stopRequestedAt = Interlocked.Read(ref _stopRequestedAt);
                if (stopRequestedAt != 0 && Environment.TickCount64 - stopRequestedAt > StopRetryLimit.TotalMilliseconds)
                {
                    _logger.LogError("Stopping without writing {Count} submissions to {Path} ({Reason}): nothing in them was acknowledged", batch.Count, _path, reason);
                    _gaveUpAtStop = true;
                    return false;
                }

                _logger.LogError(
                    "Store commit of {Count} submissions to {Path} failed (attempt {Attempt}): {Reason}; acknowledgements are held back until it succeeds{Stopping}",
                    batch.Count,
                    _path,
                    attempt,
                    reason,
                    stopRequestedAt != 0 ? $" (stopping: giving up {StopRetryLimit.TotalSeconds:F0} s after the stop)" : string.Empty);
                Thread.Sleep(Math.Min(stopRequestedAt != 0 ? 1000 : 5000, 100 * attempt));
            }
        }
    }

    /// <summary>
    /// The database deleted while the broker runs (<c>rm -rf</c> of the data directory): SQLite would go on writing
    /// into the deleted file, and everything acknowledged since would be gone at the next start. The open connection
    /// still reads the whole database, so it is written out again (VACUUM INTO, then a rename) and reopened before the
    /// next commit; until that succeeds, commits (and the acknowledgements waiting on them) wait.
    /// </summary>
    private void RestoreFileIfDeleted()
    {
        if (!_reopenNeeded)
        {
            if (!IsDeleted(_path))
            {
                return;
            }

            _logger.LogError("The broker database {Path} was deleted while in use: writing it again from the open copy", _path);
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(_path)!);
            string restoring = _path + ".restoring";
            File.Delete(restoring);
            try
            {
                Execute(_connection, $"VACUUM INTO '{restoring.Replace("'", "''", StringComparison.Ordinal)}';");
            }
            catch
            {
                File.Delete(restoring);
                throw;
            }

            // Renamed before the open copy is let go: from here on the data is in the file. (Over a dangling link too.)
            File.Move(restoring, _path, overwrite: true);
            DisposeCommands();
            _connection.Dispose();
            _reopenNeeded = true;
        }

        if (!File.Exists(_path + ".lock"))
        {
            // Gone with its directory: taken again, so that a second broker is still refused this directory.
            FileStream previousLock = _lock;
            _lock = LockDirectory(_path);
            previousLock.Dispose();
        }

        SqliteConnection reopened = OpenConnection(_path, _durability);
        _connection = reopened;
        try
        {
            PrepareCommands();
        }
        catch
        {
            DisposeCommands();
            reopened.Dispose();
            throw;
        }

        _reopenNeeded = false;

        _logger.LogWarning("The broker database {Path} was written again and reopened: nothing acknowledged was lost", _path);
    }

    /// <summary>True only when the file is not there (ENOENT); a path that cannot be examined is not taken for deleted.</summary>
    private static bool IsDeleted(string path)
    {
        try
        {
            File.GetAttributes(path);
            return false;
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private void PurgeIfDue()
    {
        if (_reopenNeeded || Environment.TickCount64 - _lastPurge < PurgeInterval.TotalMilliseconds)
        {
            return;
        }

        _lastPurge = Environment.TickCount64;
        try
        {
            Execute(_connection, "DELETE FROM messages WHERE NOT EXISTS (SELECT 1 FROM queue WHERE queue.message_id = messages.id);");
            Execute(_connection, "PRAGMA incremental_vacuum(2048);");
            Execute(_connection, "PRAGMA wal_checkpoint(PASSIVE);");
        }
        catch (SqliteException ex)
        {
            _logger.LogWarning("Store purge failed: {Message}", ex.Message);
        }
    }

    private static void Execute(SqliteConnection connection, string sql, SqliteTransaction? transaction = null)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    private readonly record struct Submission(StoreOperation[] Operations, Action? OnDurable, TaskCompletionSource? Flush = null);
}
