namespace SensorNode.Firmware.Core.Node
{
    /// <summary>LED meaning, as ESPHome's status_led: off = all well, slow blink = warning, fast blink = error.</summary>
    public enum LedMode
    {
        Off = 0,
        SlowBlink = 1,
        FastBlink = 2,
    }

    /// <summary>Turns a mode and the time into on/off (no timers: the loop calls it every tick).</summary>
    public static class StatusLedPattern
    {
        public const long SlowPeriodMs = 2000;
        public const long FastPeriodMs = 400;

        public static bool IsOn(LedMode mode, long nowMs)
        {
            if (mode == LedMode.SlowBlink)
            {
                return nowMs % SlowPeriodMs < SlowPeriodMs / 2;
            }

            if (mode == LedMode.FastBlink)
            {
                return nowMs % FastPeriodMs < FastPeriodMs / 2;
            }

            return false;
        }
    }
}
