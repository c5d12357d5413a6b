using System.Text.Json;
using System.Text.Json.Serialization;

namespace SensorNode.Broker.Dashboard;

// The dashboard's JSON, one named type per answer, serialized by generated code (no reflection): the broker also
// runs as a Native AOT binary. Property names are camelCase (the web defaults).

internal sealed record ErrorAnswer(
    string Error,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] bool? LoginRequired = null);

internal sealed record LoggedOutAnswer(bool LoggedOut);

internal sealed record UserAnswer(string User);

internal sealed record SessionAnswer(bool LoginRequired, bool Authenticated, string? User, bool Broker);

internal sealed record RoomsAnswer(DateTimeOffset Now, List<RoomState> Rooms);

internal sealed record HistoryAnswer(
    string Room, string Type, DateTimeOffset From, DateTimeOffset To, string Resolution, double IntervalSeconds, List<HistoryPointAnswer> Points);

internal sealed record HistoryPointAnswer(DateTimeOffset At, double Value, int Count);

/// <summary>A live reading, as the event stream sends it.</summary>
internal sealed record ReadingEvent(string Room, string Type, double Value, DateTimeOffset At);

/// <summary>A node going online or offline, as the event stream sends it.</summary>
internal sealed record StatusEvent(string Room, bool Online, DateTimeOffset Since);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(ErrorAnswer))]
[JsonSerializable(typeof(LoggedOutAnswer))]
[JsonSerializable(typeof(UserAnswer))]
[JsonSerializable(typeof(SessionAnswer))]
[JsonSerializable(typeof(RoomsAnswer))]
[JsonSerializable(typeof(HistoryAnswer))]
[JsonSerializable(typeof(BrokerPanel))]
[JsonSerializable(typeof(ReadingEvent))]
[JsonSerializable(typeof(StatusEvent))]
internal sealed partial class DashboardJson : JsonSerializerContext;
