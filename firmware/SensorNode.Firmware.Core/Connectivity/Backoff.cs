namespace SensorNode.Firmware.Core.Connectivity
{
    /// <summary>
    /// Capped exponential backoff with jitter: the n-th consecutive failure waits base = min(initial × 2^n, max),
    /// minus a random part of up to a quarter of it, so delays lie in [0.75 × base, base] and never exceed the cap.
    /// The jitter keeps many nodes from reconnecting in lockstep after a broker restart.
    /// </summary>
    public sealed class Backoff
    {
        private readonly long _initialMs;
        private readonly long _maxMs;
        private readonly PseudoRandom _random;

        public Backoff(long initialMs, long maxMs, PseudoRandom random)
        {
            _initialMs = initialMs < 1 ? 1 : initialMs;
            _maxMs = maxMs < _initialMs ? _initialMs : maxMs;
            _random = random;
        }

        /// <summary>Consecutive failures since the last <see cref="Reset"/>.</summary>
        public int Attempts { get; private set; }

        public long NextDelayMs()
        {
            long delay = _initialMs;
            for (int i = 0; i < Attempts && delay < _maxMs; i++)
            {
                delay *= 2;
            }

            if (delay > _maxMs)
            {
                delay = _maxMs;
            }

            Attempts++;
            return delay - _random.Next((delay / 4) + 1);
        }

        public void Reset()
        {
            Attempts = 0;
        }
    }
}
