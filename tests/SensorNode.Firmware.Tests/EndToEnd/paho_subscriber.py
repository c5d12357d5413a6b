"""A paho-mqtt (1.x API) subscriber for the end-to-end tests.

Usage: paho_subscriber.py HOST PORT FILTER...
Prints READY once every filter is acknowledged, then one line per message:
MSG<TAB>retain(0|1)<TAB>topic<TAB>payload. Runs until killed or stdin closes.
"""
import os
import sys

import paho.mqtt.client as mqtt

host, port, filters = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
pending = set()


def on_connect(client, userdata, flags, rc):
    if rc != 0:
        print("ERROR connect rc=%d" % rc, flush=True)
        return
    for f in filters:
        result, mid = client.subscribe(f, qos=1)
        pending.add(mid)


def on_subscribe(client, userdata, mid, granted_qos):
    pending.discard(mid)
    if not pending:
        print("READY", flush=True)


def on_message(client, userdata, msg):
    payload = msg.payload.decode("utf-8", "replace").replace("\n", " ")
    print("MSG\t%d\t%s\t%s" % (1 if msg.retain else 0, msg.topic, payload), flush=True)


client = mqtt.Client(client_id="paho-e2e-%d" % os.getpid(), clean_session=True)
client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.connect(host, port, keepalive=30)
client.loop_start()
# Exit when the test closes stdin.
sys.stdin.read()
client.loop_stop()
client.disconnect()
