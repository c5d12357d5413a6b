using System.Buffers;
using System.Text;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.Packets;
using SensorNode.Broker.Security;
using SensorNode.Firmware.Core.Config;

namespace SensorNode.Fuzz;

/// <summary>
/// The fuzz targets. Each takes arbitrary bytes and may only fail with the exception its parser documents for bad
/// input; anything else (or a hang) is a finding.
/// </summary>
public static class FuzzTargets
{
    public static readonly IReadOnlyDictionary<string, Action<byte[]>> All = new Dictionary<string, Action<byte[]>>
    {
        ["decoder-v311"] = data => Decoder(data, ProtocolLevel.V311),
        ["decoder-v500"] = data => Decoder(data, ProtocolLevel.V500),
        ["acl"] = Acl,
        ["passwd"] = Passwd,
        ["firmware-config"] = FirmwareConfig,
        ["broker-config"] = BrokerConfig,
    };

    private static readonly string ConfigPath = Path.Combine(Path.GetTempPath(), $"sensornode-fuzz-{Environment.ProcessId}", "broker.json");

    /// <summary>
    /// A byte stream as a connection would receive it: frames read with the broker's frame reader (1 MiB limit), each
    /// decoded as from a client and, the first byte's low bit set, as from a server; PUBLISH also parsed in place.
    /// </summary>
    public static void Decoder(byte[] data, ProtocolLevel level)
    {
        bool fromServer = data.Length > 0 && (data[0] & 1) == 1;
        var sequence = new ReadOnlySequence<byte>(data);
        for (int frames = 0; frames < 10_000; frames++)
        {
            try
            {
                if (!MqttFrameReader.TryReadFrame(ref sequence, 1024 * 1024, out byte header, out ReadOnlySequence<byte> body))
                {
                    return;
                }

                byte[] bytes = body.ToArray();
                try
                {
                    MqttPacket packet = MqttPacketDecoder.Decode(header, bytes, level, fromServer);

                    // A decoded packet must encode again (the writer is the other half of the codec).
                    ReEncode(packet, level);
                }
                catch (MqttProtocolException)
                {
                }

                if (MqttPacketDecoder.TypeOf(header) == PacketType.Publish)
                {
                    try
                    {
                        MqttPacketDecoder.ReadPublish(header, bytes, level, out _);
                    }
                    catch (MqttProtocolException)
                    {
                    }
                }
            }
            catch (MqttProtocolException)
            {
                return; // the frame reader refuses the stream: the connection would close here
            }
        }
    }

    private static void ReEncode(MqttPacket packet, ProtocolLevel level)
    {
        try
        {
            MqttPacketWriter.ToArray(packet, level);
        }
        catch (ArgumentException)
        {
            // The writer refuses values a peer may send but the broker never would (e.g. a 3.1.1 CONNACK code above 5).
        }
    }

    public static void Acl(byte[] data)
    {
        try
        {
            AclFile acl = AclFile.Parse("fuzz.acl", Lines(data));
            _ = acl;
        }
        catch (ConfigFileException)
        {
        }
    }

    public static void Passwd(byte[] data)
    {
        try
        {
            PasswordFile.Parse("fuzz.passwd", Lines(data));
        }
        catch (ConfigFileException)
        {
        }
    }

    /// <summary>The firmware parser reports every problem as an error string; it must never throw.</summary>
    public static void FirmwareConfig(byte[] data)
    {
        ConfigParseResult result = ConfigParser.Parse(Encoding.UTF8.GetString(data));
        _ = result.Errors;
    }

    /// <summary>
    /// The broker's configuration file (JSON with comments, every key bound and validated): a bad file is refused with a
    /// <see cref="Broker.Configuration.ConfigurationException"/> naming file, line and key, never anything else.
    /// </summary>
    public static void BrokerConfig(byte[] data)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(ConfigPath)!);
        File.WriteAllBytes(ConfigPath, data);
        try
        {
            _ = Broker.Configuration.BrokerConfiguration.Load(ConfigPath);
        }
        catch (Broker.Configuration.ConfigurationException ex)
        {
            _ = ex.Message;
        }
    }

    private static string[] Lines(byte[] data) => Encoding.UTF8.GetString(data).Split('\n');
}
