namespace SensorNode.Broker.Persistence;

/// <summary>How hard each commit insists on reaching the disk.</summary>
public enum StoreDurability
{
    /// <summary>fsync on every commit: an acknowledged message survives a process kill and a power cut (default).</summary>
    Full,

    /// <summary>WAL with synchronous=NORMAL: survives a process kill; a power cut may lose the last commits.</summary>
    Normal,
}
