namespace SensorNode.Firmware.Core.Abstractions
{
    /// <summary>Result codes of <see cref="IMqttSession.Connect"/>.</summary>
    public static class MqttConnectResult
    {
        /// <summary>CONNACK 0: connection accepted.</summary>
        public const int Accepted = 0;

        /// <summary>No CONNACK: DNS, socket, TLS or timeout failure.</summary>
        public const int TransportError = -1;

        /// <summary>A readable name for logs (enum names are not available at run time on nanoFramework).</summary>
        public static string Describe(int code)
        {
            switch (code)
            {
                case Accepted: return "accepted";
                case TransportError: return "transport error (DNS, socket, TLS or timeout)";
                case 1: return "refused: unacceptable protocol version";
                case 2: return "refused: client identifier rejected";
                case 3: return "refused: server unavailable";
                case 4: return "refused: bad user name or password";
                case 5: return "refused: not authorised";
                default: return "refused: code " + code.ToString();
            }
        }
    }
}
