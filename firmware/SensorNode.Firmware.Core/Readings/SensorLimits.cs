namespace SensorNode.Firmware.Core.Readings
{
    /// <summary>
    /// What a sensor model can physically report (datasheet ranges, as the Dhtxx binding's README lists them)
    /// and how often it may be read.
    /// </summary>
    public sealed class SensorLimits
    {
        private SensorLimits(string name, double minTemperature, double maxTemperature, double minHumidity, double maxHumidity, int minIntervalSeconds)
        {
            Name = name;
            MinTemperature = minTemperature;
            MaxTemperature = maxTemperature;
            MinHumidity = minHumidity;
            MaxHumidity = maxHumidity;
            MinIntervalSeconds = minIntervalSeconds;
        }

        public string Name { get; }

        public double MinTemperature { get; }

        public double MaxTemperature { get; }

        public double MinHumidity { get; }

        public double MaxHumidity { get; }

        /// <summary>The shortest read interval the model supports (DHT11 1 s, DHT22 2 s sensing period).</summary>
        public int MinIntervalSeconds { get; }

        /// <summary>DHT11: 0..60 °C, 2..95 %RH (the datasheet range; 20..90 %RH accuracy range is not enforced).</summary>
        public static SensorLimits For(SensorModel model)
        {
            if (model == SensorModel.Dht11)
            {
                return new SensorLimits("DHT11", 0, 60, 2, 95, 1);
            }

            return new SensorLimits("DHT22", -40, 80, 0, 100, 2);
        }
    }
}
