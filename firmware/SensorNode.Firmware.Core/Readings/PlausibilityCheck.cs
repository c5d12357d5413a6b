namespace SensorNode.Firmware.Core.Readings
{
    /// <summary>Why a raw value was rejected (numbers, since enum names are not available on the device).</summary>
    public enum Plausibility
    {
        Accepted = 0,
        NotANumber = 1,
        OutOfRange = 2,
        Jump = 3,
    }

    /// <summary>
    /// Rejects impossible raw values: NaN/infinity, outside the model's range, or a jump from the last accepted
    /// value beyond the limit. A jump that persists (<see cref="JumpConfirmations"/> readings in a row, each close to
    /// the previous rejected one) is a real change and is accepted, so the filter cannot lock out a new level.
    /// </summary>
    public sealed class PlausibilityCheck
    {
        public const int JumpConfirmations = 3;

        private readonly double _min;
        private readonly double _max;
        private readonly double _jumpLimit;
        private bool _hasLast;
        private double _last;
        private int _jumpCount;
        private double _lastJumpValue;

        public PlausibilityCheck(double min, double max, double jumpLimit)
        {
            _min = min;
            _max = max;
            _jumpLimit = jumpLimit;
        }

        public Plausibility Check(double value)
        {
            if (double.IsNaN(value) || double.IsInfinity(value))
            {
                return Plausibility.NotANumber;
            }

            if (value < _min || value > _max)
            {
                return Plausibility.OutOfRange;
            }

            if (_hasLast && Abs(value - _last) > _jumpLimit)
            {
                if (_jumpCount > 0 && Abs(value - _lastJumpValue) > _jumpLimit)
                {
                    _jumpCount = 0;
                }

                _jumpCount++;
                _lastJumpValue = value;
                if (_jumpCount < JumpConfirmations)
                {
                    return Plausibility.Jump;
                }
            }

            _jumpCount = 0;
            _hasLast = true;
            _last = value;
            return Plausibility.Accepted;
        }

        internal static double Abs(double value)
        {
            return value < 0 ? -value : value;
        }
    }
}
