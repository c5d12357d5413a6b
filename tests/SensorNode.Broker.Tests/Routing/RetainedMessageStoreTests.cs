using System.Text;
using SensorNode.Broker.Protocol;
using SensorNode.Broker.Protocol.V5;
using SensorNode.Broker.Routing;

namespace SensorNode.Broker.Tests.Routing;

/// <summary>The retained store (3.1.1 §3.3.1.3, 5.0 §3.3.1.3): one compact entry per topic, messages rebuilt on demand.</summary>
public sealed class RetainedMessageStoreTests
{
    private static ApplicationMessage Retained(string topic, string payload, byte qos = 1) =>
        ApplicationMessage.Create(topic, Encoding.UTF8.GetBytes(payload), qos, retain: true);

    private static string Text(ApplicationMessage message) => Encoding.UTF8.GetString(message.PayloadSpan);

    // [MQTT-3.3.1-5] a new retained message replaces the topic's previous one.
    [Fact]
    public void A_retained_message_replaces_the_previous_one_of_its_topic_MQTT_3_3_1_5()
    {
        var store = new RetainedMessageStore();
        store.Apply(Retained("room/kitchen/temperature", "21.0"));
        store.Apply(Retained("room/kitchen/temperature", "21.4", qos: 2));
        store.Apply(Retained("room/hall/temperature", "19.0"));

        ApplicationMessage latest = store.Find("room/kitchen/temperature")!;

        Assert.Equal(2, store.Count);
        Assert.Equal(("room/kitchen/temperature", "21.4", (byte)2, true), (latest.Topic, Text(latest), latest.Qos, latest.Retain));
    }

    // [MQTT-3.3.1-10] [MQTT-3.3.1-11] a zero-length retained payload removes the topic's retained message.
    [Fact]
    public void A_zero_length_payload_removes_the_retained_message_MQTT_3_3_1_10_and_11()
    {
        var store = new RetainedMessageStore();
        store.Apply(Retained("status/node-1", "online"));
        store.Apply(Retained("status/node-2", "online"));

        store.Apply(Retained("status/node-1", string.Empty));
        store.Remove("status/node-2");

        Assert.Equal(0, store.Count);
        Assert.Null(store.Find("status/node-1"));
    }

    // [MQTT-3.3.1-6] a subscription gets the retained messages its filter matches; '$' topics are not matched by a
    // filter starting with a wildcard [MQTT-4.7.2-1].
    [Fact]
    public void Match_finds_what_the_filter_matches_and_no_dollar_topics_for_a_leading_wildcard_MQTT_4_7_2_1()
    {
        var store = new RetainedMessageStore();
        foreach (string topic in new[] { "sensor/a/temperature", "sensor/b/temperature", "sensor/a/humidity", "sensor", "$SYS/broker/version", "température/°C" })
        {
            store.Apply(Retained(topic, "1"));
        }

        Assert.Equal(["sensor/a/temperature", "sensor/b/temperature"], Topics(store, "sensor/+/temperature"));
        Assert.Equal(["sensor", "sensor/a/humidity", "sensor/a/temperature", "sensor/b/temperature"], Topics(store, "sensor/#"));
        Assert.Equal(["sensor", "sensor/a/humidity", "sensor/a/temperature", "sensor/b/temperature", "température/°C"], Topics(store, "#"));
        Assert.Equal(["$SYS/broker/version"], Topics(store, "$SYS/#"));
        Assert.Equal(["température/°C"], Topics(store, "température/°C"));
        Assert.Empty(Topics(store, "sensor/c/+"));
    }

    // [MQTT-3.3.2-5] an expired retained message is not sent; MQTT 5 properties and the expiry time are kept.
    [Fact]
    public void Expired_messages_are_left_out_and_properties_and_expiry_are_kept_MQTT_3_3_2_5()
    {
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var properties = new MqttProperties { ContentType = "text/plain", MessageExpiryInterval = 3600, UserProperties = [new("unit", "°C")] };
        var store = new RetainedMessageStore();
        store.Apply(ApplicationMessage.FromPublish("expiry/long", Encoding.UTF8.GetBytes("expiry/long"), Encoding.UTF8.GetBytes("kept"), 1, true, properties, now));
        store.Apply(ApplicationMessage.Create("expiry/past", Encoding.UTF8.GetBytes("gone"), 1, retain: true, expiresAtUnixMs: now - 1));

        ApplicationMessage kept = Assert.Single(Messages(store, "expiry/+"));

        Assert.Equal("expiry/long", kept.Topic);
        Assert.Equal(now + 3_600_000, kept.ExpiresAtUnixMs);
        Assert.Equal("text/plain", kept.Properties!.ContentType);
        Assert.Equal(new[] { new MqttUserProperty("unit", "°C") }, kept.Properties.UserProperties!);
        Assert.Empty(Messages(store, "expiry/past"));
        Assert.NotNull(store.Find("expiry/past"));
    }

    [Fact]
    public void The_store_keeps_the_published_buffer_instead_of_a_copy()
    {
        ApplicationMessage published = Retained("shared/buffer", "payload");
        var store = new RetainedMessageStore();
        store.Apply(published);

        ApplicationMessage found = store.Find("shared/buffer")!;

        Assert.NotSame(published, found);
        Assert.True(found.PayloadSpan.Overlaps(published.PayloadSpan));
        Assert.True(found.EncodedTopic.SequenceEqual(published.EncodedTopic));
    }

    [Fact]
    public void Long_topics_are_found_and_removed()
    {
        string topic = string.Join('/', Enumerable.Repeat("level-ü", 200));
        var store = new RetainedMessageStore();
        store.Apply(Retained(topic, "deep"));

        Assert.Equal("deep", Text(store.Find(topic)!));
        Assert.Single(Messages(store, topic[..topic.LastIndexOf('/')] + "/+"));

        store.Remove(topic);
        Assert.Equal(0, store.Count);
    }

    [Fact]
    public void CopyTo_gives_every_message_for_a_store_to_load_back()
    {
        var store = new RetainedMessageStore();
        store.Apply(Retained("a", "1"));
        store.Apply(Retained("$SYS/b", "2"));
        var all = new List<ApplicationMessage>();

        store.CopyTo(all);

        Assert.Equal(["$SYS/b", "a"], all.Select(m => m.Topic).Order(StringComparer.Ordinal));
    }

    private static List<ApplicationMessage> Messages(RetainedMessageStore store, string filter)
    {
        var matches = new List<ApplicationMessage>();
        store.Match(filter, matches);
        return matches;
    }

    private static string[] Topics(RetainedMessageStore store, string filter) =>
        [.. Messages(store, filter).Select(m => m.Topic).Order(StringComparer.Ordinal)];
}
