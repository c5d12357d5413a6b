namespace SensorNode.Firmware.Core.Connectivity
{
    /// <summary>A seeded xorshift32 generator: deterministic in tests, different per node when seeded from the node id.</summary>
    public sealed class PseudoRandom
    {
        private uint _state;

        public PseudoRandom(uint seed)
        {
            _state = seed == 0 ? 0x9E3779B9u : seed;
        }

        /// <summary>A seed from a string (FNV-1a), e.g. the node id plus the boot time.</summary>
        public static uint SeedFrom(string text, long salt)
        {
            uint hash = 2166136261u;
            for (int i = 0; i < text.Length; i++)
            {
                hash = unchecked((hash ^ text[i]) * 16777619u);
            }

            return unchecked(hash ^ (uint)salt);
        }

        /// <summary>A value in [0, maxExclusive).</summary>
        public long Next(long maxExclusive)
        {
            if (maxExclusive <= 1)
            {
                return 0;
            }

            _state ^= _state << 13;
            _state ^= _state >> 17;
            _state ^= _state << 5;
            return (long)(_state % (ulong)maxExclusive);
        }
    }
}
