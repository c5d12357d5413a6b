namespace SensorNode.Firmware.Core.Readings
{
    /// <summary>
    /// When to publish a value: the first time, when it differs from the last published value by more than the
    /// dead-band, or when the heartbeat interval has passed since the last publish (so silent sensors are not
    /// mistaken for dead ones).
    /// </summary>
    public sealed class ReportPolicy
    {
        private readonly double _deadband;
        private readonly long _heartbeatMs;
        private bool _published;
        private double _lastValue;
        private long _lastAtMs;

        public ReportPolicy(double deadband, long heartbeatMs)
        {
            _deadband = deadband;
            _heartbeatMs = heartbeatMs;
        }

        public bool ShouldPublish(double value, long nowMs)
        {
            if (!_published)
            {
                return true;
            }

            if (PlausibilityCheck.Abs(value - _lastValue) > _deadband)
            {
                return true;
            }

            return nowMs - _lastAtMs >= _heartbeatMs;
        }

        public void MarkPublished(double value, long nowMs)
        {
            _published = true;
            _lastValue = value;
            _lastAtMs = nowMs;
        }
    }
}
