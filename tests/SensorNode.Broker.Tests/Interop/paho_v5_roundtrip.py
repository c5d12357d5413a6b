"""MQTT 5.0 round trip with Eclipse paho-mqtt (1.6 or 2.x): a v5 subscriber (subscription identifier 7) and a v5
publisher sending QoS 1 with user properties, content type, correlation data, response topic and message
expiry. Prints one JSON line describing what the subscriber received, then exits (2 on timeout)."""
import json
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

host, port = sys.argv[1], int(sys.argv[2])


def new_client(client_id):
    if hasattr(mqtt, "CallbackAPIVersion"):
        return mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, client_id=client_id, protocol=mqtt.MQTTv5)
    return mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)


connected = threading.Event()
subscribed = threading.Event()
received = threading.Event()
result = {}

sub = new_client("paho-v5-sub")


def on_connect(client, userdata, flags, reason_code, properties=None):
    result["connack_reason"] = int(reason_code.value) if hasattr(reason_code, "value") else int(reason_code)
    props = Properties(PacketTypes.SUBSCRIBE)
    props.SubscriptionIdentifier = 7
    client.subscribe("v5/#", options=mqtt.SubscribeOptions(qos=1), properties=props)
    connected.set()


def on_subscribe(client, userdata, mid, reason_codes, properties=None):
    subscribed.set()


def on_message(client, userdata, msg):
    p = msg.properties
    result.update({
        "topic": msg.topic,
        "payload": msg.payload.decode(),
        "qos": msg.qos,
        "user_properties": [list(x) for x in getattr(p, "UserProperty", [])],
        "content_type": getattr(p, "ContentType", None),
        "correlation_data": getattr(p, "CorrelationData", b"").decode(),
        "response_topic": getattr(p, "ResponseTopic", None),
        "message_expiry": getattr(p, "MessageExpiryInterval", None),
        "subscription_ids": list(getattr(p, "SubscriptionIdentifier", [])),
    })
    received.set()


sub.on_connect = on_connect
sub.on_subscribe = on_subscribe
sub.on_message = on_message
sub.connect(host, port, keepalive=30, clean_start=True)
sub.loop_start()
if not subscribed.wait(10):
    print("TIMEOUT subscribe", flush=True)
    sys.exit(2)

pub = new_client("paho-v5-pub")
pub.connect(host, port, keepalive=30, clean_start=True)
pub.loop_start()
props = Properties(PacketTypes.PUBLISH)
props.UserProperty = [("room", "kitchen"), ("unit", "C")]
props.ContentType = "text/plain"
props.CorrelationData = b"corr-1"
props.ResponseTopic = "v5/reply"
props.MessageExpiryInterval = 60
pub.publish("v5/temperature", "21.4", qos=1, properties=props).wait_for_publish()

ok = received.wait(10)
pub.loop_stop()
pub.disconnect()
sub.loop_stop()
sub.disconnect()
if not ok:
    print("TIMEOUT message", flush=True)
    sys.exit(2)
print(json.dumps(result), flush=True)
