namespace SensorNode.Firmware.Core.Formatting
{
    /// <summary>Small string helpers that behave the same on nanoFramework and .NET (no culture involved).</summary>
    public static class AsciiText
    {
        /// <summary>Lower-cases A-Z only.</summary>
        public static string ToLower(string text)
        {
            if (text == null)
            {
                return null;
            }

            char[] chars = text.ToCharArray();
            for (int i = 0; i < chars.Length; i++)
            {
                if (chars[i] >= 'A' && chars[i] <= 'Z')
                {
                    chars[i] = (char)(chars[i] + 32);
                }
            }

            return new string(chars);
        }

        /// <summary>True when the text is empty or only spaces/tabs/CR/LF.</summary>
        public static bool IsBlank(string text)
        {
            if (text == null)
            {
                return true;
            }

            for (int i = 0; i < text.Length; i++)
            {
                char c = text[i];
                if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
                {
                    return false;
                }
            }

            return true;
        }
    }
}
