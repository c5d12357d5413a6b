using Microsoft.Data.Sqlite;
using MQTTnet.Protocol;
using SensorNode.Broker.Hosting;
using SensorNode.Broker.Persistence;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Tests.Infrastructure;
using SensorNode.Broker.Tests.Security;

namespace SensorNode.Broker.Tests.Persistence;

/// <summary>
/// Commits the database refuses. Another connection holding the write lock stands in for a full disk or a failing
/// one: the broker's commits fail (SQLITE_BUSY) until it lets go.
/// </summary>
public sealed class StoreFailureTests
{
    private static SqliteConnection HoldWriteLock(string directory)
    {
        var blocker = new SqliteConnection($"Data Source={Path.Combine(directory, SqliteBrokerStore.FileName)};Pooling=False");
        blocker.Open();
        using SqliteCommand begin = blocker.CreateCommand();
        begin.CommandText = "BEGIN IMMEDIATE;";
        begin.ExecuteNonQuery();
        return blocker;
    }

    /// <summary>Nothing waiting on a failed commit is let through; once it succeeds, all of it is, and the log says so.</summary>
    [Fact]
    public async Task A_refused_commit_holds_what_waits_on_it_until_it_succeeds_and_says_so()
    {
        string directory = TestBroker.NewDataDirectory();
        using var logs = new CapturingLoggerProvider();
        using SqliteBrokerStore store = SqliteBrokerStore.Open(directory, StoreDurability.Full, logs.CreateLogger("store"));
        var durable = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (SqliteConnection blocker = HoldWriteLock(directory))
        {
            store.Submit([StoreOperation.PutSession("node-1")], durable.SetResult);
            await Eventually.AssertAsync(() => logs.Lines.Any(l => l.Contains("failed (attempt 1)", StringComparison.Ordinal)), "the commit fails while the lock is held");
            Assert.False(durable.Task.IsCompleted);
            Assert.True(store.IsFailing);
            Assert.Contains(logs.Lines, l => l.Contains(store.Path, StringComparison.Ordinal) && l.Contains("acknowledgements are held back", StringComparison.Ordinal));
        }

        await durable.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains(logs.Lines, l => l.Contains("succeed again", StringComparison.Ordinal));
        Assert.False(store.IsFailing);
        Assert.Equal("node-1", Assert.Single(store.Load().Sessions).ClientId);
    }

    /// <summary>
    /// A persistent session with stored QoS 2 messages reconnecting while the store refuses commits: its CONNACK waited
    /// with the PUBLISHes behind it (their new packet identifiers must be durable first), so the client timed out and
    /// reconnected in a loop while the log showed it connected. The CONNACK goes out at once; the messages follow once
    /// the store takes writes again.
    /// </summary>
    [Fact]
    public async Task A_reconnecting_client_gets_its_CONNACK_while_the_store_refuses_commits()
    {
        string directory = TestBroker.NewDataDirectory();
        await using BrokerServer broker = await TestBroker.StartAsync(o => o.DataDirectory = directory);
        await using (RawMqttClient subscriber = await RawMqttClient.ConnectMqttAsync(broker.Port, "q2-node", cleanSession: false))
        {
            await subscriber.SendAsync(new SubscribePacket { PacketId = 1, Subscriptions = [new TopicSubscription("q2/#", 2)] });
            Assert.IsType<SubAckPacket>(await subscriber.ReceiveAsync());
            await subscriber.SendAsync(EmptyPacket.Disconnect);
            await subscriber.AssertClosedAsync();
        }

        await using (MqttNetClient publisher = await MqttNetClient.ConnectAsync(broker.Port))
        {
            for (int i = 0; i < 3; i++)
            {
                await publisher.PublishAsync("q2/cmd", "m" + i, MqttQualityOfServiceLevel.ExactlyOnce);
            }
        }

        RawMqttClient back;
        using (SqliteConnection blocker = HoldWriteLock(directory))
        {
            back = await RawMqttClient.ConnectMqttAsync(broker.Port, "q2-node", cleanSession: false);
        }

        await using RawMqttClient _ = back;
        for (int i = 0; i < 3; i++)
        {
            var publish = Assert.IsType<PublishPacket>(await back.ReceiveAsync(TimeSpan.FromSeconds(30)));
            Assert.Equal("m" + i, System.Text.Encoding.UTF8.GetString(publish.Payload.Span));
        }
    }

    /// <summary>A stop while the disk refuses every commit used to hang until someone freed the disk.</summary>
    [Fact]
    public async Task A_stop_gives_up_a_refused_commit_and_lets_nothing_that_waited_on_it_through()
    {
        string directory = TestBroker.NewDataDirectory();
        using var logs = new CapturingLoggerProvider();
        SqliteBrokerStore store = SqliteBrokerStore.Open(directory, StoreDurability.Full, logs.CreateLogger("store"));
        store.StopRetryLimit = TimeSpan.FromMilliseconds(300);
        using SqliteConnection blocker = HoldWriteLock(directory);
        bool acknowledged = false;
        store.Submit([StoreOperation.PutSession("node-1")], () => acknowledged = true);
        Task flushed = store.FlushAsync();

        await Task.Run(store.Dispose).WaitAsync(TimeSpan.FromSeconds(30));

        // A flush waiting at the stop ends as a write failure: nothing behind it may take the store's word.
        await Assert.ThrowsAsync<IOException>(() => flushed.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.False(acknowledged);
        Assert.Contains(logs.Lines, l => l.Contains("Stopping without writing", StringComparison.Ordinal));
    }

    /// <summary>
    /// The executable's exit code tells a supervisor that a stop was not clean: a PUBLISH taken but never written
    /// (the disk refused it until the broker gave up) ends the process with 3, the store's code, not 0.
    /// </summary>
    [Fact]
    public async Task The_executable_exits_with_the_store_code_when_a_stop_had_to_give_up_a_write()
    {
        string directory = TestBroker.NewDataDirectory();
        await using Hosting.BrokerProcess broker = Hosting.BrokerProcess.Start("--port", "0", "--data-dir", directory);
        int port = await broker.WaitForPortAsync(TimeSpan.FromSeconds(30));
        await using RawMqttClient publisher = await RawMqttClient.ConnectMqttAsync(port, "refused-writer");
        using (SqliteConnection blocker = HoldWriteLock(directory))
        {
            await publisher.SendAsync(new PublishPacket { Topic = "sensor/temperature/cellar", Payload = "9.5"u8.ToArray(), Qos = 1, PacketId = 1, Retain = true });
            await broker.WaitForLineAsync(l => l.Contains("acknowledgements are held back", StringComparison.Ordinal), TimeSpan.FromSeconds(30));

            broker.Terminate();
            Assert.Equal(3, await broker.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        }

        Assert.Contains(broker.Output, l => l.Contains("stopped without writing everything", StringComparison.Ordinal));
    }
}
