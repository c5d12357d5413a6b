namespace SensorNode.Broker.Protocol;

/// <summary>MQTT 5.0 reason code values the engine itself decides on (§2.4).</summary>
public static class ReasonCodes
{
    public const byte Success = 0x00;
    public const byte NoMatchingSubscribers = 0x10;
    public const byte NoSubscriptionExisted = 0x11;
    public const byte TopicFilterInvalid = 0x8F;
    public const byte PayloadFormatInvalid = 0x99;
}
