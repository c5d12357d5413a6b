using System.Collections.Frozen;

namespace SensorNode.Broker.Dashboard;

/// <summary>One file of the page, embedded in the broker assembly.</summary>
public sealed record DashboardAsset(string ContentType, byte[] Content);

/// <summary>The page's files (<c>Dashboard/Assets</c>), embedded as resources: nothing is fetched from elsewhere at run time.</summary>
public static class DashboardAssets
{
    private const string ResourcePrefix = "dashboard/";

    private static readonly FrozenDictionary<string, DashboardAsset> Files = Load();

    /// <summary>The file served at <paramref name="path"/> ("/" is index.html); null when there is none.</summary>
    public static DashboardAsset? Find(string path) =>
        Files.TryGetValue(path == "/" ? "/index.html" : path, out DashboardAsset? asset) ? asset : null;

    private static FrozenDictionary<string, DashboardAsset> Load()
    {
        var files = new Dictionary<string, DashboardAsset>(StringComparer.Ordinal);
        System.Reflection.Assembly assembly = typeof(DashboardAssets).Assembly;
        foreach (string name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            using Stream stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            string file = name[ResourcePrefix.Length..];
            string type = Path.GetExtension(file) switch
            {
                ".html" => "text/html; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                ".svg" => "image/svg+xml",
                _ => "application/octet-stream",
            };
            files["/" + file] = new DashboardAsset(type, copy.ToArray());
        }

        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
