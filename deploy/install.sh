#!/usr/bin/env bash
# Installs (or updates) the SensorNode broker as a systemd service. Idempotent: run it again to update the
# executable and the unit; the configuration and the data are never overwritten.
#
#   sudo deploy/install.sh [--from DIR] [--prefix DIR] [--dry-run] [--no-start]
#
#   --from DIR    directory of the published broker: sensornode-broker and libe_sqlite3.so
#                 (default: the directory of this script if it holds them, else artifacts/publish/<this machine's RID>-aot
#                 when it exists, else artifacts/publish/<RID>)
#   --prefix DIR  install below DIR instead of / (a test or packaging root): no user, no chown, no systemctl
#   --dry-run     print every command instead of running it
#   --no-start    install and enable, but do not (re)start the service
#
# What it does:
#   1. system user and group "sensornode" (no login, home /var/lib/sensornode)
#   2. /opt/sensornode/sensornode-broker (+ libe_sqlite3.so) and the link /usr/local/bin/sensornode-broker
#   3. /var/lib/sensornode (data, 0750, owned by sensornode)
#   4. /etc/sensornode/broker.json from deploy/broker.json, only if there is none yet; then check-config
#   5. /etc/systemd/system/sensornode-broker.service, daemon-reload, enable, restart
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$script_dir/.." && pwd)"
from=""
prefix=""
dry_run=0
start=1

while [ $# -gt 0 ]; do
  case "$1" in
    --from) from="$2"; shift 2 ;;
    --prefix) prefix="${2%/}"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    --no-start) start=0; shift ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

run() {
  if [ "$dry_run" -eq 1 ]; then
    echo "+ $*"
  else
    "$@"
  fi
}

if [ -z "$from" ]; then
  if [ -x "$script_dir/sensornode-broker" ]; then
    from="$script_dir"
  else
    case "$(uname -m)" in
      aarch64|arm64) rid=linux-arm64 ;;
      armv7l|armv6l|arm*) rid=linux-arm ;;
      *) rid=linux-x64 ;;
    esac
    # The Native AOT publish (linux-x64-aot, linux-arm64-aot) when there is one: less memory, no JIT.
    if [ -x "$repo_root/artifacts/publish/$rid-aot/sensornode-broker" ]; then
      from="$repo_root/artifacts/publish/$rid-aot"
    else
      from="$repo_root/artifacts/publish/$rid"
    fi
  fi
fi
if [ ! -f "$from/sensornode-broker" ]; then
  echo "install.sh: $from/sensornode-broker not found." >&2
  echo "  Publish first: dotnet publish broker/SensorNode.Broker.Host -p:PublishProfile=linux-arm64 (or linux-arm, linux-x64)," >&2
  echo "  or pass --from DIR." >&2
  exit 1
fi

if [ -z "$prefix" ] && [ "$dry_run" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo), or use --prefix DIR / --dry-run" >&2
  exit 1
fi

opt="$prefix/opt/sensornode"
data="$prefix/var/lib/sensornode"
etc="$prefix/etc/sensornode"
unit_dir="$prefix/etc/systemd/system"
bin_dir="$prefix/usr/local/bin"
system=1
[ -n "$prefix" ] && system=0

# 1. The service user.
if [ "$system" -eq 1 ]; then
  if id -u sensornode >/dev/null 2>&1; then
    echo "user sensornode exists"
  else
    run useradd --system --user-group --home-dir /var/lib/sensornode --no-create-home --shell /usr/sbin/nologin sensornode
  fi
else
  echo "prefix install: skipping the sensornode user"
fi

# 2. The executable (replaced atomically: a running broker keeps its old file until restarted).
run install -d -m 0755 "$opt" "$bin_dir"
for file in "$from"/sensornode-broker "$from"/*.so; do
  [ -e "$file" ] || continue
  name="$(basename "$file")"
  run install -m 0755 "$file" "$opt/.$name.new"
  run mv -f "$opt/.$name.new" "$opt/$name"
done
run ln -sfn /opt/sensornode/sensornode-broker "$bin_dir/sensornode-broker"

# 3. The data directory.
run install -d -m 0750 "$data"
[ "$system" -eq 1 ] && run chown sensornode:sensornode "$data"

# 4. The configuration: installed once, then the operator's.
run install -d -m 0755 "$etc"
if [ -e "$etc/broker.json" ]; then
  echo "keeping $etc/broker.json"
else
  run install -m 0640 "$script_dir/broker.json" "$etc/broker.json"
  [ "$system" -eq 1 ] && run chown root:sensornode "$etc/broker.json"
fi
if [ "$dry_run" -eq 0 ] && [ "$system" -eq 1 ]; then
  "$opt/sensornode-broker" check-config --config "$etc/broker.json"
fi

# 5. The unit.
run install -d -m 0755 "$unit_dir"
run install -m 0644 "$script_dir/sensornode-broker.service" "$unit_dir/sensornode-broker.service"
if [ "$system" -eq 1 ] && command -v systemctl >/dev/null 2>&1; then
  run systemctl daemon-reload
  run systemctl enable sensornode-broker.service
  if [ "$start" -eq 1 ]; then
    run systemctl restart sensornode-broker.service
    echo "sensornode-broker is running: systemctl status sensornode-broker; journalctl -u sensornode-broker -f"
  fi
else
  echo "not starting the service (prefix install or no systemctl)"
fi
echo "installed: $opt/sensornode-broker, config $etc/broker.json, data $data, unit $unit_dir/sensornode-broker.service"

# Listening on the network, the broker refuses clients without a user name: say how to add the first user, unless
# the configuration (comment lines aside) already lets clients log in: a users file, anonymous access, or client
# certificates.
logins_configured() {
  [ -e "$etc/broker.json" ] && sed 's#^[[:space:]]*//.*##' "$etc/broker.json" \
    | grep -Eq '"passwordFile"[[:space:]]*:|"allowAnonymous"[[:space:]]*:[[:space:]]*true|"clientCertificates"[[:space:]]*:[[:space:]]*"(required|optional)"'
}
if ! logins_configured; then
  echo "next: MQTT is open to the network and refuses clients without a user name, and no users file is configured."
  echo "  add users as the service's user: sudo -u sensornode /opt/sensornode/sensornode-broker passwd add /var/lib/sensornode/users NAME"
  echo "  then set \"security\": { \"passwordFile\": \"/var/lib/sensornode/users\" } in $etc/broker.json (or \"allowAnonymous\": true)"
  echo "  and restart: systemctl restart sensornode-broker (users added later are picked up without a restart)"
fi
