using System.Globalization;
using System.Text;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;

namespace SensorNode.Broker.Host.Client;

/// <summary>Connection settings shared by <c>sub</c> and <c>pub</c>.</summary>
internal sealed record ClientSettings(string Host, int Port, string? ClientId, string? UserName, string? Password, ushort KeepAlive)
{
    public ConnectPacket ToConnect(string purpose) => new()
    {
        ClientId = ClientId ?? $"sensornode-{purpose}-{Environment.ProcessId}-{Random.Shared.Next(1000, 9999)}",
        CleanSession = true,
        KeepAliveSeconds = KeepAlive,
        UserName = UserName,
        Password = Password is null ? null : Encoding.UTF8.GetBytes(Password),
    };
}

/// <summary>The built-in client: <c>sub</c> prints what arrives (or a table per room), <c>pub</c> publishes one message.</summary>
internal static class ClientCommands
{
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Exit code when <c>--timeout</c> ends the subscription before <c>--count</c> messages came (as mosquitto_sub).</summary>
    public const int TimedOut = 27;

    public static async Task<int> SubscribeAsync(ClientSettings settings, IReadOnlyList<string> filters, byte qos, int count, int timeoutSeconds, bool table, TextWriter output, CancellationToken cancellationToken)
    {
        using var timeout = timeoutSeconds > 0 ? new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds)) : new CancellationTokenSource();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        CancellationToken token = linked.Token;

        foreach (string filter in filters)
        {
            // Checked here, as mosquitto_sub does: a broker closes the connection for a filter that is not well formed.
            if (!SensorNode.Broker.Protocol.TopicRules.IsValidTopicFilter(filter))
            {
                throw new CliException($"'{filter}' is not a valid topic filter ('#' only last and alone in its level, '+' alone in its level)");
            }
        }

        await using MqttCliClient client = await MqttCliClient.ConnectAsync(settings.Host, settings.Port, settings.ToConnect("sub"), ConnectTimeout, cancellationToken);
        ushort subscribeId = client.NextPacketId();
        await client.SendAsync(new SubscribePacket { PacketId = subscribeId, Subscriptions = [.. filters.Select(f => new TopicSubscription(f, qos))] }, token);

        var rooms = table ? new RoomTable() : null;
        int received = 0;
        using var pinger = new CancellationTokenSource();
        Task ping = PingAsync(client, settings.KeepAlive, pinger.Token);
        try
        {
            while (true)
            {
                MqttPacket? packet = await client.ReceiveAsync(token);
                switch (packet)
                {
                    case null:
                        throw new CliException("the broker closed the connection");
                    case SubAckPacket subAck when subAck.PacketId == subscribeId:
                        for (int i = 0; i < subAck.ReturnCodes.Length && i < filters.Count; i++)
                        {
                            if (subAck.ReturnCodes[i] >= 0x80)
                            {
                                throw new CliException($"subscription to '{filters[i]}' refused (0x{subAck.ReturnCodes[i]:X2})");
                            }
                        }

                        break;
                    case PublishPacket publish:
                        if (publish.Qos == 1)
                        {
                            await client.SendAsync(new PacketIdPacket(PacketType.PubAck, publish.PacketId), token);
                        }
                        else if (publish.Qos == 2)
                        {
                            await client.SendAsync(new PacketIdPacket(PacketType.PubRec, publish.PacketId), token);
                        }

                        if (rooms is not null)
                        {
                            if (rooms.Update(publish.Topic, FormatPayload(publish.Payload.Span)))
                            {
                                rooms.Render(output);
                            }
                        }
                        else
                        {
                            await output.WriteLineAsync(FormatMessage(publish));
                        }

                        await output.FlushAsync(CancellationToken.None);
                        if (count > 0 && ++received >= count)
                        {
                            await client.DisconnectAsync();
                            return 0;
                        }

                        break;
                    case PacketIdPacket { Type: PacketType.PubRel } pubRel:
                        await client.SendAsync(new PacketIdPacket(PacketType.PubComp, pubRel.PacketId), token);
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            await client.DisconnectAsync();
            await Console.Error.WriteLineAsync($"sensornode-broker sub: timed out after {timeoutSeconds} s ({received} messages)");
            return TimedOut;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C: leave politely.
            await client.DisconnectAsync();
            return 0;
        }
        finally
        {
            await pinger.CancelAsync();
            await ping;
        }
    }

    public static async Task<int> PublishAsync(ClientSettings settings, string topic, byte[] payload, byte qos, bool retain, CancellationToken cancellationToken)
    {
        if (!TopicRules.IsValidTopicName(topic))
        {
            throw new CliException($"'{topic}' is not a valid topic name (no wildcards, not empty)", 2);
        }

        await using MqttCliClient client = await MqttCliClient.ConnectAsync(settings.Host, settings.Port, settings.ToConnect("pub"), ConnectTimeout, cancellationToken);
        ushort packetId = qos > 0 ? client.NextPacketId() : (ushort)0;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(ConnectTimeout);
        try
        {
            await client.SendAsync(new PublishPacket { Topic = topic, Payload = payload, Qos = qos, Retain = retain, PacketId = packetId }, cts.Token);
            while (qos > 0)
            {
                MqttPacket? reply = await client.ReceiveAsync(cts.Token) ?? throw new CliException("the broker closed the connection before acknowledging");
                if (reply is PacketIdPacket { Type: PacketType.PubAck } ack && ack.PacketId == packetId && qos == 1)
                {
                    break;
                }

                if (reply is PacketIdPacket { Type: PacketType.PubRec } rec && rec.PacketId == packetId)
                {
                    await client.SendAsync(new PacketIdPacket(PacketType.PubRel, packetId), cts.Token);
                }
                else if (reply is PacketIdPacket { Type: PacketType.PubComp } comp && comp.PacketId == packetId)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new CliException("the broker did not acknowledge the message in time");
        }

        await client.DisconnectAsync();
        return 0;
    }

    private static async Task PingAsync(MqttCliClient client, ushort keepAlive, CancellationToken cancellationToken)
    {
        if (keepAlive == 0)
        {
            return;
        }

        try
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(Math.Max(1, keepAlive / 2.0)));
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                await client.SendAsync(EmptyPacket.PingReq, cancellationToken);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or CliException or ObjectDisposedException)
        {
        }
    }

    /// <summary>"sensor/temperature/kitchen qos=1 retain=1 21.4".</summary>
    public static string FormatMessage(PublishPacket publish) =>
        $"{publish.Topic} qos={publish.Qos} retain={(publish.Retain ? 1 : 0)} {FormatPayload(publish.Payload.Span)}";

    /// <summary>Text when the payload is printable UTF-8, otherwise hex ("0x0102ff"); "(empty)" for none.</summary>
    public static string FormatPayload(ReadOnlySpan<byte> payload)
    {
        if (payload.IsEmpty)
        {
            return "(empty)";
        }

        try
        {
            string text = new UTF8Encoding(false, true).GetString(payload);
            if (!text.Any(c => char.IsControl(c) && c is not '\t' and not '\n' and not '\r'))
            {
                return text;
            }
        }
        catch (DecoderFallbackException)
        {
        }

        return "0x" + Convert.ToHexStringLower(payload);
    }

    /// <summary>The latest value per room and reading for <c>sensor/&lt;type&gt;/&lt;room&gt;</c> topics.</summary>
    internal sealed class RoomTable
    {
        private static readonly HashSet<string> Hidden = new(StringComparer.Ordinal) { "state", "command" };
        private readonly SortedDictionary<string, Dictionary<string, string>> _rooms = new(StringComparer.Ordinal);
        private readonly SortedDictionary<string, DateTime> _updated = new(StringComparer.Ordinal);
        private readonly List<string> _types = [];

        /// <summary>Records a reading; false when the topic is not a sensor reading.</summary>
        public bool Update(string topic, string value)
        {
            string[] levels = topic.Split('/');
            if (levels.Length != 3 || levels[0] != "sensor" || Hidden.Contains(levels[1]) || levels[1].Length == 0 || levels[2].Length == 0)
            {
                return false;
            }

            (string type, string room) = (levels[1], levels[2]);
            if (!_types.Contains(type))
            {
                _types.Add(type);
                _types.Sort(CompareTypes);
            }

            if (!_rooms.TryGetValue(room, out Dictionary<string, string>? values))
            {
                _rooms[room] = values = new Dictionary<string, string>(StringComparer.Ordinal);
            }

            values[type] = value;
            _updated[room] = DateTime.Now;
            return true;
        }

        public void Render(TextWriter output)
        {
            bool terminal = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
            var rows = new List<string[]> { (["room", .. _types, "updated"]) };
            foreach ((string room, Dictionary<string, string> values) in _rooms)
            {
                rows.Add([room, .. _types.Select(t => values.GetValueOrDefault(t, "-")), _updated[room].ToString("HH:mm:ss", CultureInfo.InvariantCulture)]);
            }

            int[] widths = [.. Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length))];
            var text = new StringBuilder();
            if (terminal)
            {
                text.Append("\u001b[H\u001b[2J");
            }

            for (int r = 0; r < rows.Count; r++)
            {
                text.AppendJoin("  ", rows[r].Select((cell, c) => cell.PadRight(widths[c]))).Append('\n');
                if (r == 0)
                {
                    text.AppendJoin("  ", widths.Select(w => new string('-', w))).Append('\n');
                }
            }

            if (!terminal)
            {
                text.Append('\n');
            }

            output.Write(text.ToString());
        }

        private static int CompareTypes(string a, string b)
        {
            static int Rank(string t) => t switch { "temperature" => 0, "humidity" => 1, "status" => 3, _ => 2 };
            int rank = Rank(a).CompareTo(Rank(b));
            return rank != 0 ? rank : string.CompareOrdinal(a, b);
        }
    }
}
