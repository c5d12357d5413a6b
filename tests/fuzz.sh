#!/usr/bin/env bash
# Coverage-guided fuzzing of the SharpFuzz targets in tests/SensorNode.Fuzz with AFL++.
# Usage: tests/fuzz.sh [seconds-per-target] [target...]   (default: 3600 s each, every target)
# Installs afl++ (Debian) and the SharpFuzz.CommandLine dotnet tool when missing, builds Release, instruments the
# broker and firmware core assemblies, and runs afl-fuzz on each target from its committed corpus. Findings land in
# TestResults/fuzz/<target>/default/{crashes,hangs}; copy a crash input into tests/SensorNode.Fuzz/corpus/<target>/
# and the unit tests (Hardening.FuzzCorpusTests) keep it as a regression.
# Exit status: 0 no findings, 1 crashes or hangs found, 3 the fuzzer could not be set up or did not run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-3600}"
shift || true
targets=("$@")
[ "${#targets[@]}" -eq 0 ] && targets=(decoder-v311 decoder-v500 acl passwd firmware-config broker-config)

setup_failed() { echo "fuzz: setup failed: $*"; exit 3; }
if ! command -v afl-fuzz >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq || setup_failed "apt-get update"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends afl++ || setup_failed "apt-get install afl++"
fi
tools="$PWD/TestResults/fuzz/tools"
if [ ! -x "$tools/sharpfuzz" ]; then
  dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$tools" || setup_failed "dotnet tool install SharpFuzz.CommandLine"
fi

out="$PWD/TestResults/fuzz/bin"
rm -rf "$out"
dotnet publish tests/SensorNode.Fuzz -c Release -o "$out" -v q || setup_failed "dotnet publish"
for dll in SensorNode.Broker.dll SensorNode.Firmware.Core.dll; do
  "$tools/sharpfuzz" "$out/$dll" || setup_failed "instrumenting $dll"
done

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_SKIP_BIN_CHECK=1 AFL_NO_AFFINITY=1
status=0
for target in "${targets[@]}"; do
  findings="$PWD/TestResults/fuzz/$target"
  rm -rf "$findings"
  mkdir -p "$findings"
  echo "fuzz: $target for ${seconds}s"
  timeout --preserve-status "$((seconds + 30))" afl-fuzz -V "$seconds" -t 5000 -m none \
    -i "tests/SensorNode.Fuzz/corpus/$target" -o "$findings" -- dotnet "$out/SensorNode.Fuzz.dll" "$target" \
    >"$findings/afl.log" 2>&1 || true
  if [ ! -f "$findings/default/fuzzer_stats" ]; then
    tail -n 30 "$findings/afl.log"
    setup_failed "afl-fuzz did not run $target"
  fi
  crashes=$(find "$findings/default/crashes" -type f -name 'id:*' 2>/dev/null | wc -l)
  hangs=$(find "$findings/default/hangs" -type f -name 'id:*' 2>/dev/null | wc -l)
  echo "fuzz: $target: $crashes crashes, $hangs hangs"
  # FUZZ_HANGS_FAIL=0 (CI): a hang on a loaded machine is reported, not failed; a crash always fails.
  if [ "$crashes" -gt 0 ] || { [ "$hangs" -gt 0 ] && [ "${FUZZ_HANGS_FAIL:-1}" != 0 ]; }; then status=1; fi
done
exit "$status"
