namespace SensorNode.Firmware.Core.Formatting
{
    /// <summary>
    /// A minimal JSON object writer (System.Text.Json and StringBuilder are not in nanoFramework's mscorlib).
    /// Objects only, nested with <see cref="BeginObject"/>/<see cref="EndObject"/>; commas are inserted for you.
    /// </summary>
    public sealed class JsonWriter
    {
        private string _text = string.Empty;
        private bool _needComma;

        public JsonWriter()
        {
            _text = "{";
        }

        public JsonWriter Text(string name, string value)
        {
            Name(name);
            _text += Quote(value);
            return this;
        }

        /// <summary>A number with a fixed count of decimals; NaN becomes null (JSON has no NaN).</summary>
        public JsonWriter Number(string name, double value, int decimals)
        {
            Name(name);
            _text += double.IsNaN(value) ? "null" : DecimalFormat.Format(value, decimals);
            return this;
        }

        public JsonWriter Integer(string name, long value)
        {
            Name(name);
            _text += value.ToString();
            return this;
        }

        public JsonWriter Boolean(string name, bool value)
        {
            Name(name);
            _text += value ? "true" : "false";
            return this;
        }

        public JsonWriter Null(string name)
        {
            Name(name);
            _text += "null";
            return this;
        }

        public JsonWriter TextArray(string name, string[] values)
        {
            Name(name);
            _text += "[";
            for (int i = 0; i < values.Length; i++)
            {
                if (i > 0)
                {
                    _text += ",";
                }

                _text += Quote(values[i]);
            }

            _text += "]";
            return this;
        }

        public JsonWriter BeginObject(string name)
        {
            Name(name);
            _text += "{";
            _needComma = false;
            return this;
        }

        public JsonWriter EndObject()
        {
            _text += "}";
            _needComma = true;
            return this;
        }

        /// <summary>Closes the outermost object and returns the document.</summary>
        public string Finish()
        {
            return _text + "}";
        }

        /// <summary>A JSON string literal: quotes, backslashes and control characters escaped; other text kept as is.</summary>
        public static string Quote(string value)
        {
            if (value == null)
            {
                return "null";
            }

            string result = "\"";
            int runStart = 0;
            for (int i = 0; i < value.Length; i++)
            {
                char c = value[i];
                string escape = null;
                if (c == '"')
                {
                    escape = "\\\"";
                }
                else if (c == '\\')
                {
                    escape = "\\\\";
                }
                else if (c == '\n')
                {
                    escape = "\\n";
                }
                else if (c == '\r')
                {
                    escape = "\\r";
                }
                else if (c == '\t')
                {
                    escape = "\\t";
                }
                else if (c < ' ')
                {
                    escape = "\\u" + ((int)c).ToString("X4");
                }

                if (escape != null)
                {
                    result += value.Substring(runStart, i - runStart) + escape;
                    runStart = i + 1;
                }
            }

            return result + value.Substring(runStart) + "\"";
        }

        private void Name(string name)
        {
            if (_needComma)
            {
                _text += ",";
            }

            _text += Quote(name) + ":";
            _needComma = true;
        }
    }
}
