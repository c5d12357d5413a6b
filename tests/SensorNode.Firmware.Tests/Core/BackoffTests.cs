using SensorNode.Firmware.Core.Connectivity;

namespace SensorNode.Firmware.Tests.Core;

public sealed class BackoffTests
{
    [Fact]
    public void Delays_double_up_to_the_cap_with_at_most_a_quarter_of_jitter()
    {
        var backoff = new Backoff(1_000, 60_000, new PseudoRandom(42));
        long[] bases = [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000];
        foreach (long expected in bases)
        {
            long delay = backoff.NextDelayMs();
            Assert.InRange(delay, expected * 3 / 4, expected);
        }
    }

    [Fact]
    public void Reset_starts_again_from_the_initial_delay()
    {
        var backoff = new Backoff(1_000, 60_000, new PseudoRandom(1));
        for (int i = 0; i < 10; i++)
        {
            backoff.NextDelayMs();
        }

        backoff.Reset();
        Assert.InRange(backoff.NextDelayMs(), 750, 1_000);
        Assert.Equal(1, backoff.Attempts);
    }

    [Fact]
    public void Jitter_differs_between_nodes_and_is_repeatable_per_seed()
    {
        long[] Run(uint seed)
        {
            var b = new Backoff(8_000, 60_000, new PseudoRandom(seed));
            return [b.NextDelayMs(), b.NextDelayMs(), b.NextDelayMs()];
        }

        Assert.Equal(Run(PseudoRandom.SeedFrom("kitchen", 0)), Run(PseudoRandom.SeedFrom("kitchen", 0)));
        Assert.NotEqual(Run(PseudoRandom.SeedFrom("kitchen", 0)), Run(PseudoRandom.SeedFrom("bedroom", 0)));
    }

    [Fact]
    public void Many_failures_never_overflow_past_the_cap()
    {
        var backoff = new Backoff(1_000, 3_600_000, new PseudoRandom(7));
        for (int i = 0; i < 1_000; i++)
        {
            Assert.InRange(backoff.NextDelayMs(), 1, 3_600_000);
        }
    }
}
