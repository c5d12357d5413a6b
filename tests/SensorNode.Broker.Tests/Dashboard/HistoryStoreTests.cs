using SensorNode.Broker.Dashboard;
using SensorNode.Broker.Tests.Infrastructure;

namespace SensorNode.Broker.Tests.Dashboard;

/// <summary>The history of readings: raw rows, 5-minute averages, retention, restart, with a clock the test moves.</summary>
public sealed class HistoryStoreTests
{
    private static readonly DateTimeOffset Start = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static (HistoryStore Store, ManualClock Clock) Open(string? directory = null, DashboardOptions? options = null)
    {
        var clock = new ManualClock(Start);
        return (HistoryStore.Open(directory, options ?? new DashboardOptions(), clock), clock);
    }

    [Fact]
    public void Raw_readings_come_back_in_range_and_in_order()
    {
        (HistoryStore store, ManualClock clock) = Open();
        using (store)
        {
            for (int i = 0; i < 10; i++)
            {
                store.Add("kitchen", "temperature", Start.AddMinutes(i), 20 + i);
                store.Add("office", "temperature", Start.AddMinutes(i), 10);
            }

            store.Flush();
            clock.Advance(TimeSpan.FromMinutes(10));
            List<HistoryPoint> points = store.Query("kitchen", "temperature", Start.AddMinutes(2), Start.AddMinutes(5), HistoryResolution.Raw);
            Assert.Equal([22.0, 23, 24, 25], points.Select(p => p.Value));
            Assert.Equal(Start.AddMinutes(2), points[0].At);
            Assert.Empty(store.Query("kitchen", "humidity", Start, Start.AddHours(1), HistoryResolution.Raw));
            Assert.Equal(HistoryResolution.Raw, store.ChooseResolution(Start, Start.AddHours(1)));
            Assert.Equal(HistoryResolution.Average, store.ChooseResolution(Start, Start.AddHours(24)));
        }
    }

    [Fact]
    public void Averages_cover_five_minutes_each_and_are_kept_longer_than_raw_readings()
    {
        (HistoryStore store, ManualClock clock) = Open();
        using (store)
        {
            // Readings every minute for 15 minutes: three 5-minute buckets.
            for (int i = 0; i < 15; i++)
            {
                store.Add("kitchen", "temperature", Start.AddMinutes(i), i);
            }

            store.Flush();
            List<HistoryPoint> averages = store.Query("kitchen", "temperature", Start, Start.AddMinutes(15), HistoryResolution.Average);
            Assert.Equal([Start, Start.AddMinutes(5), Start.AddMinutes(10)], averages.Select(p => p.At));
            Assert.Equal([2.0, 7, 12], averages.Select(p => p.Value));
            Assert.All(averages, p => Assert.Equal(5, p.Count));

            // A later flush adds to the bucket it falls in.
            store.Add("kitchen", "temperature", Start.AddMinutes(14).AddSeconds(30), 18);
            store.Flush();
            Assert.Equal((10 + 11 + 12 + 13 + 14 + 18) / 6.0, store.Query("kitchen", "temperature", Start.AddMinutes(10), Start.AddMinutes(15), HistoryResolution.Average).Single().Value, 9);

            // After 48 h the raw readings go; the averages stay for 30 days.
            clock.Advance(TimeSpan.FromHours(49));
            Assert.True(store.Prune() >= 16);
            Assert.Empty(store.Query("kitchen", "temperature", Start, Start.AddHours(1), HistoryResolution.Raw));
            Assert.Equal(3, store.Query("kitchen", "temperature", Start, Start.AddHours(1), HistoryResolution.Average).Count);

            clock.Advance(TimeSpan.FromDays(30));
            store.Prune();
            Assert.Empty(store.Query("kitchen", "temperature", Start, Start.AddHours(1), HistoryResolution.Average));
        }
    }

    [Fact]
    public void Retention_and_interval_are_configurable()
    {
        var options = new DashboardOptions { RawRetention = TimeSpan.FromHours(1), AverageRetention = TimeSpan.FromDays(2), AverageInterval = TimeSpan.FromMinutes(15) };
        (HistoryStore store, ManualClock clock) = Open(options: options);
        using (store)
        {
            for (int i = 0; i < 30; i++)
            {
                store.Add("hall", "humidity", Start.AddMinutes(i), i < 15 ? 40 : 60);
            }

            store.Flush();
            Assert.Equal([40.0, 60], store.Query("hall", "humidity", Start, Start.AddHours(1), HistoryResolution.Average).Select(p => p.Value));
            clock.Advance(TimeSpan.FromMinutes(75));
            store.Prune();
            Assert.Equal(15, store.Query("hall", "humidity", Start, Start.AddHours(2), HistoryResolution.Raw).Count);
            clock.Advance(TimeSpan.FromDays(2));
            store.Prune();
            Assert.Empty(store.Query("hall", "humidity", Start, Start.AddHours(2), HistoryResolution.Average));
        }
    }

    /// <summary>
    /// A sensor publishing a hundred times a second costs one raw row per <see cref="DashboardOptions.RawInterval"/>
    /// and one sum per average, while every reading still counts in the average. Before, each reading was a row and
    /// a flood outran the flushes: the broker grew by gigabytes.
    /// </summary>
    [Fact]
    public void A_sensor_publishing_many_times_a_second_keeps_one_raw_row_per_interval_and_every_reading_in_its_average()
    {
        (HistoryStore store, _) = Open(options: new DashboardOptions { RawInterval = TimeSpan.FromSeconds(10) });
        using (store)
        {
            for (int i = 0; i < 3000; i++)
            {
                store.Add("lab", "temperature", Start.AddMilliseconds(i * 10), i % 2 == 0 ? 20 : 22);
            }

            Assert.True(store.PendingCount <= 4, $"{store.PendingCount} rows and sums waiting for 3000 readings over 30 s");
            store.Flush();

            Assert.Equal([Start, Start.AddSeconds(10), Start.AddSeconds(20)], store.Query("lab", "temperature", Start, Start.AddMinutes(1), HistoryResolution.Raw).Select(p => p.At));
            HistoryPoint average = Assert.Single(store.Query("lab", "temperature", Start, Start.AddMinutes(5), HistoryResolution.Average));
            Assert.Equal((3000, 21.0), (average.Count, average.Value));

            // A clock set back does not silence the sensor until it has caught up.
            store.Add("lab", "temperature", Start.AddHours(-1), 19);
            store.Flush();
            Assert.Single(store.Query("lab", "temperature", Start.AddHours(-2), Start.AddMinutes(-30), HistoryResolution.Raw));
        }
    }

    [Fact]
    public void What_waits_for_a_flush_is_bounded()
    {
        (HistoryStore store, _) = Open();
        using (store)
        {
            for (int i = 0; i < 120_000; i++)
            {
                store.Add($"room{i % 1000}", $"t{i / 1000}", Start, 1);
                store.AddStatus($"room{i % 1000}", i % 2 == 0, Start.AddMilliseconds(i));
            }

            // 120,000 first readings of as many series: 100,000 raw rows wait, 20,000 are dropped; of 120,000 status
            // changes 10,000 wait. The averages (one sum per series) are not dropped.
            Assert.Equal(20_000 + 110_000, store.Dropped);
            Assert.Equal(100_000 + 10_000 + 120_000, store.PendingCount);
        }
    }

    [Fact]
    public void History_and_status_survive_reopening_the_file()
    {
        string directory = TestBroker.NewDataDirectory();
        (HistoryStore store, _) = Open(directory);
        using (store)
        {
            store.Add("kitchen", "temperature", Start, 21.4);
            store.Add("kitchen", "temperature", Start.AddMinutes(1), 21.6);
            store.AddStatus("kitchen", true, Start);
            store.AddStatus("kitchen", false, Start.AddMinutes(2));
            store.AddStatus("kitchen", false, Start.AddMinutes(3));
        }

        (HistoryStore reopened, _) = Open(directory);
        using (reopened)
        {
            Assert.True(File.Exists(Path.Combine(directory, HistoryStore.FileName)));
            Assert.Equal(new LatestReading("kitchen", "temperature", Start.AddMinutes(1), 21.6), Assert.Single(reopened.Latest()));
            Assert.Equal(new LatestStatus("kitchen", false, Start.AddMinutes(2)), Assert.Single(reopened.LatestStatuses()));
            Assert.Equal(2, reopened.Query("kitchen", "temperature", Start, Start.AddHours(1), HistoryResolution.Raw).Count);
        }
    }
}

/// <summary>The rooms' live state.</summary>
public sealed class RoomStatesTests
{
    [Fact]
    public void Status_since_changes_only_when_the_status_does_and_the_number_of_rooms_is_bounded()
    {
        var rooms = new RoomStates();
        var t0 = new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
        Assert.True(rooms.SetStatus("kitchen", true, t0));
        Assert.False(rooms.SetStatus("kitchen", true, t0.AddMinutes(1)));
        Assert.True(rooms.SetStatus("kitchen", false, t0.AddMinutes(2)));
        RoomState kitchen = Assert.Single(rooms.Snapshot(Broker.Security.AccessRules.AllowAll));
        Assert.Equal(t0.AddMinutes(2), kitchen.StatusSince);

        for (int i = 1; i < RoomStates.MaxRooms; i++)
        {
            Assert.True(rooms.Admits("room" + i, "temperature"));
            rooms.SetReading("room" + i, "temperature", i, t0);
        }

        Assert.False(rooms.Admits("one-too-many", "temperature"));
        Assert.True(rooms.Admits("room1", "humidity"));
    }
}
