namespace SensorNode.Firmware.Core.Formatting
{
    /// <summary>
    /// Culture-independent decimal text ("21.4", "-0.5") and parsing, written by hand: nanoFramework has no
    /// culture overloads and no custom format strings, and desktop .NET would otherwise follow the OS culture.
    /// </summary>
    public static class DecimalFormat
    {
        /// <summary>Formats with exactly <paramref name="decimals"/> digits after the point (0..4), rounding half away from zero.</summary>
        public static string Format(double value, int decimals)
        {
            if (double.IsNaN(value))
            {
                return "NaN";
            }

            if (decimals < 0)
            {
                decimals = 0;
            }

            if (decimals > 4)
            {
                decimals = 4;
            }

            long scale = 1;
            for (int i = 0; i < decimals; i++)
            {
                scale *= 10;
            }

            bool negative = value < 0;
            double magnitude = negative ? -value : value;
            long scaled = (long)((magnitude * scale) + 0.5);
            if (scaled == 0)
            {
                negative = false;
            }

            long whole = scaled / scale;
            string text = whole.ToString();
            if (decimals > 0)
            {
                string fraction = (scaled % scale).ToString();
                while (fraction.Length < decimals)
                {
                    fraction = "0" + fraction;
                }

                text = text + "." + fraction;
            }

            return negative ? "-" + text : text;
        }

        /// <summary>Parses "-12", "21.45", "+3.5" (point as separator, no exponent). False for anything else.</summary>
        public static bool TryParse(string text, out double value)
        {
            value = 0;
            if (text == null || text.Length == 0)
            {
                return false;
            }

            int index = 0;
            bool negative = false;
            if (text[0] == '-' || text[0] == '+')
            {
                negative = text[0] == '-';
                index = 1;
            }

            double result = 0;
            int digits = 0;
            while (index < text.Length && text[index] >= '0' && text[index] <= '9')
            {
                result = (result * 10) + (text[index] - '0');
                index++;
                digits++;
            }

            if (index < text.Length && text[index] == '.')
            {
                index++;
                double factor = 0.1;
                int fractionDigits = 0;
                while (index < text.Length && text[index] >= '0' && text[index] <= '9')
                {
                    result += (text[index] - '0') * factor;
                    factor /= 10;
                    index++;
                    fractionDigits++;
                }

                if (fractionDigits == 0)
                {
                    return false;
                }

                digits += fractionDigits;
            }

            if (digits == 0 || index != text.Length || digits > 15)
            {
                return false;
            }

            value = negative ? -result : result;
            return true;
        }

        /// <summary>Parses an optionally signed decimal integer of at most 9 digits.</summary>
        public static bool TryParseInt(string text, out int value)
        {
            value = 0;
            if (text == null || text.Length == 0)
            {
                return false;
            }

            int index = 0;
            bool negative = false;
            if (text[0] == '-' || text[0] == '+')
            {
                negative = text[0] == '-';
                index = 1;
            }

            if (index == text.Length || text.Length - index > 9)
            {
                return false;
            }

            int result = 0;
            for (; index < text.Length; index++)
            {
                char c = text[index];
                if (c < '0' || c > '9')
                {
                    return false;
                }

                result = (result * 10) + (c - '0');
            }

            value = negative ? -result : result;
            return true;
        }
    }
}
