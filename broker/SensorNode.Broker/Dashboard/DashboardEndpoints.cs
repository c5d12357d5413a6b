using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using SensorNode.Broker.Security;

namespace SensorNode.Broker.Dashboard;

/// <summary>
/// The dashboard's HTTP surface, on the broker's HTTP and WebSocket listeners: the page (<c>/</c>, embedded files),
/// <c>/api/session</c>, <c>/api/login</c>, <c>/api/logout</c>, <c>/api/rooms</c>, <c>/api/history</c> (JSON or CSV),
/// <c>/api/broker</c> and <c>/api/events</c> (server-sent events). Read-only: nothing here publishes.
/// </summary>
public static class DashboardEndpoints
{
    /// <summary>Answers the request when it is the dashboard's; false leaves it to the caller.</summary>
    public static async Task<bool> TryHandleAsync(HttpContext context)
    {
        if (context.RequestServices.GetService<DashboardService>() is not { } dashboard)
        {
            return false;
        }

        string path = context.Request.Path.Value ?? "/";
        bool get = HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method);
        bool post = HttpMethods.IsPost(context.Request.Method);
        HttpResponse response = context.Response;
        response.Headers["X-Content-Type-Options"] = "nosniff";
        response.Headers["Referrer-Policy"] = "no-referrer";

        if (get && DashboardAssets.Find(path) is { } asset)
        {
            response.Headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'";
            response.Headers["X-Frame-Options"] = "DENY";
            response.Headers.CacheControl = "no-cache";
            response.ContentType = asset.ContentType;
            response.ContentLength = asset.Content.Length;
            if (!HttpMethods.IsHead(context.Request.Method))
            {
                await response.Body.WriteAsync(asset.Content, context.RequestAborted);
            }

            return true;
        }

        if (!path.StartsWith("/api/", StringComparison.Ordinal))
        {
            return false;
        }

        response.Headers.CacheControl = "no-store";
        switch (path)
        {
            case "/api/session" when get:
                await SessionAsync(context, dashboard);
                return true;
            case "/api/login" when post:
                await LoginAsync(context, dashboard);
                return true;
            case "/api/logout" when post:
                dashboard.Logins.Logout(context.Request.Cookies[DashboardLogins.CookieName]);
                response.Cookies.Delete(DashboardLogins.CookieName, CookieOptions(context, dashboard));
                await WriteJsonAsync(context, new LoggedOutAnswer(true), DashboardJson.Default.LoggedOutAnswer);
                return true;
        }

        Viewer? viewer = dashboard.Logins.Resolve(context.Request.Cookies[DashboardLogins.CookieName]);
        if (viewer is null)
        {
            response.StatusCode = StatusCodes.Status401Unauthorized;
            await WriteJsonAsync(context, new ErrorAnswer("login required", true), DashboardJson.Default.ErrorAnswer);
            return true;
        }

        switch (path)
        {
            case "/api/rooms" when get:
                await WriteJsonAsync(context, new RoomsAnswer(dashboard.Clock.GetUtcNow(), dashboard.Rooms.Snapshot(viewer.Rules)), DashboardJson.Default.RoomsAnswer);
                return true;
            case "/api/history" when get:
                await HistoryAsync(context, dashboard, viewer);
                return true;
            case "/api/broker" when get:
                if (!viewer.CanSeeBroker)
                {
                    response.StatusCode = StatusCodes.Status403Forbidden;
                    await WriteJsonAsync(context, new ErrorAnswer("your ACL does not allow reading $SYS"), DashboardJson.Default.ErrorAnswer);
                    return true;
                }

                await WriteJsonAsync(context, FilterBridges(dashboard.CurrentPanel(), viewer), DashboardJson.Default.BrokerPanel);
                return true;
            case "/api/events" when HttpMethods.IsGet(context.Request.Method):
                await EventsAsync(context, dashboard, viewer);
                return true;
        }

        response.StatusCode = StatusCodes.Status404NotFound;
        await WriteJsonAsync(context, new ErrorAnswer($"no such API: {context.Request.Method} {path}"), DashboardJson.Default.ErrorAnswer);
        return true;
    }

    private static async Task SessionAsync(HttpContext context, DashboardService dashboard)
    {
        Viewer? viewer = dashboard.Logins.Resolve(context.Request.Cookies[DashboardLogins.CookieName]);
        await WriteJsonAsync(context, new SessionAnswer(dashboard.Logins.LoginRequired, viewer is not null, viewer?.User, viewer?.CanSeeBroker ?? false), DashboardJson.Default.SessionAnswer);
    }

    private static async Task LoginAsync(HttpContext context, DashboardService dashboard)
    {
        if (!context.Request.HasFormContentType)
        {
            context.Response.StatusCode = StatusCodes.Status415UnsupportedMediaType;
            await WriteJsonAsync(context, new ErrorAnswer("send the form (application/x-www-form-urlencoded): user, password"), DashboardJson.Default.ErrorAnswer);
            return;
        }

        IFormCollection form = await context.Request.ReadFormAsync(context.RequestAborted);
        string user = form["user"].ToString();
        string password = form["password"].ToString();
        (LoginVerdict verdict, string? token) = dashboard.Logins.Login(user, password, context.Connection.RemoteIpAddress);
        if (token is null)
        {
            await Task.Delay(dashboard.Logins.FailedLoginDelay, context.RequestAborted);
            context.Response.StatusCode = verdict == LoginVerdict.Throttled ? StatusCodes.Status429TooManyRequests : StatusCodes.Status401Unauthorized;
            await WriteJsonAsync(context, new ErrorAnswer(verdict == LoginVerdict.Throttled ? "too many failed logins: wait a minute" : "wrong user name or password"), DashboardJson.Default.ErrorAnswer);
            return;
        }

        context.Response.Cookies.Append(DashboardLogins.CookieName, token, CookieOptions(context, dashboard));
        await WriteJsonAsync(context, new UserAnswer(user), DashboardJson.Default.UserAnswer);
    }

    private static CookieOptions CookieOptions(HttpContext context, DashboardService dashboard) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        Secure = context.Request.IsHttps,
        Path = "/",
        MaxAge = dashboard.Options.SessionLifetime,
    };

    private static async Task HistoryAsync(HttpContext context, DashboardService dashboard, Viewer viewer)
    {
        IQueryCollection query = context.Request.Query;
        string room = query["room"].ToString();
        string type = query["type"].ToString();
        DateTimeOffset now = dashboard.Clock.GetUtcNow();
        if (room.Length == 0 || type.Length == 0 || room.Contains('/') || type.Contains('/') || room.AsSpan().IndexOfAny("+#") >= 0 || type.AsSpan().IndexOfAny("+#") >= 0)
        {
            await BadRequestAsync(context, "room and type are required (one topic level each, no wildcards)");
            return;
        }

        if (!TryTime(query["to"], now, out DateTimeOffset to) || !TryTime(query["from"], to - TimeSpan.FromHours(24), out DateTimeOffset from) || from > to)
        {
            await BadRequestAsync(context, "from and to are ISO 8601 times or Unix milliseconds, from before to");
            return;
        }

        HistoryResolution resolution = HistoryResolution.Auto;
        if (query["resolution"].ToString() is { Length: > 0 } asked && !Enum.TryParse(asked, ignoreCase: true, out resolution))
        {
            await BadRequestAsync(context, "resolution is auto, raw or average");
            return;
        }

        if (!viewer.CanRead(SensorTopic.Topic(type, room)))
        {
            context.Response.StatusCode = StatusCodes.Status403Forbidden;
            await WriteJsonAsync(context, new ErrorAnswer($"your ACL does not allow reading {SensorTopic.Topic(type, room)}"), DashboardJson.Default.ErrorAnswer);
            return;
        }

        if (resolution == HistoryResolution.Auto)
        {
            resolution = dashboard.History.ChooseResolution(from, to);
        }

        List<HistoryPoint> points = dashboard.History.Query(room, type, from, to, resolution);
        if (query["format"].ToString().Equals("csv", StringComparison.OrdinalIgnoreCase))
        {
            var csv = new StringBuilder("time,room,type,value,count\r\n");
            foreach (HistoryPoint point in points)
            {
                csv.Append(point.At.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)).Append(',')
                    .Append(CsvField(room)).Append(',').Append(CsvField(type)).Append(',')
                    .Append(point.Value.ToString("R", CultureInfo.InvariantCulture)).Append(',')
                    .Append(point.Count.ToString(CultureInfo.InvariantCulture)).Append("\r\n");
            }

            context.Response.ContentType = "text/csv; charset=utf-8";
            context.Response.Headers.ContentDisposition = $"attachment; filename=\"{SafeFileName(room)}-{SafeFileName(type)}.csv\"";
            await context.Response.WriteAsync(csv.ToString());
            return;
        }

        await WriteJsonAsync(
            context,
            new HistoryAnswer(
                room,
                type,
                from,
                to,
                resolution == HistoryResolution.Raw ? "raw" : "average",
                resolution == HistoryResolution.Raw ? 0 : dashboard.Options.AverageInterval.TotalSeconds,
                [.. points.Select(p => new HistoryPointAnswer(p.At, p.Value, p.Count))]),
            DashboardJson.Default.HistoryAnswer);
    }

    private static async Task EventsAsync(HttpContext context, DashboardService dashboard, Viewer viewer)
    {
        HttpResponse response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers["X-Accel-Buffering"] = "no";
        CancellationToken stopping = context.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping, dashboard.Stopping);
        Channel<DashboardEvent> events = dashboard.Watch();
        try
        {
            await response.WriteAsync("retry: 1000\n\n", cts.Token);
            await response.Body.FlushAsync(cts.Token);
            while (!cts.IsCancellationRequested)
            {
                using var heartbeat = CancellationTokenSource.CreateLinkedTokenSource(cts.Token);
                heartbeat.CancelAfter(TimeSpan.FromSeconds(15));
                bool more;
                try
                {
                    more = await events.Reader.WaitToReadAsync(heartbeat.Token);
                }
                catch (OperationCanceledException) when (!cts.IsCancellationRequested)
                {
                    await response.WriteAsync(": ping\n\n", cts.Token);
                    await response.Body.FlushAsync(cts.Token);
                    continue;
                }

                if (!more)
                {
                    break;
                }

                var text = new StringBuilder();
                while (events.Reader.TryRead(out DashboardEvent? item))
                {
                    string? json = item.Topic is null
                        ? (viewer.CanSeeBroker ? JsonSerializer.Serialize(FilterBridges(dashboard.Panel, viewer), DashboardJson.Default.BrokerPanel) : null)
                        : viewer.CanRead(item.Topic) ? item.Json : null;
                    if (json is not null)
                    {
                        text.Append("event: ").Append(item.Name).Append("\ndata: ").Append(json).Append("\n\n");
                    }
                }

                if (text.Length > 0)
                {
                    await response.WriteAsync(text.ToString(), cts.Token);
                    await response.Body.FlushAsync(cts.Token);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException)
        {
            // The browser went away.
        }
        finally
        {
            dashboard.Unwatch(events);
        }
    }

    private static BrokerPanel FilterBridges(BrokerPanel panel, Viewer viewer) =>
        panel with { Bridges = [.. panel.Bridges.Where(b => viewer.CanReadSys(b.Topic))] };

    private static bool TryTime(Microsoft.Extensions.Primitives.StringValues value, DateTimeOffset fallback, out DateTimeOffset time)
    {
        string text = value.ToString();
        if (text.Length == 0)
        {
            time = fallback;
            return true;
        }

        if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long ms))
        {
            time = DateTimeOffset.FromUnixTimeMilliseconds(ms);
            return true;
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out time);
    }

    /// <summary>A text field: quoted when it must be, and never read as a formula by a spreadsheet ("=…" gets a leading ').</summary>
    private static string CsvField(string text)
    {
        if (text.Length > 0 && text[0] is '=' or '+' or '-' or '@')
        {
            text = "'" + text;
        }

        return text.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : text;
    }

    private static string SafeFileName(string text) => new([.. text.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_')]);

    private static async Task BadRequestAsync(HttpContext context, string message)
    {
        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        await WriteJsonAsync(context, new ErrorAnswer(message), DashboardJson.Default.ErrorAnswer);
    }

    private static async Task WriteJsonAsync<T>(HttpContext context, T body, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> json)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await context.Response.WriteAsync(JsonSerializer.Serialize(body, json), context.RequestAborted);
        }
    }
}
