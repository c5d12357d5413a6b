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

            for (int i = 0; i < room.Length; i++)
            {
                char c = room[i];
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
                    if (i + 1 >= room.Length || room[i + 1] < (char)0xDC00 || room[i + 1] > (char)0xDFFF)
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

            if (room[0] == ' ' || room[room.Length - 1] == ' ')
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
