using System.Reflection;

namespace SensorNode.Firmware.Tests;

/// <summary>Locations passed in by the test project file (AssemblyMetadata attributes).</summary>
public static class Paths
{
    public static string NanoCoreAssembly => Metadata("NanoCoreAssembly");

    public static string NanoDeviceAssembly => Metadata("NanoDeviceAssembly");

    public static string NanoTestsAssembly => Metadata("NanoTestsAssembly");

    public static string ApiFacadesAssembly => Metadata("ApiFacadesAssembly");

    /// <summary>The nanoFramework API reference the adapters and facades follow (outside the repository).</summary>
    public static string ApiReference => Path.GetFullPath(Path.Combine(FirmwareDirectory, "..", "..", "shared", "nanoframework-api.md"));

    public static string FirmwareDirectory => Metadata("FirmwareDirectory");

    private static string Metadata(string key) =>
        Path.GetFullPath(typeof(Paths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!);
}
