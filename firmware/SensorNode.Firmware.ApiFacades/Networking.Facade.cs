// FACADE (compile-time only, never deployed): nanoFramework.System.Device.Wifi 1.5.149 (WifiNetworkHelper,
// WifiReconnectionKind) and nanoFramework.System.Net 1.11.60 (NetworkHelperStatus) — reference §6.1.
using System;
using System.Device.Wifi;
using System.Threading;

namespace nanoFramework.Networking
{
    /// <summary>§6.1 (event style members only).</summary>
    public static class WifiNetworkHelper
    {
        public static ManualResetEvent NetworkReady
        {
            get { throw new NotImplementedException(); }
        }

        public static NetworkHelperStatus Status
        {
            get { throw new NotImplementedException(); }
        }

        public static Exception HelperException
        {
            get { throw new NotImplementedException(); }
        }

        public static void SetupNetworkHelper(string ssid, string password,
            WifiReconnectionKind reconnectionKind = WifiReconnectionKind.Automatic, bool requiresDateTime = false)
        {
            throw new NotImplementedException();
        }

        public static void Reset()
        {
            throw new NotImplementedException();
        }
    }

    /// <summary>§6.1 (spelling as in the library's source).</summary>
    public enum NetworkHelperStatus
    {
        None,
        Started,
        NetworkIsReady,
        FailedNoNetworkInterface,
        TokenExpiredWaitingIPAddress,
        TokenExpiredWaitingDateTime,
        ErrorConnetingToWiFiWhileScanning,
        ExceptionOccurred,
        Reconnecting,
    }
}

namespace System.Device.Wifi
{
    /// <summary>§6.1. The reference names the enum but not its namespace; System.Device.Wifi is assumed (see firmware/README.md).</summary>
    public enum WifiReconnectionKind
    {
        Automatic,
        Manual,
    }
}
