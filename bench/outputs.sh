#!/usr/bin/env bash
# Output benchmarks, written into BENCHMARKS.md between <!-- outputs:begin --> and
# <!-- outputs:end --> (other sections are left alone):
#   * Sur-Gard drain rate of a 100,000-event backlog against an always-ACKing central station;
#   * commit → Sur-Gard message and commit → MQTT state message latency at 100 events/s.
#
#   bench/outputs.sh                     # BACKLOG=100000 EVENTS=1000
#   BACKLOG=20000 EVENTS=500 bench/outputs.sh
#   NO_WRITE=1 bench/outputs.sh          # print the section, leave BENCHMARKS.md alone
#
# Method: `cargo run --release --example outputs_bench` (crates/alarmhub/examples/
# outputs_bench.rs): in-memory event log and cursors, the real output code, a scripted central
# station over loopback TCP in the same process, and the Mosquitto on 127.0.0.1:1883 for MQTT
# (.ci/mosquitto-setup.sh starts one; the row says so when none answers).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

BUILD_TIMEOUT=${BUILD_TIMEOUT:-1800}
RUN_TIMEOUT=${RUN_TIMEOUT:-900}
export BACKLOG=${BACKLOG:-100000}
export EVENTS=${EVENTS:-1000}

timeout "$BUILD_TIMEOUT" cargo build --release -q -p alarmhub --example outputs_bench
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
table=$(timeout "$RUN_TIMEOUT" target/release/examples/outputs_bench)
took=$(($(date +%s) - start))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

section=$(mktemp)
trap 'rm -f "$section"' EXIT
{
  echo '<!-- outputs:begin -->'
  echo '## Outputs: Sur-Gard drain rate, commit → Sur-Gard / MQTT latency'
  echo
  echo 'Goal (issue #17): panel ACK → MQTT state message and → Sur-Gard message p99 at 100 events/s;'
  echo 'drain rate of a 100,000-event automation backlog against an always-ACKing central station.'
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $rev"
  echo "- Machine: $(nproc) CPUs, kernel $(uname -r); load average $load_before before, $load_after after the run"
  echo "- Toolchain: $(rustc -V), release profile"
  echo "- Command: \`bench/outputs.sh\` → \`target/release/examples/outputs_bench\` (BACKLOG=$BACKLOG, EVENTS=$EVENTS; ${took} s)"
  echo '- Method: the real output code over an in-memory event log and cursor store; "commit" is the append to'
  echo '  the log, the moment the daemon ACKs the panel after its durable write, so the store write itself is'
  echo '  not included. The central station is a task in the same process over loopback TCP that ACKs every'
  echo '  message at once (one message outstanding at a time, as the protocol requires); MQTT goes through the'
  echo '  machine'"'"'s Mosquitto with QoS 1, 100 panels armed and disarmed in turn so every event changes a state.'
  echo
  echo "$table"
  echo '<!-- outputs:end -->'
} >"$section"
bench_write_section outputs "$section"
