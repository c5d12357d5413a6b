#!/usr/bin/env python3
"""Eclipse paho-mqtt subscriber for SensorNode broker interop tests (paho-mqtt 1.6 and 2.x).

Like paho's classic subscribe example: connect, subscribe, print what arrives. Written for a test that
reads its stdout line by line, so every line is flushed at once:

    CONNECTED session_present=<0|1>        CONNACK accepted
    READY <granted qos,...>                SUBACK received (or, with --no-subscribe, right after CONNACK)
    MSG <topic> <qos> <retain 0|1> <payload>
    DONE received=<n>                      clean DISCONNECT sent after --count messages

Exit codes: 0 done, 2 timeout (stderr says how many messages arrived), 3 connection refused or lost,
4 bad arguments. With --stay the script never exits by itself before the timeout: the test kills it (a
will is then published). With --exit-without-disconnect it leaves after READY/--count by ending the
process without sending DISCONNECT, so the broker only sees the socket close.
"""

import argparse
import os
import sys
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
    parser.add_argument("--topic", action="append", help="topic filter (repeatable); default test/topic")
    parser.add_argument("--qos", type=int, default=1, choices=(0, 1, 2))
    parser.add_argument("--count", type=int, default=1, help="exit after this many messages (0: right after READY)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before giving up with exit code 2")
    parser.add_argument("--client-id", default="paho-sub-%d" % os.getpid())
    parser.add_argument("--no-clean-session", action="store_true", help="persistent session (clean_session=False)")
    parser.add_argument("--no-subscribe", action="store_true", help="do not subscribe (resume a persistent session)")
    parser.add_argument("--protocol", default="3.1.1", choices=("3.1", "3.1.1"))
    parser.add_argument("--keepalive", type=int, default=60)
    parser.add_argument("--will-topic")
    parser.add_argument("--will-payload", default="offline")
    parser.add_argument("--will-qos", type=int, default=0, choices=(0, 1, 2))
    parser.add_argument("--will-retain", action="store_true")
    parser.add_argument("--stay", action="store_true", help="keep the connection until killed or timed out")
    parser.add_argument("--exit-without-disconnect", action="store_true",
                        help="when done, end the process without sending DISCONNECT")
    return parser.parse_args()


def main():
    args = parse_args()
    topics = args.topic or ["test/topic"]
    protocol = mqtt.MQTTv31 if args.protocol == "3.1" else mqtt.MQTTv311
    state = {"ready": False, "received": 0, "refused": None, "disconnected": False}

    client = make_client(args.client_id, not args.no_clean_session, protocol)
    if args.will_topic:
        client.will_set(args.will_topic, args.will_payload, qos=args.will_qos, retain=args.will_retain)

    def on_connect(client, userdata, flags, rc):
        if rc != 0:
            state["refused"] = rc
            return
        emit("CONNECTED session_present=%d" % (1 if flags.get("session present") else 0))
        if args.no_subscribe:
            state["ready"] = True
            emit("READY")
        else:
            client.subscribe([(topic, args.qos) for topic in topics])

    def on_subscribe(client, userdata, mid, granted_qos):
        state["ready"] = True
        emit("READY " + ",".join(str(q) for q in granted_qos))

    def on_message(client, userdata, msg):
        state["received"] += 1
        payload = msg.payload.decode("utf-8", "replace")
        emit("MSG %s %d %d %s" % (msg.topic, msg.qos, 1 if msg.retain else 0, payload))

    def on_disconnect(client, userdata, rc):
        state["disconnected"] = True

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_disconnect = on_disconnect

    deadline = time.monotonic() + args.timeout
    try:
        client.connect(args.host, args.port, keepalive=args.keepalive)
    except OSError as error:
        return fail(3, "connect to %s:%d failed: %s" % (args.host, args.port, error))

    # The network loop runs in this thread: a message's PUBACK/PUBREC is queued as soon as on_message
    # returns, so a DISCONNECT sent after the loop below can never overtake an acknowledgement.
    while args.stay or not state["ready"] or state["received"] < args.count:
        if time.monotonic() >= deadline:
            if args.stay:
                return 0
            return fail(2, "TIMEOUT after %.1fs: ready=%s received=%d of %d"
                        % (args.timeout, state["ready"], state["received"], args.count))
        rc = client.loop(timeout=0.05)
        if state["refused"] is not None:
            return fail(3, "CONNECT refused: %s" % mqtt.connack_string(state["refused"]))
        if rc != mqtt.MQTT_ERR_SUCCESS:
            return fail(3, "connection lost: %s" % mqtt.error_string(rc))

    if args.exit_without_disconnect:
        # No DISCONNECT: the OS closes the socket when the process ends.
        emit("EXITING without DISCONNECT")
        os._exit(0)

    client.disconnect()
    flush_deadline = time.monotonic() + 5
    while not state["disconnected"] and time.monotonic() < flush_deadline:
        client.loop(timeout=0.05)
    emit("DONE received=%d" % state["received"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
