using System;
using System.Device.Wifi;
using nanoFramework.Networking;
using SensorNode.Firmware.Core.Abstractions;

namespace SensorNode.Firmware.Device.Adapters
{
    /// <summary>
    /// <see cref="INetwork"/> on WifiNetworkHelper (reference §6.1), event style: set up once with automatic
    /// reconnection, then <c>NetworkReady</c> is the "network up" signal (reset on loss, set when back).
    /// </summary>
    public sealed class WifiNetwork : INetwork
    {
        private bool _setUp;

        public bool IsConnected
        {
            get { return _setUp && WifiNetworkHelper.NetworkReady.WaitOne(0, false); }
        }

        /// <summary>No API reports the RSSI of the current connection (only scans do, §6.3), so it is left out.</summary>
        public int SignalDbm
        {
            get { return SignalStrength.Unknown; }
        }

        public bool Connect(string ssid, string password, int timeoutMilliseconds)
        {
            try
            {
                if (!_setUp)
                {
                    WifiNetworkHelper.SetupNetworkHelper(ssid, password, WifiReconnectionKind.Automatic, false);
                    _setUp = true;
                }

                if (WifiNetworkHelper.NetworkReady.WaitOne(timeoutMilliseconds, false))
                {
                    return true;
                }

                NetworkHelperStatus status = WifiNetworkHelper.Status;
                if (status == NetworkHelperStatus.FailedNoNetworkInterface || status == NetworkHelperStatus.ExceptionOccurred)
                {
                    Exception cause = WifiNetworkHelper.HelperException;
                    Console.WriteLine("wifi: helper failed (" + ((int)status).ToString() + ")" + (cause != null ? ": " + cause.Message : string.Empty));
                    WifiNetworkHelper.Reset();
                    _setUp = false;
                }

                return false;
            }
            catch (Exception ex)
            {
                Console.WriteLine("wifi: " + ex.Message);
                WifiNetworkHelper.Reset();
                _setUp = false;
                return false;
            }
        }
    }
}
