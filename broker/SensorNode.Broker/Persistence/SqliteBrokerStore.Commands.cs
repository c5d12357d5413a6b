using Microsoft.Data.Sqlite;
using SensorNode.Broker.Protocol;
using SQLitePCL;

namespace SensorNode.Broker.Persistence;

/// <summary>
/// One prepared statement per kind of write (DeleteSession: several), bound and stepped per operation through the
/// SQLite C API (SQLitePCL, which Microsoft.Data.Sqlite itself calls). A <see cref="SqliteCommand"/> allocated
/// some 1.5 KB per write (parameter binders, a data reader, boxed values, a copy of the payload): with four writes
/// per durable message that was most of the garbage of the durable path. Errors surface as
/// <see cref="SqliteException"/>, as from a command.
/// </summary>
public sealed partial class SqliteBrokerStore
{
    private readonly Statement[]?[] _statements = new Statement[]?[Enum.GetValues<StoreOperationKind>().Length];

    private void PrepareCommands()
    {
        Prepare(StoreOperationKind.PutRetained, "INSERT OR REPLACE INTO retained (topic, qos, payload, properties, expires_at) VALUES ($key, $qos, $payload, $properties, $expires);");
        Prepare(StoreOperationKind.DeleteRetained, "DELETE FROM retained WHERE topic = $key;");
        Prepare(StoreOperationKind.PutSession, "INSERT INTO sessions (client_id, created_utc, expiry_s) VALUES ($key, unixepoch(), $seq) ON CONFLICT (client_id) DO UPDATE SET offline_since_utc = NULL, expiry_s = $seq;");
        Prepare(StoreOperationKind.MarkSessionOffline, "UPDATE sessions SET offline_since_utc = $seq WHERE client_id = $key;");
        Prepare(
            StoreOperationKind.DeleteSession,
            "DELETE FROM sessions WHERE client_id = $key;",
            "DELETE FROM subscriptions WHERE client_id = $key;",
            "DELETE FROM queue WHERE client_id = $key;",
            "DELETE FROM inbound_qos2 WHERE client_id = $key;",
            "DELETE FROM wills WHERE client_id = $key;");
        Prepare(StoreOperationKind.PutSubscription, "INSERT OR REPLACE INTO subscriptions (client_id, filter, qos, options, identifier) VALUES ($key, $topic, $qos, $packet, $seq);");
        Prepare(StoreOperationKind.DeleteSubscription, "DELETE FROM subscriptions WHERE client_id = $key AND filter = $topic;");
        Prepare(StoreOperationKind.PutMessage, "INSERT OR REPLACE INTO messages (id, topic, qos, retain, payload, properties, expires_at) VALUES ($message, $topic, $qos, $retain, $payload, $properties, $expires);");
        Prepare(StoreOperationKind.PutQueued, "INSERT OR REPLACE INTO queue (client_id, seq, message_id, qos, retain, packet_id, state, subscription_ids, shared_via) VALUES ($key, $seq, $message, $qos, $retain, 0, 0, $subids, $topic);");
        Prepare(StoreOperationKind.UpdateQueued, "UPDATE queue SET packet_id = $packet, state = $state WHERE client_id = $key AND seq = $seq;");
        Prepare(StoreOperationKind.DeleteQueued, "DELETE FROM queue WHERE client_id = $key AND seq = $seq;");
        Prepare(StoreOperationKind.PutWill, "INSERT OR REPLACE INTO wills (client_id, topic, qos, retain, payload, properties, expires_at, due_at) VALUES ($key, $topic, $qos, $retain, $payload, $properties, $expires, $seq);");
        Prepare(StoreOperationKind.DeleteWill, "DELETE FROM wills WHERE client_id = $key;");
        Prepare(StoreOperationKind.PutInbound, "INSERT OR IGNORE INTO inbound_qos2 (client_id, packet_id) VALUES ($key, $packet);");
        Prepare(StoreOperationKind.DeleteInbound, "DELETE FROM inbound_qos2 WHERE client_id = $key AND packet_id = $packet;");
    }

    private void Prepare(StoreOperationKind kind, params string[] sql)
    {
        sqlite3 db = _connection.Handle!;
        var statements = new Statement[sql.Length];
        for (int i = 0; i < sql.Length; i++)
        {
            int rc = raw.sqlite3_prepare_v2(db, sql[i], out sqlite3_stmt handle);
            SqliteException.ThrowExceptionForRC(rc, db);
            statements[i] = new Statement(handle);
        }

        _statements[(int)kind] = statements;
    }

    private void DisposeCommands()
    {
        foreach (Statement[]? statements in _statements)
        {
            foreach (Statement statement in statements ?? [])
            {
                statement.Handle.Dispose();
            }
        }
    }

    /// <summary>Writes one operation inside the open transaction.</summary>
    private void Apply(in StoreOperation op)
    {
        sqlite3 db = _connection.Handle!;
        foreach (Statement statement in _statements[(int)op.Kind]!)
        {
            sqlite3_stmt stmt = statement.Handle;
            try
            {
                ApplicationMessage? message = op.Message;
                BindText(db, stmt, statement.Key, op.Key);
                BindText(db, stmt, statement.Topic, op.Topic);
                BindInt64(db, stmt, statement.Qos, message?.Qos ?? op.Qos);
                BindInt64(db, stmt, statement.Retain, (message?.Retain ?? op.Retain) ? 1 : 0);
                BindBlob(db, stmt, statement.Payload, message is null ? op.Payload.Span : message.PayloadSpan);
                if (statement.Properties != 0)
                {
                    byte[]? properties = EncodeProperties(message);
                    BindBlob(db, stmt, statement.Properties, properties, isNull: properties is null);
                }

                BindInt64(db, stmt, statement.Expires, message?.ExpiresAtUnixMs ?? 0L);
                BindInt64(db, stmt, statement.Message, op.MessageId);
                BindInt64(db, stmt, statement.Seq, op.Sequence);
                BindInt64(db, stmt, statement.Packet, op.PacketId);
                BindInt64(db, stmt, statement.State, (int)op.State);
                if (statement.SubscriptionIds != 0)
                {
                    byte[]? ids = EncodeSubscriptionIds(op.SubscriptionIds);
                    BindBlob(db, stmt, statement.SubscriptionIds, ids, isNull: ids is null);
                }

                int rc = raw.sqlite3_step(stmt);
                if (rc != raw.SQLITE_DONE && rc != raw.SQLITE_ROW)
                {
                    SqliteException.ThrowExceptionForRC(rc, db);
                }
            }
            finally
            {
                // Ready for the next operation whatever happened (a failed step leaves the statement to be reset).
                raw.sqlite3_reset(stmt);
            }
        }
    }

    private static void BindText(sqlite3 db, sqlite3_stmt stmt, int index, string? value)
    {
        if (index != 0)
        {
            // An empty span has no pointer, which SQLite takes for NULL: "" is bound as text to keep it "".
            Check(db, value is null ? raw.sqlite3_bind_null(stmt, index) : value.Length == 0 ? raw.sqlite3_bind_text(stmt, index, string.Empty) : raw.sqlite3_bind_text16(stmt, index, value.AsSpan()));
        }
    }

    private static void BindInt64(sqlite3 db, sqlite3_stmt stmt, int index, long value)
    {
        if (index != 0)
        {
            Check(db, raw.sqlite3_bind_int64(stmt, index, value));
        }
    }

    // Payload columns are NOT NULL: an empty payload is bound as a zero-length blob, explicitly.
    private static void BindBlob(sqlite3 db, sqlite3_stmt stmt, int index, ReadOnlySpan<byte> value, bool isNull = false)
    {
        if (index != 0)
        {
            Check(db, isNull ? raw.sqlite3_bind_null(stmt, index) : value.IsEmpty ? raw.sqlite3_bind_zeroblob(stmt, index, 0) : raw.sqlite3_bind_blob(stmt, index, value));
        }
    }

    private static void Check(sqlite3 db, int rc) => SqliteException.ThrowExceptionForRC(rc, db);

    /// <summary>A prepared statement and the indexes of the parameters it has (0: not in its SQL).</summary>
    private sealed class Statement(sqlite3_stmt handle)
    {
        public sqlite3_stmt Handle { get; } = handle;

        public int Key { get; } = raw.sqlite3_bind_parameter_index(handle, "$key");

        public int Topic { get; } = raw.sqlite3_bind_parameter_index(handle, "$topic");

        public int Qos { get; } = raw.sqlite3_bind_parameter_index(handle, "$qos");

        public int Retain { get; } = raw.sqlite3_bind_parameter_index(handle, "$retain");

        public int Payload { get; } = raw.sqlite3_bind_parameter_index(handle, "$payload");

        public int Message { get; } = raw.sqlite3_bind_parameter_index(handle, "$message");

        public int Seq { get; } = raw.sqlite3_bind_parameter_index(handle, "$seq");

        public int Packet { get; } = raw.sqlite3_bind_parameter_index(handle, "$packet");

        public int State { get; } = raw.sqlite3_bind_parameter_index(handle, "$state");

        public int Properties { get; } = raw.sqlite3_bind_parameter_index(handle, "$properties");

        public int Expires { get; } = raw.sqlite3_bind_parameter_index(handle, "$expires");

        public int SubscriptionIds { get; } = raw.sqlite3_bind_parameter_index(handle, "$subids");
    }

    /// <summary>Subscription identifiers as 4-byte little-endian values, null for none.</summary>
    private static byte[]? EncodeSubscriptionIds(uint[]? ids)
    {
        if (ids is not { Length: > 0 })
        {
            return null;
        }

        byte[] bytes = new byte[ids.Length * 4];
        for (int i = 0; i < ids.Length; i++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(i * 4), ids[i]);
        }

        return bytes;
    }

    private static uint[]? DecodeSubscriptionIds(byte[]? bytes)
    {
        if (bytes is not { Length: >= 4 })
        {
            return null;
        }

        uint[] ids = new uint[bytes.Length / 4];
        for (int i = 0; i < ids.Length; i++)
        {
            ids[i] = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(i * 4));
        }

        return ids;
    }
}
