namespace SensorNode.Firmware.Core.Topics
{
    /// <summary>
    /// The node id: MQTT client id and Home Assistant object-id prefix, limited to [a-zA-Z0-9_-] as Home
    /// Assistant requires.
    /// </summary>
    public static class NodeId
    {
        public const int MaxLength = 48;

        public static string Validate(string nodeId)
        {
            if (nodeId == null || nodeId.Length == 0)
            {
                return "must not be empty";
            }

            if (nodeId.Length > MaxLength)
            {
                return "must be at most " + MaxLength.ToString() + " characters";
            }

            for (int i = 0; i < nodeId.Length; i++)
            {
                if (!IsAllowed(nodeId[i]))
                {
                    return "may only contain a-z, A-Z, 0-9, '_' and '-'";
                }
            }

            return null;
        }

        /// <summary>"sensornode_" + the room with every other character replaced by '_' (the default node id).</summary>
        public static string FromRoom(string room)
        {
            char[] chars = room.ToCharArray();
            for (int i = 0; i < chars.Length; i++)
            {
                if (!IsAllowed(chars[i]))
                {
                    chars[i] = '_';
                }
            }

            string id = "sensornode_" + new string(chars);
            return id.Length > MaxLength ? id.Substring(0, MaxLength) : id;
        }

        private static bool IsAllowed(char c)
        {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        }
    }
}
