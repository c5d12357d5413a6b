using System.Xml.Linq;

namespace SensorNode.Firmware.Tests.Checks;

/// <summary>
/// .nfproj projects list their sources explicitly (no globbing) and cannot be built here, so these checks keep
/// them honest: every core source is in the core .nfproj, every referenced file exists, and the fallback targets
/// are imported only where the nanoFramework project system is absent.
/// </summary>
public sealed class NanoProjectTests
{
    private static string Firmware => Paths.FirmwareDirectory;

    public static TheoryData<string> NanoProjects => new()
    {
        "SensorNode.Firmware.Core.Nf/SensorNode.Firmware.Core.Nf.nfproj",
        "SensorNode.Firmware.Device/SensorNode.Firmware.Device.nfproj",
        "SensorNode.Firmware.NanoTests/SensorNode.Firmware.NanoTests.nfproj",
    };

    [Fact]
    public void Core_nfproj_compiles_every_core_source_file()
    {
        string coreDir = Path.Combine(Firmware, "SensorNode.Firmware.Core");
        string[] sources = Directory.GetFiles(coreDir, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(coreDir, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)
            .ToArray();

        string[] listed = CompileItems("SensorNode.Firmware.Core.Nf/SensorNode.Firmware.Core.Nf.nfproj")
            .Where(i => i.StartsWith("../SensorNode.Firmware.Core/", StringComparison.Ordinal))
            .Select(i => i["../SensorNode.Firmware.Core/".Length..])
            .Order(StringComparer.Ordinal)
            .ToArray();

        Assert.Equal(sources, listed);
    }

    [Fact]
    public void Device_nfproj_compiles_exactly_what_the_adapter_compile_check_compiles()
    {
        string deviceDir = Path.Combine(Firmware, "SensorNode.Firmware.Device");
        string[] sources = Directory.GetFiles(deviceDir, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(deviceDir, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)
            .ToArray();

        Assert.Equal(sources, CompileItems("SensorNode.Firmware.Device/SensorNode.Firmware.Device.nfproj").Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public void NanoTests_nfproj_compiles_every_test_source_file()
    {
        string dir = Path.Combine(Firmware, "SensorNode.Firmware.NanoTests");
        string[] sources = Directory.GetFiles(dir, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(dir, f).Replace('\\', '/'))
            .Order(StringComparer.Ordinal)
            .ToArray();

        Assert.Equal(sources, CompileItems("SensorNode.Firmware.NanoTests/SensorNode.Firmware.NanoTests.nfproj").Order(StringComparer.Ordinal).ToArray());
    }

    [Theory]
    [MemberData(nameof(NanoProjects))]
    public void Nfproj_follows_the_conventions_and_skips_visibly_without_the_project_system(string project)
    {
        string path = Path.Combine(Firmware, project);
        XDocument doc = XDocument.Load(path);
        XNamespace ns = doc.Root!.Name.Namespace;

        Assert.Contains("{11A8DD76-328B-46DF-9F39-F559912D0360}", doc.Descendants(ns + "ProjectTypeGuids").Single().Value, StringComparison.Ordinal);
        Assert.Equal("v1.0", doc.Descendants(ns + "TargetFrameworkVersion").Single().Value);

        XElement[] imports = doc.Root.Elements(ns + "Import").ToArray();
        XElement real = imports.Single(i => ((string)i.Attribute("Project")!).EndsWith("NFProjectSystem.CSharp.targets", StringComparison.Ordinal));
        XElement fallback = imports.Single(i => ((string)i.Attribute("Project")!).EndsWith("NanoFrameworkFallback.targets", StringComparison.Ordinal));
        Assert.StartsWith("Exists(", (string)real.Attribute("Condition")!, StringComparison.Ordinal);
        Assert.StartsWith("!Exists(", (string)fallback.Attribute("Condition")!, StringComparison.Ordinal);
        Assert.True(Array.IndexOf(imports, fallback) > Array.IndexOf(imports, real));

        foreach (string item in CompileItems(project))
        {
            Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(path)!, item)), $"{project}: {item} does not exist");
        }

        Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(path)!, "packages.config")), $"{project}: packages.config missing");
    }

    [Theory]
    [MemberData(nameof(NanoProjects))]
    public void Packages_config_and_hint_paths_agree(string project)
    {
        string dir = Path.GetDirectoryName(Path.Combine(Firmware, project))!;
        XDocument packages = XDocument.Load(Path.Combine(dir, "packages.config"));
        var declared = packages.Descendants("package").Select(p => $"{p.Attribute("id")!.Value}.{p.Attribute("version")!.Value}").ToHashSet();
        Assert.All(packages.Descendants("package"), p => Assert.Equal("netnano1.0", p.Attribute("targetFramework")!.Value));

        XDocument doc = XDocument.Load(Path.Combine(Firmware, project));
        XNamespace ns = doc.Root!.Name.Namespace;
        foreach (XElement hint in doc.Descendants(ns + "HintPath"))
        {
            string[] parts = hint.Value.Split('\\');
            Assert.Equal("packages", parts[2]);
            Assert.Contains(parts[3], declared);
        }

        // Only one version of each package (one generation), and CoreLibrary is 1.17.11.
        Assert.Contains("nanoFramework.CoreLibrary.1.17.11", declared);
    }

    private static IEnumerable<string> CompileItems(string project)
    {
        XDocument doc = XDocument.Load(Path.Combine(Firmware, project));
        XNamespace ns = doc.Root!.Name.Namespace;
        return doc.Descendants(ns + "Compile").Select(c => c.Attribute("Include")!.Value.Replace('\\', '/')).ToArray();
    }
}
