#!/usr/bin/env bash
# Notification benchmarks, written into BENCHMARKS.md between <!-- notify:begin --> and
# <!-- notify:end --> (other sections are left alone):
#   * panel ACK → webhook received, at 100 alarms/s (goal: p99 ≤ 200 ms);
#   * 1,000 alarms/s into a webhook: panel ACK latency with notifications off and on, same run.
#
#   bench/notify.sh                       # SECS=10 at 100/s, FAST_SECS=5 at 1,000/s
#   SECS=5 FAST_SECS=3 bench/notify.sh     (each alarm holds two sockets in this process)
#   PROFILE=debug bench/notify.sh         # a debug build (say so: numbers are not release ones)
#   NO_WRITE=1 bench/notify.sh            # print the section, leave BENCHMARKS.md alone
#
# Method: `cargo run --example notify_e2e_bench` (crates/alarmhub/examples/notify_e2e_bench.rs):
# `serve` in the bench process (real SQLite store with fsync, alarm engine, outbox, dispatcher,
# loopback sockets), one Hengbo host per alarm (its own account and TCP connection, connected
# before the clock starts), one burglary each at a steady rate, and a local webhook.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."

BUILD_TIMEOUT=${BUILD_TIMEOUT:-1800}
RUN_TIMEOUT=${RUN_TIMEOUT:-900}
SECS=${SECS:-10}
FAST_SECS=${FAST_SECS:-5}
PROFILE=${PROFILE:-release}
flag=--release
[[ $PROFILE == debug ]] && flag=
bin=target/$PROFILE/examples/notify_e2e_bench

timeout "$BUILD_TIMEOUT" cargo build $flag -q -p alarmhub --example notify_e2e_bench
ulimit -n 65536 2>/dev/null || true
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s)
rows100=$(timeout "$RUN_TIMEOUT" "$bin" 100 "$SECS")
rows1000=$(timeout "$RUN_TIMEOUT" "$bin" 1000 "$FAST_SECS")
took=$(($(date +%s) - start))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

section=$(mktemp)
trap 'rm -f "$section"' EXIT
{
  echo '<!-- notify:begin -->'
  echo '## Notifications'
  echo
  echo 'Goal (issue #16): panel ACK → webhook received p99 ≤ 200 ms at 100 alarms/s; 1,000 alarms/s'
  echo 'into a webhook without slowing panel ACKs (ACK p99 unchanged within noise, same run with and'
  echo 'without notifications).'
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $rev"
  echo "- Machine: $(nproc) CPUs shared with other builds, kernel $(uname -r); load average $load_before before, $load_after after"
  echo "- Toolchain: $(rustc -V), $PROFILE profile"
  echo "- Command: \`bench/notify.sh\` → \`$bin 100 $SECS\` and \`$bin 1000 $FAST_SECS\` (${took} s)"
  echo '- Method: `serve` runs inside the bench process (real SQLite store with fsync, alarm engine, outbox,'
  echo '  dispatcher, loopback TCP). One Hengbo host per alarm (its own account and connection, connected'
  echo '  before the clock starts) reports one burglary (1130) at its slot of a steady rate; it notes when its'
  echo '  ACK arrives. A local webhook (same process, `concurrency = 16`) notes when the `alarm.opened` of each'
  echo '  account arrives. Each rate runs twice on fresh data directories, notifications off then on; "ACK →'
  echo '  webhook" is from the ACK reaching the host to the webhook request reaching the receiver.'
  echo
  echo '| notifications | rate | alarms ACKed | ACK p50 ms | ACK p99 ms | ACK max ms | ACK → webhook p50 ms | p99 ms | max ms | not delivered |'
  echo '|---|---|---|---|---|---|---|---|---|---|'
  echo "$rows100"
  echo "$rows1000"
  echo '<!-- notify:end -->'
} >"$section"
bench_write_section notify "$section"
