namespace SensorNode.Firmware.Core.Abstractions
{
    /// <summary>Where the node's configuration text lives (a file on the device's flash).</summary>
    public interface IConfigStore
    {
        /// <summary>A description for log lines, e.g. the file path.</summary>
        string Location { get; }

        /// <summary>The whole configuration text, or null when there is none.</summary>
        string ReadText();
    }
}
