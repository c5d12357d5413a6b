using Microsoft.Data.Sqlite;

namespace SensorNode.Broker.Persistence;

/// <summary>One prepared statement per kind of write, bound afresh for each operation.</summary>
public sealed partial class SqliteBrokerStore
{
    private void PrepareCommands()
    {
        Prepare(StoreOperationKind.PutRetained, "INSERT OR REPLACE INTO retained (topic, qos, payload, properties, expires_at) VALUES ($key, $qos, $payload, $properties, $expires);");
        Prepare(StoreOperationKind.DeleteRetained, "DELETE FROM retained WHERE topic = $key;");
        Prepare(StoreOperationKind.PutSession, "INSERT INTO sessions (client_id, created_utc, expiry_s) VALUES ($key, unixepoch(), $seq) ON CONFLICT (client_id) DO UPDATE SET offline_since_utc = NULL, expiry_s = $seq;");
        Prepare(StoreOperationKind.MarkSessionOffline, "UPDATE sessions SET offline_since_utc = $seq WHERE client_id = $key;");
        Prepare(StoreOperationKind.DeleteSession, """
            DELETE FROM sessions WHERE client_id = $key;
            DELETE FROM subscriptions WHERE client_id = $key;
            DELETE FROM queue WHERE client_id = $key;
            DELETE FROM inbound_qos2 WHERE client_id = $key;
            DELETE FROM wills WHERE client_id = $key;
            """);
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

    private void Prepare(StoreOperationKind kind, string sql)
    {
        SqliteCommand command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (string name in new[] { "$key", "$topic", "$qos", "$retain", "$payload", "$message", "$seq", "$packet", "$state", "$properties", "$expires", "$subids" })
        {
            if (sql.Contains(name, StringComparison.Ordinal))
            {
                command.Parameters.Add(new SqliteParameter(name, null));
            }
        }

        _commands[kind] = command;
    }

    private void Apply(in StoreOperation op, SqliteTransaction transaction)
    {
        SqliteCommand command = _commands[op.Kind];
        command.Transaction = transaction;
        foreach (SqliteParameter parameter in command.Parameters)
        {
            parameter.Value = parameter.ParameterName switch
            {
                "$key" => op.Key,
                "$topic" => (object?)op.Topic ?? DBNull.Value,
                "$qos" => (int)(op.Message?.Qos ?? op.Qos),
                "$retain" => (op.Message?.Retain ?? op.Retain) ? 1 : 0,
                "$payload" => op.Message is { } message ? message.Payload.ToArray() : op.Payload.ToArray(),
                "$properties" => (object?)EncodeProperties(op.Message) ?? DBNull.Value,
                "$expires" => op.Message?.ExpiresAtUnixMs ?? 0L,
                "$message" => op.MessageId,
                "$seq" => op.Sequence,
                "$packet" => (int)op.PacketId,
                "$state" => (int)op.State,
                "$subids" => (object?)EncodeSubscriptionIds(op.SubscriptionIds) ?? DBNull.Value,
                _ => throw new InvalidOperationException(parameter.ParameterName),
            };
        }

        command.ExecuteNonQuery();
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
