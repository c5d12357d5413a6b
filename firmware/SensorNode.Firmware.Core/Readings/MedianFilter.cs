namespace SensorNode.Firmware.Core.Readings
{
    /// <summary>
    /// Median of the last N accepted values (N = 1 turns it off). Until N values exist it uses those it has, so the
    /// first reading is reported at once. Sorted by hand: nanoFramework's mscorlib has no Array.Sort.
    /// </summary>
    public sealed class MedianFilter
    {
        private readonly double[] _window;
        private readonly double[] _sorted;
        private int _count;
        private int _next;

        public MedianFilter(int size)
        {
            if (size < 1)
            {
                size = 1;
            }

            _window = new double[size];
            _sorted = new double[size];
        }

        public double Add(double value)
        {
            _window[_next] = value;
            _next = (_next + 1) % _window.Length;
            if (_count < _window.Length)
            {
                _count++;
            }

            for (int i = 0; i < _count; i++)
            {
                double item = _window[i];
                int j = i - 1;
                while (j >= 0 && _sorted[j] > item)
                {
                    _sorted[j + 1] = _sorted[j];
                    j--;
                }

                _sorted[j + 1] = item;
            }

            if (_count % 2 == 1)
            {
                return _sorted[_count / 2];
            }

            return (_sorted[(_count / 2) - 1] + _sorted[_count / 2]) / 2;
        }
    }
}
