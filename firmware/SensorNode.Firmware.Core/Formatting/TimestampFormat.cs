using System;

namespace SensorNode.Firmware.Core.Formatting
{
    /// <summary>ISO 8601 UTC timestamps ("2026-11-25T23:51:57Z"), built from the date parts (culture-free).</summary>
    public static class TimestampFormat
    {
        public static string Iso8601Utc(DateTime utc)
        {
            return Pad(utc.Year, 4) + "-" + Pad(utc.Month, 2) + "-" + Pad(utc.Day, 2) + "T"
                + Pad(utc.Hour, 2) + ":" + Pad(utc.Minute, 2) + ":" + Pad(utc.Second, 2) + "Z";
        }

        private static string Pad(int value, int width)
        {
            string text = value.ToString();
            while (text.Length < width)
            {
                text = "0" + text;
            }

            return text;
        }
    }
}
