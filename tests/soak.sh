#!/usr/bin/env bash
# Long soak of the broker: the churn test of tests/SensorNode.Broker.Tests/Hardening/SoakTests.cs for
# SENSORNODE_SOAK_SECONDS (default: one hour). Usage: tests/soak.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
export SENSORNODE_SOAK_SECONDS="${1:-${SENSORNODE_SOAK_SECONDS:-3600}}"
echo "soak: ${SENSORNODE_SOAK_SECONDS} s"
dotnet test tests/SensorNode.Broker.Tests -c Release \
  --filter "FullyQualifiedName~Hardening.SoakTests" \
  --blame-hang-timeout "$(( SENSORNODE_SOAK_SECONDS + 600 ))s" \
  --logger "console;verbosity=normal"
