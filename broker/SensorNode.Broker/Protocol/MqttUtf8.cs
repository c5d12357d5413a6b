using System.Text;
using System.Text.Unicode;

namespace SensorNode.Broker.Protocol;

/// <summary>UTF-8 string rules of MQTT (3.1.1 §1.5.3, 5.0 §1.5.4).</summary>
public static class MqttUtf8
{
    /// <summary>Well-formed UTF-8 (no surrogates, no overlongs) and no U+0000 [MQTT-1.5.3-1] [MQTT-1.5.3-2].</summary>
    public static bool IsValid(ReadOnlySpan<byte> utf8) => utf8.IndexOf((byte)0) < 0 && Utf8.IsValid(utf8);

    public static void Validate(ReadOnlySpan<byte> utf8, string what)
    {
        if (!IsValid(utf8))
        {
            throw MqttProtocolException.Malformed($"{what} is not a valid MQTT UTF-8 string");
        }
    }

    public static string Decode(ReadOnlySpan<byte> utf8) => Encoding.UTF8.GetString(utf8);
}
