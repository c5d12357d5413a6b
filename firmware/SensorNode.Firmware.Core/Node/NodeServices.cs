using SensorNode.Firmware.Core.Abstractions;

namespace SensorNode.Firmware.Core.Node
{
    /// <summary>The platform adapters a node runs on (device drivers or host fakes/simulations).</summary>
    public sealed class NodeServices
    {
        public ISensor Sensor { get; set; }

        public IMqttSession Session { get; set; }

        public INetwork Network { get; set; }

        public IClock Clock { get; set; }

        public IStatusLed Led { get; set; }

        public IRestarter Restarter { get; set; }

        public ILog Log { get; set; }

        public IDeviceInfo DeviceInfo { get; set; }
    }
}
