namespace SensorNode.Firmware.Core.Topics
{
    /// <summary>Validation of the room name, which becomes exactly one MQTT topic level.</summary>
    public static class RoomName
    {
        public const int MaxLength = 64;

        /// <summary>Null when valid, otherwise why not.</summary>
        public static string Validate(string room)
        {
            if (room == null || room.Length == 0)
            {
                return "must not be empty";
            }

            if (room.Length > MaxLength)
            {
                return "must be at most " + MaxLength.ToString() + " characters";
            }

            // Walked as a char array, not with the string indexer: nanoCLR's indexer returns the high half of a
            // surrogate pair for its low half too, which made every emoji look like an unpaired surrogate on the device.
            char[] chars = room.ToCharArray();
            for (int i = 0; i < chars.Length; i++)
            {
                char c = chars[i];
                if (c == '/')
                {
                    return "must be a single topic level (no '/')";
                }

                if (c == '+' || c == '#')
                {
                    return "must not contain the MQTT wildcards '+' or '#'";
                }

                if (c < ' ' || c == (char)0x7F)
                {
                    return "must not contain control characters";
                }

                if (c >= (char)0xD800 && c <= (char)0xDBFF)
                {
                    if (i + 1 >= chars.Length || chars[i + 1] < (char)0xDC00 || chars[i + 1] > (char)0xDFFF)
                    {
                        return "is not valid UTF-8 (unpaired surrogate)";
                    }

                    i++;
                }
                else if (c >= (char)0xDC00 && c <= (char)0xDFFF)
                {
                    return "is not valid UTF-8 (unpaired surrogate)";
                }
            }

            if (chars[0] == ' ' || chars[chars.Length - 1] == ' ')
            {
                return "must not start or end with a space";
            }

            return null;
        }

        public static bool IsValid(string room)
        {
            return Validate(room) == null;
        }
    }
}
