#!/usr/bin/env bash
# Measures the broker's resident memory (VmRSS) idle and with N clients connected and subscribed.
#   deploy/measure-memory.sh [EXECUTABLE] [N]
# EXECUTABLE defaults to artifacts/publish/linux-x64/sensornode-broker (dotnet publish broker/SensorNode.Broker.Host
# -p:PublishProfile=linux-x64); N defaults to 1000. Needs node and tests/websocket/node_modules (npm ci there).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exe="${1:-$root/artifacts/publish/linux-x64/sensornode-broker}"
n="${2:-1000}"
port=18999
data="$(mktemp -d)"
log="$data/broker.log"

rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

"$exe" --port "$port" --bind 127.0.0.1 --data-dir "$data" --sys-interval 10 --log-level Warning >"$log" 2>&1 &
broker=$!
trap 'kill "$broker" 2>/dev/null || true; [ -n "${holder:-}" ] && kill "$holder" 2>/dev/null || true; rm -rf "$data"' EXIT
sleep 5
idle=$(rss "$broker")
echo "idle: ${idle} KiB"

node "$root/tests/websocket/hold-connections.mjs" "mqtt://127.0.0.1:$port" "$n" >"$data/holder.log" 2>&1 &
holder=$!
for _ in $(seq 1 120); do grep -q CONNECTED "$data/holder.log" && break; sleep 1; done
grep -q CONNECTED "$data/holder.log" || { echo "clients did not connect:"; cat "$data/holder.log"; exit 1; }
sleep 5
loaded=$(rss "$broker")
echo "with $n connections: ${loaded} KiB"
echo "per connection: $(( (loaded - idle) * 1024 / n )) bytes"
