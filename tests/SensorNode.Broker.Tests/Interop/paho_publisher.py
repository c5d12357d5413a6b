#!/usr/bin/env python3
"""Eclipse paho-mqtt publisher for SensorNode broker interop tests (paho-mqtt 1.6 and 2.x).

Like paho's classic publish example: connect, publish --count messages, disconnect. Each publish is
waited for (info.wait_for_publish(): PUBACK for QoS 1, PUBCOMP for QoS 2) before the next, so the
messages reach the broker in order. Payloads are --message, or --prefix followed by the index.

Prints one line per completed publish, flushed:  PUBLISHED <mid> <payload>   then  DONE
Exit codes: 0 done, 2 timeout, 3 connection refused or lost.
"""

import argparse
import os
import sys
import threading
import time
import warnings

import paho.mqtt.client as mqtt


def emit(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def fail(code, message):
    sys.stderr.write(message + "\n")
    sys.stderr.flush()
    return code


def make_client(client_id, clean_session, protocol):
    """paho 2.x requires the callback API version first; VERSION1 keeps the 1.x callback signatures."""
    kwargs = dict(client_id=client_id, clean_session=clean_session, protocol=protocol)
    if hasattr(mqtt, "CallbackAPIVersion"):
        with warnings.catch_warnings():
            # paho 2.x warns that VERSION1 is deprecated; the scripts keep one code path for 1.6 and 2.x.
            warnings.simplefilter("ignore", DeprecationWarning)
            return mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, **kwargs)
    return mqtt.Client(**kwargs)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--topic", default="test/topic")
    parser.add_argument("--qos", type=int, default=1, choices=(0, 1, 2))
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--message", help="payload of every message (default: <prefix><index>)")
    parser.add_argument("--prefix", default="message-")
    parser.add_argument("--retain", action="store_true")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds for the whole run")
    parser.add_argument("--client-id", default="paho-pub-%d" % os.getpid())
    parser.add_argument("--protocol", default="3.1.1", choices=("3.1", "3.1.1"))
    return parser.parse_args()


def main():
    args = parse_args()
    protocol = mqtt.MQTTv31 if args.protocol == "3.1" else mqtt.MQTTv311
    deadline = time.monotonic() + args.timeout
    connected = threading.Event()
    disconnected = threading.Event()
    result = {}

    client = make_client(args.client_id, True, protocol)

    def on_connect(client, userdata, flags, rc):
        result["rc"] = rc
        connected.set()

    def on_disconnect(client, userdata, rc):
        disconnected.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect

    try:
        client.connect(args.host, args.port, keepalive=60)
    except OSError as error:
        return fail(3, "connect to %s:%d failed: %s" % (args.host, args.port, error))
    client.loop_start()
    try:
        if not connected.wait(max(0.0, deadline - time.monotonic())):
            return fail(2, "TIMEOUT waiting for CONNACK")
        if result["rc"] != 0:
            return fail(3, "CONNECT refused: %s" % mqtt.connack_string(result["rc"]))

        for index in range(args.count):
            payload = args.message if args.message is not None else "%s%d" % (args.prefix, index)
            info = client.publish(args.topic, payload, qos=args.qos, retain=args.retain)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return fail(3, "publish %d failed: %s" % (index, mqtt.error_string(info.rc)))
            info.wait_for_publish(timeout=max(0.0, deadline - time.monotonic()))
            if not info.is_published():
                return fail(2, "TIMEOUT waiting for publish %d (mid %d) to complete" % (index, info.mid))
            emit("PUBLISHED %d %s" % (info.mid, payload))

        client.disconnect()
        disconnected.wait(5)
        emit("DONE")
        return 0
    finally:
        client.loop_stop()


if __name__ == "__main__":
    sys.exit(main())
