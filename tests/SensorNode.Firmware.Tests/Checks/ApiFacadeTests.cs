using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace SensorNode.Firmware.Tests.Checks;

/// <summary>
/// Keeps the compile-time facades in step with the nanoFramework API reference: every public type and member
/// the facades declare must be named in /work/shared/nanoframework-api.md, except the few assumptions listed
/// (and explained) in firmware/README.md. Skipped visibly where the reference file is not present.
/// </summary>
public sealed class ApiFacadeTests
{
    /// <summary>Declared in the facades but not written in the reference (see README "not confirm").</summary>
    private static readonly string[] Unconfirmed =
    [
        "FileMode.Open", "FileMode.CreateNew", "FileMode.OpenOrCreate", "FileMode.Truncate", "FileMode.Append",
        "Stream", "Stream.Length", "Stream.Read", "FileStream.Length", "FileStream.Read", "Stream.Dispose",
    ];

    [SkippableFact]
    public void Every_facade_member_is_named_in_the_reference()
    {
        Skip.IfNot(File.Exists(Paths.ApiReference), $"reference file not present: {Paths.ApiReference}");
        string reference = File.ReadAllText(Paths.ApiReference);

        var missing = new List<string>();
        foreach ((string type, string member) in PublicNames(Paths.ApiFacadesAssembly))
        {
            string qualified = member.Length == 0 ? type : $"{type}.{member}";
            if (Array.IndexOf(Unconfirmed, qualified) >= 0)
            {
                continue;
            }

            string name = member.Length == 0 ? type : member;
            if (member.Length == 0 && name.EndsWith("Attribute", StringComparison.Ordinal))
            {
                name = "[" + name[..^"Attribute".Length]; // written as [TestClass] in the reference
            }

            if (!reference.Contains(name, StringComparison.Ordinal))
            {
                missing.Add(qualified);
            }
        }

        Assert.True(missing.Count == 0, "facade members not in the reference:\n" + string.Join("\n", missing));
    }

    [Fact]
    public void Facade_assembly_is_never_referenced_by_the_device_project()
    {
        string nfproj = File.ReadAllText(Path.Combine(Paths.FirmwareDirectory, "SensorNode.Firmware.Device", "SensorNode.Firmware.Device.nfproj"));
        Assert.DoesNotContain("ApiFacades", nfproj, StringComparison.Ordinal);
    }

    private static IEnumerable<(string Type, string Member)> PublicNames(string assemblyPath)
    {
        using var stream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(stream);
        MetadataReader md = pe.GetMetadataReader();
        var names = new List<(string, string)>();
        foreach (TypeDefinitionHandle handle in md.TypeDefinitions)
        {
            TypeDefinition type = md.GetTypeDefinition(handle);
            TypeAttributes visibility = type.Attributes & TypeAttributes.VisibilityMask;
            if (visibility is not (TypeAttributes.Public or TypeAttributes.NestedPublic))
            {
                continue;
            }

            string typeName = md.GetString(type.Name);
            names.Add((typeName, string.Empty));
            foreach (MethodDefinitionHandle m in type.GetMethods())
            {
                MethodDefinition method = md.GetMethodDefinition(m);
                string name = md.GetString(method.Name);
                bool isPublic = (method.Attributes & MethodAttributes.MemberAccessMask) == MethodAttributes.Public;
                bool accessor = (method.Attributes & MethodAttributes.SpecialName) != 0;
                bool delegatePlumbing = name is "Invoke" or "BeginInvoke" or "EndInvoke";
                if (isPublic && !accessor && !delegatePlumbing)
                {
                    names.Add((typeName, name));
                }
            }

            foreach (PropertyDefinitionHandle p in type.GetProperties())
            {
                names.Add((typeName, md.GetString(md.GetPropertyDefinition(p).Name)));
            }

            foreach (EventDefinitionHandle e in type.GetEvents())
            {
                names.Add((typeName, md.GetString(md.GetEventDefinition(e).Name)));
            }

            foreach (FieldDefinitionHandle f in type.GetFields())
            {
                FieldDefinition field = md.GetFieldDefinition(f);
                if ((field.Attributes & FieldAttributes.FieldAccessMask) == FieldAttributes.Public && md.GetString(field.Name) != "value__")
                {
                    names.Add((typeName, md.GetString(field.Name)));
                }
            }
        }

        return names;
    }
}
