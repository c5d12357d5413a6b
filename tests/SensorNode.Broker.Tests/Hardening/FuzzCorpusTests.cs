using System.Diagnostics;
using SensorNode.Fuzz;

namespace SensorNode.Broker.Tests.Hardening;

/// <summary>
/// The SharpFuzz targets of tests/SensorNode.Fuzz as ordinary unit tests: every input of the committed corpus
/// (seeds, and any crash input saved there as a regression), then seeded random mutations of the corpus for a
/// bounded time. A target may only throw the exception its parser documents for bad input.
/// </summary>
public sealed class FuzzCorpusTests
{
    public static IEnumerable<object[]> Targets() => FuzzTargets.All.Keys.Select(k => new object[] { k });

    internal static string CorpusDirectory(string target)
    {
        string? dir = AppContext.BaseDirectory;
        for (int i = 0; i < 10 && dir is not null; i++, dir = Path.GetDirectoryName(dir))
        {
            string candidate = Path.Combine(dir, "tests", "SensorNode.Fuzz", "corpus", target);
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException($"corpus of {target} not found above {AppContext.BaseDirectory}");
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void Every_corpus_input_is_handled(string target)
    {
        string[] files = Directory.GetFiles(CorpusDirectory(target));
        Assert.NotEmpty(files);
        foreach (string file in files)
        {
            RunBounded(target, File.ReadAllBytes(file), Path.GetFileName(file));
        }
    }

    [Theory]
    [MemberData(nameof(Targets))]
    public void Seeded_mutations_of_the_corpus_are_handled(string target)
    {
        byte[][] corpus = [.. Directory.GetFiles(CorpusDirectory(target)).Order(StringComparer.Ordinal).Select(File.ReadAllBytes)];
        var random = new Random(20261126);
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < 20_000 && clock.Elapsed < TimeSpan.FromSeconds(3); i++)
        {
            byte[] input = Mutate(corpus[random.Next(corpus.Length)], corpus[random.Next(corpus.Length)], random);
            try
            {
                FuzzTargets.All[target](input);
            }
            catch (Exception ex)
            {
                Assert.Fail($"{target} threw {ex.GetType().Name} on {Convert.ToHexString(input)}: {ex}");
            }
        }
    }

    private static void RunBounded(string target, byte[] input, string name)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            FuzzTargets.All[target](input);
        }
        catch (Exception ex)
        {
            Assert.Fail($"{target} threw {ex.GetType().Name} on {name}: {ex}");
        }

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"{target} took {clock.Elapsed} on {name}");
    }

    /// <summary>AFL-style havoc: bit flips, interesting bytes, insertions, deletions, splices.</summary>
    internal static byte[] Mutate(byte[] a, byte[] b, Random random)
    {
        var data = new List<byte>(a);
        int steps = 1 + random.Next(6);
        for (int s = 0; s < steps; s++)
        {
            int at = data.Count == 0 ? 0 : random.Next(data.Count);
            switch (random.Next(7))
            {
                case 0 when data.Count > 0:
                    data[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1 when data.Count > 0:
                    data[at] = new byte[] { 0, 0x7F, 0x80, 0xFF, 0x01, 0x2F, 0x23, 0x2B, 0x0A }[random.Next(9)];
                    break;
                case 2:
                    data.Insert(at, (byte)random.Next(256));
                    break;
                case 3 when data.Count > 0:
                    data.RemoveRange(at, Math.Min(data.Count - at, 1 + random.Next(8)));
                    break;
                case 4 when b.Length > 0:
                    int from = random.Next(b.Length);
                    data.InsertRange(at, b.Skip(from).Take(1 + random.Next(16)));
                    break;
                case 5 when data.Count > 0:
                    data[at] = (byte)random.Next(256);
                    break;
                default:
                    if (data.Count > 1)
                    {
                        data.RemoveRange(at, data.Count - at);
                    }

                    break;
            }
        }

        return [.. data];
    }
}
