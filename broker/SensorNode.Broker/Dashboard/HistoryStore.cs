using Microsoft.Data.Sqlite;

namespace SensorNode.Broker.Dashboard;

/// <summary>One point of a chart: a raw reading, or the average of one interval (its start time).</summary>
public readonly record struct HistoryPoint(DateTimeOffset At, double Value, int Count);

/// <summary>The newest value of one series (room and type).</summary>
public readonly record struct LatestReading(string Room, string Type, DateTimeOffset At, double Value);

/// <summary>The newest online/offline state of one room, and since when.</summary>
public readonly record struct LatestStatus(string Room, bool Online, DateTimeOffset Since);

/// <summary>Which table a history query reads.</summary>
public enum HistoryResolution
{
    /// <summary>Raw for short recent ranges, averages otherwise.</summary>
    Auto,
    Raw,
    Average,
}

/// <summary>
/// The readings of <c>sensor/+/+</c> in an SQLite database of their own (<c>history.db</c> in the broker's data
/// directory, or in memory): readings for <see cref="DashboardOptions.RawRetention"/> (at most one per sensor per
/// <see cref="DashboardOptions.RawInterval"/>), averages of every reading per <see cref="DashboardOptions.AverageInterval"/>
/// for <see cref="DashboardOptions.AverageRetention"/>. Readings are buffered by <see cref="Add"/> and written in one
/// transaction by <see cref="Flush"/>, off the publish path. What is buffered is bounded: a sensor that publishes
/// thousands of times a second costs a row per interval and a sum per average, not a row per message.
/// </summary>
public sealed class HistoryStore : IDisposable
{
    public const string FileName = "history.db";

    private readonly SqliteConnection _connection;
    private readonly DashboardOptions _options;
    private readonly TimeProvider _clock;
    private readonly object _gate = new();
    private const int MaxPendingReadings = 100_000;
    private const int MaxPendingStatuses = 10_000;

    private List<LatestReading> _pending = [];
    private List<LatestStatus> _pendingStatus = [];
    private Dictionary<(string Room, string Type, long Bucket), (double Sum, long Count)> _pendingAverages = [];
    private readonly Dictionary<(string Room, string Type), long> _lastRawAt = [];
    private long _dropped;

    private HistoryStore(SqliteConnection connection, DashboardOptions options, TimeProvider clock, string? path)
    {
        _connection = connection;
        _options = options;
        _clock = clock;
        Path = path;
    }

    /// <summary>The database file; null when the history is kept in memory.</summary>
    public string? Path { get; }

    /// <summary>Opens (creating) <c>history.db</c> in <paramref name="directory"/>, or an in-memory database when it is null.</summary>
    public static HistoryStore Open(string? directory, DashboardOptions options, TimeProvider clock)
    {
        string? path = null;
        string source = ":memory:";
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
            path = System.IO.Path.GetFullPath(System.IO.Path.Combine(directory, FileName));
            source = path;
        }

        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = source, Pooling = false }.ToString());
        connection.Open();
        try
        {
            Execute(connection, """
                PRAGMA journal_mode = WAL;
                PRAGMA synchronous = NORMAL;
                CREATE TABLE IF NOT EXISTS raw (room TEXT NOT NULL, type TEXT NOT NULL, at INTEGER NOT NULL, value REAL NOT NULL);
                CREATE INDEX IF NOT EXISTS raw_series ON raw (room, type, at);
                CREATE TABLE IF NOT EXISTS average (room TEXT NOT NULL, type TEXT NOT NULL, bucket INTEGER NOT NULL,
                    sum REAL NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (room, type, bucket)) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS status (room TEXT NOT NULL, at INTEGER NOT NULL, online INTEGER NOT NULL);
                CREATE INDEX IF NOT EXISTS status_room ON status (room, at);
                """);
        }
        catch
        {
            connection.Dispose();
            throw;
        }

        return new HistoryStore(connection, options, clock, path);
    }

    /// <summary>Size of the database file in bytes (0 in memory).</summary>
    public long SizeOnDisk => Path is { } p && File.Exists(p) ? new FileInfo(p).Length : 0;

    /// <summary>
    /// Buffers a reading for <see cref="Flush"/>: into its average always, as a raw row if the sensor's last raw row
    /// is at least <see cref="DashboardOptions.RawInterval"/> older.
    /// </summary>
    public void Add(string room, string type, DateTimeOffset at, double value)
    {
        long atMs = at.ToUnixTimeMilliseconds();
        long bucketMs = (long)_options.AverageInterval.TotalMilliseconds;
        long bucket = atMs - (((atMs % bucketMs) + bucketMs) % bucketMs);
        lock (_gate)
        {
            (double sum, long count) = _pendingAverages.GetValueOrDefault((room, type, bucket));
            _pendingAverages[(room, type, bucket)] = (sum + value, count + 1);

            // A clock set back is not "within the interval": the sensor would go unrecorded until it caught up.
            if (_lastRawAt.TryGetValue((room, type), out long last) && atMs >= last && atMs - last < (long)_options.RawInterval.TotalMilliseconds)
            {
                return;
            }

            if (_pending.Count >= MaxPendingReadings)
            {
                _dropped++;
                return;
            }

            _lastRawAt[(room, type)] = atMs;
            _pending.Add(new LatestReading(room, type, at, value));
        }
    }

    /// <summary>Buffers a status change; <see cref="Flush"/> writes it.</summary>
    public void AddStatus(string room, bool online, DateTimeOffset at)
    {
        lock (_gate)
        {
            if (_pendingStatus.Count >= MaxPendingStatuses)
            {
                _dropped++;
                return;
            }

            _pendingStatus.Add(new LatestStatus(room, online, at));
        }
    }

    /// <summary>Raw readings and status changes not recorded because too many were waiting for a flush.</summary>
    public long Dropped
    {
        get
        {
            lock (_gate)
            {
                return _dropped;
            }
        }
    }

    /// <summary>Readings buffered and not yet written.</summary>
    public int PendingCount
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count + _pendingStatus.Count + _pendingAverages.Count;
            }
        }
    }

    /// <summary>Writes the buffered readings (raw rows and their averages) in one transaction.</summary>
    public void Flush()
    {
        List<LatestReading> readings;
        List<LatestStatus> statuses;
        Dictionary<(string Room, string Type, long Bucket), (double Sum, long Count)> averages;
        lock (_gate)
        {
            if (_pending.Count == 0 && _pendingStatus.Count == 0 && _pendingAverages.Count == 0)
            {
                return;
            }

            readings = _pending;
            statuses = _pendingStatus;
            averages = _pendingAverages;
            _pending = [];
            _pendingStatus = [];
            _pendingAverages = [];
        }

        lock (_connection)
        {
            using SqliteTransaction transaction = _connection.BeginTransaction();
            using SqliteCommand raw = Command("INSERT INTO raw (room, type, at, value) VALUES ($room, $type, $at, $value)", transaction);
            foreach (LatestReading reading in readings)
            {
                Bind(raw, ("$room", reading.Room), ("$type", reading.Type), ("$at", reading.At.ToUnixTimeMilliseconds()), ("$value", reading.Value));
                raw.ExecuteNonQuery();
            }

            using SqliteCommand average = Command("""
                INSERT INTO average (room, type, bucket, sum, count) VALUES ($room, $type, $bucket, $sum, $count)
                ON CONFLICT (room, type, bucket) DO UPDATE SET sum = sum + excluded.sum, count = count + excluded.count
                """, transaction);
            foreach (((string room, string type, long bucket), (double sum, long count)) in averages)
            {
                Bind(average, ("$room", room), ("$type", type), ("$bucket", bucket), ("$sum", sum), ("$count", count));
                average.ExecuteNonQuery();
            }

            using SqliteCommand status = Command("INSERT INTO status (room, at, online) VALUES ($room, $at, $online)", transaction);
            foreach (LatestStatus change in statuses)
            {
                Bind(status, ("$room", change.Room), ("$at", change.Since.ToUnixTimeMilliseconds()), ("$online", change.Online ? 1 : 0));
                status.ExecuteNonQuery();
            }

            transaction.Commit();
        }
    }

    /// <summary>Deletes raw readings, averages and status changes older than their retention; returns the rows deleted.</summary>
    public int Prune()
    {
        long now = _clock.GetUtcNow().ToUnixTimeMilliseconds();
        long rawLimit = now - (long)_options.RawRetention.TotalMilliseconds;
        long averageLimit = now - (long)_options.AverageRetention.TotalMilliseconds;
        lock (_connection)
        {
            using SqliteCommand command = Command("""
                DELETE FROM raw WHERE at < $raw;
                DELETE FROM average WHERE bucket < $average;
                DELETE FROM status WHERE at < $average AND at < (SELECT MAX(s.at) FROM status s WHERE s.room = status.room);
                """);
            Bind(command, ("$raw", rawLimit), ("$average", averageLimit - (long)_options.AverageInterval.TotalMilliseconds));
            return command.ExecuteNonQuery();
        }
    }

    /// <summary>The points of one series between two times, oldest first.</summary>
    public List<HistoryPoint> Query(string room, string type, DateTimeOffset from, DateTimeOffset to, HistoryResolution resolution = HistoryResolution.Auto)
    {
        if (resolution == HistoryResolution.Auto)
        {
            resolution = ChooseResolution(from, to);
        }

        long fromMs = from.ToUnixTimeMilliseconds();
        long toMs = to.ToUnixTimeMilliseconds();
        var points = new List<HistoryPoint>();
        lock (_connection)
        {
            using SqliteCommand command = resolution == HistoryResolution.Raw
                ? Command("SELECT at, value, 1 FROM raw WHERE room = $room AND type = $type AND at >= $from AND at <= $to ORDER BY at")
                : Command("SELECT bucket, sum / count, count FROM average WHERE room = $room AND type = $type AND bucket >= $from AND bucket <= $to ORDER BY bucket");
            Bind(command, ("$room", room), ("$type", type), ("$from", resolution == HistoryResolution.Raw ? fromMs : fromMs - (long)_options.AverageInterval.TotalMilliseconds + 1), ("$to", toMs));
            using SqliteDataReader reader = command.ExecuteReader();
            while (reader.Read())
            {
                points.Add(new HistoryPoint(DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(0)), reader.GetDouble(1), reader.GetInt32(2)));
            }
        }

        return points;
    }

    /// <summary>Raw readings for a recent range of up to 6 hours; averages for longer or older ranges.</summary>
    public HistoryResolution ChooseResolution(DateTimeOffset from, DateTimeOffset to) =>
        to - from <= TimeSpan.FromHours(6) && from >= _clock.GetUtcNow() - _options.RawRetention ? HistoryResolution.Raw : HistoryResolution.Average;

    /// <summary>The newest reading of every series (after a restart, the cards start from these).</summary>
    public List<LatestReading> Latest()
    {
        var latest = new List<LatestReading>();
        lock (_connection)
        {
            using SqliteCommand command = Command("SELECT room, type, MAX(at), value FROM raw GROUP BY room, type");
            using SqliteDataReader reader = command.ExecuteReader();
            while (reader.Read())
            {
                latest.Add(new LatestReading(reader.GetString(0), reader.GetString(1), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)), reader.GetDouble(3)));
            }
        }

        return latest;
    }

    /// <summary>The newest status of every room, with the time it last changed.</summary>
    public List<LatestStatus> LatestStatuses()
    {
        var rows = new List<(string Room, long At, bool Online)>();
        lock (_connection)
        {
            using SqliteCommand command = Command("SELECT room, at, online FROM status ORDER BY room, at");
            using SqliteDataReader reader = command.ExecuteReader();
            while (reader.Read())
            {
                rows.Add((reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2) != 0));
            }
        }

        var latest = new List<LatestStatus>();
        foreach (IGrouping<string, (string Room, long At, bool Online)> room in rows.GroupBy(r => r.Room))
        {
            var ordered = room.ToList();
            bool online = ordered[^1].Online;
            int first = ordered.Count - 1;
            while (first > 0 && ordered[first - 1].Online == online)
            {
                first--;
            }

            latest.Add(new LatestStatus(room.Key, online, DateTimeOffset.FromUnixTimeMilliseconds(ordered[first].At)));
        }

        return latest;
    }

    public void Dispose()
    {
        try
        {
            Flush();
        }
        catch (SqliteException)
        {
            // Closing anyway: the readings of the last second are lost, the history is not damaged.
        }

        lock (_connection)
        {
            _connection.Dispose();
        }
    }

    private SqliteCommand Command(string sql, SqliteTransaction? transaction = null)
    {
        SqliteCommand command = _connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        return command;
    }

    private static void Bind(SqliteCommand command, params (string Name, object Value)[] values)
    {
        command.Parameters.Clear();
        foreach ((string name, object value) in values)
        {
            command.Parameters.AddWithValue(name, value);
        }
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
