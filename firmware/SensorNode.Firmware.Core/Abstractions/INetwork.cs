namespace SensorNode.Firmware.Core.Abstractions
{
    /// <summary>The IP link (Wi-Fi on the device; always up in the simulator unless a test cuts it).</summary>
    public interface INetwork
    {
        /// <summary>True while the node has an IP address.</summary>
        bool IsConnected { get; }

        /// <summary>Joins the network and waits at most <paramref name="timeoutMilliseconds"/> for an IP address.</summary>
        bool Connect(string ssid, string password, int timeoutMilliseconds);

        /// <summary>Received signal strength in dBm, or <see cref="SignalStrength.Unknown"/>.</summary>
        int SignalDbm { get; }
    }
}
