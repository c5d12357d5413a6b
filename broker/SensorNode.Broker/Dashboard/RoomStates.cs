using SensorNode.Broker.Security;

namespace SensorNode.Broker.Dashboard;

/// <summary>The latest value of one reading type in a room; <see cref="At"/> is null when only the retained value is known.</summary>
public sealed record ReadingState(double Value, DateTimeOffset? At);

/// <summary>One room as the dashboard shows it.</summary>
public sealed record RoomState(string Room, bool? Online, DateTimeOffset? StatusSince, IReadOnlyDictionary<string, ReadingState> Readings);

/// <summary>The live state of every room, updated from the observed publishes; thread-safe.</summary>
public sealed class RoomStates
{
    private readonly object _gate = new();
    private readonly SortedDictionary<string, Room> _rooms = new(StringComparer.Ordinal);

    /// <summary>Most rooms shown and recorded: a client publishing endless room names cannot fill the memory or the disk.</summary>
    public const int MaxRooms = 1000;

    /// <summary>Most reading types per room (status included).</summary>
    public const int MaxTypesPerRoom = 32;

    /// <summary>True when the room and type are known, or there is still room for them.</summary>
    public bool Admits(string room, string type)
    {
        lock (_gate)
        {
            if (!_rooms.TryGetValue(room, out Room? state))
            {
                return _rooms.Count < MaxRooms;
            }

            return type == SensorTopic.StatusType || state.Readings.ContainsKey(type) || state.Readings.Count < MaxTypesPerRoom;
        }
    }

    /// <summary>Sets a reading.</summary>
    public void SetReading(string room, string type, double value, DateTimeOffset? at)
    {
        lock (_gate)
        {
            Get(room).Readings[type] = new ReadingState(value, at);
        }
    }

    /// <summary>Sets a room's status; returns true when it changed (the time is then kept as "since").</summary>
    public bool SetStatus(string room, bool online, DateTimeOffset? at)
    {
        lock (_gate)
        {
            Room state = Get(room);
            if (state.Online == online)
            {
                return false;
            }

            state.Online = online;
            state.Since = at;
            return true;
        }
    }

    /// <summary>The rooms, with only the topics <paramref name="rules"/> may read; rooms with none are left out.</summary>
    public List<RoomState> Snapshot(AccessRules rules)
    {
        var result = new List<RoomState>();
        lock (_gate)
        {
            foreach ((string name, Room room) in _rooms)
            {
                var readings = new SortedDictionary<string, ReadingState>(StringComparer.Ordinal);
                foreach ((string type, ReadingState reading) in room.Readings)
                {
                    if (rules.CanRead(SensorTopic.Topic(type, name)))
                    {
                        readings[type] = reading;
                    }
                }

                bool status = room.Online is not null && rules.CanRead(SensorTopic.Topic(SensorTopic.StatusType, name));
                if (readings.Count > 0 || status)
                {
                    result.Add(new RoomState(name, status ? room.Online : null, status ? room.Since : null, readings));
                }
            }
        }

        return result;
    }

    private Room Get(string room)
    {
        if (!_rooms.TryGetValue(room, out Room? state))
        {
            state = new Room();
            _rooms[room] = state;
        }

        return state;
    }

    private sealed class Room
    {
        public Dictionary<string, ReadingState> Readings { get; } = new(StringComparer.Ordinal);

        public bool? Online { get; set; }

        public DateTimeOffset? Since { get; set; }
    }
}
