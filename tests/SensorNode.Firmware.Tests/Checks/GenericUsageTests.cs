using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace SensorNode.Firmware.Tests.Checks;

/// <summary>
/// nanoFramework 1.x has no generics at run time, but `Action&lt;T&gt;` or a generic class of our own still compiles
/// against its mscorlib. This inspects the nanoFramework build of the core (SensorNode.Firmware.Core.NanoCheck)
/// and fails on any generic parameter, generic method instantiation or generic type instantiation.
/// </summary>
public sealed class GenericUsageTests
{
    public static TheoryData<string> NanoAssemblies => new() { "core", "device", "nanotests" };

    [Theory]
    [MemberData(nameof(NanoAssemblies))]
    public void Nano_assembly_uses_no_generics(string which)
    {
        string path = which switch
        {
            "core" => Paths.NanoCoreAssembly,
            "device" => Paths.NanoDeviceAssembly,
            _ => Paths.NanoTestsAssembly,
        };
        Assert.True(File.Exists(path), $"the nanoFramework build is missing: {path}");

        List<string> offenders = FindGenericUsage(path);

        Assert.True(offenders.Count == 0, $"generics found in the nanoFramework build of the {which}:\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void The_check_finds_generics_where_there_are_some()
    {
        // Positive control: this test assembly is full of List<T>, lambdas over generics, etc.
        List<string> offenders = FindGenericUsage(typeof(GenericUsageTests).Assembly.Location);

        Assert.Contains(offenders, o => o.StartsWith("TypeSpec", StringComparison.Ordinal));
        Assert.Contains(offenders, o => o.StartsWith("MethodSpec", StringComparison.Ordinal));
    }

    [Fact]
    public void Nano_core_references_only_nanoFramework_mscorlib()
    {
        using var stream = File.OpenRead(Paths.NanoCoreAssembly);
        using var pe = new PEReader(stream);
        MetadataReader md = pe.GetMetadataReader();
        string[] references = md.AssemblyReferences.Select(h => md.GetString(md.GetAssemblyReference(h).Name)).ToArray();
        Assert.Equal(["mscorlib"], references);
    }

    public static List<string> FindGenericUsage(string assemblyPath)
    {
        using var stream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(stream);
        MetadataReader md = pe.GetMetadataReader();
        var offenders = new List<string>();

        for (int row = 1; row <= md.GetTableRowCount(TableIndex.GenericParam); row++)
        {
            GenericParameter gp = md.GetGenericParameter(MetadataTokens.GenericParameterHandle(row));
            offenders.Add($"GenericParam {md.GetString(gp.Name)} on {Describe(md, gp.Parent)}");
        }

        for (int row = 1; row <= md.GetTableRowCount(TableIndex.MethodSpec); row++)
        {
            MethodSpecification spec = md.GetMethodSpecification(MetadataTokens.MethodSpecificationHandle(row));
            offenders.Add($"MethodSpec instantiation of {Describe(md, spec.Method)}");
        }

        for (int row = 1; row <= md.GetTableRowCount(TableIndex.TypeSpec); row++)
        {
            TypeSpecification spec = md.GetTypeSpecification(MetadataTokens.TypeSpecificationHandle(row));
            BlobReader blob = md.GetBlobReader(spec.Signature);
            if (blob.ReadSignatureTypeCode() == SignatureTypeCode.GenericTypeInstance)
            {
                blob.ReadSignatureTypeCode(); // class or valuetype
                EntityHandle generic = blob.ReadTypeHandle();
                offenders.Add($"TypeSpec generic instantiation of {Describe(md, generic)}");
            }
        }

        return offenders;
    }

    private static string Describe(MetadataReader md, EntityHandle handle) => handle.Kind switch
    {
        HandleKind.TypeDefinition => md.GetString(md.GetTypeDefinition((TypeDefinitionHandle)handle).Name),
        HandleKind.TypeReference => md.GetString(md.GetTypeReference((TypeReferenceHandle)handle).Name),
        HandleKind.MethodDefinition => md.GetString(md.GetMethodDefinition((MethodDefinitionHandle)handle).Name),
        HandleKind.MemberReference => md.GetString(md.GetMemberReference((MemberReferenceHandle)handle).Name),
        _ => handle.Kind.ToString(),
    };
}
