namespace SensorNode.Firmware.Core.Readings
{
    /// <summary>
    /// One measured quantity (temperature or humidity): plausibility check, median filter and report policy.
    /// Holds only the latest filtered value: readings taken while offline are never queued.
    /// </summary>
    public sealed class ReadingChannel
    {
        private readonly PlausibilityCheck _check;
        private readonly MedianFilter _median;
        private readonly ReportPolicy _policy;

        public ReadingChannel(string type, int decimals, double min, double max, double jumpLimit, int medianWindow, double deadband, long heartbeatMs)
        {
            Type = type;
            Decimals = decimals;
            _check = new PlausibilityCheck(min, max, jumpLimit);
            _median = new MedianFilter(medianWindow);
            _policy = new ReportPolicy(deadband, heartbeatMs);
            Value = double.NaN;
        }

        /// <summary>"temperature" or "humidity": the topic's type level.</summary>
        public string Type { get; }

        public int Decimals { get; }

        public bool HasValue { get; private set; }

        /// <summary>The latest filtered value (NaN before the first accepted reading).</summary>
        public double Value { get; private set; }

        public int Rejected { get; private set; }

        /// <summary>Feeds a raw reading; returns how it was judged.</summary>
        public Plausibility Offer(double raw)
        {
            Plausibility verdict = _check.Check(raw);
            if (verdict != Plausibility.Accepted)
            {
                Rejected++;
                return verdict;
            }

            Value = _median.Add(raw);
            HasValue = true;
            return verdict;
        }

        public bool ShouldPublish(long nowMs)
        {
            return HasValue && _policy.ShouldPublish(Value, nowMs);
        }

        public void MarkPublished(long nowMs)
        {
            _policy.MarkPublished(Value, nowMs);
        }
    }
}
