# Shared by bench/sim-*.sh (sourced, not run): build, start/stop `alarmhub serve` on
# loopback, run `alarmhub simulate`, machine facts, and rewrite one marked section of
# BENCHMARKS.md. Every wait is bounded; the EXIT trap always reaps what was started.
# Expects SIM_NAME (section name, e.g. sim-throughput) to be set by the caller.

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${SIM_NAME:?bench/sim-common.sh is sourced by the bench/sim-*.sh scripts, not run on its own}"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BENCH_FILE=${BENCH_FILE:-$ROOT/BENCHMARKS.md}
BIN=$TARGET_DIR/release/alarmhub
BUILD_TIMEOUT=${BUILD_TIMEOUT:-3600}
READY_TIMEOUT=${READY_TIMEOUT:-60}
CLK_TCK=$(getconf CLK_TCK)

log() { printf '[%s] %s\n' "$SIM_NAME" "$*" >&2; }
die() { printf '%s: %s\n' "$SIM_NAME" "$*" >&2; exit 1; }

for tool in jq awk timeout; do
  command -v "$tool" >/dev/null || die "needs $tool"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/alarmhub-$SIM_NAME.XXXXXX")
DAEMON_PID=
DAEMON_ADDR=
DAEMON_LOG=
EXTRA_PIDS=()
cleanup() {
  local p
  for p in "${EXTRA_PIDS[@]}" $DAEMON_PID; do
    if kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p" 2>/dev/null || true
      sleep 0.5
      kill -KILL "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

# NO_BUILD=1: use the release binaries already in the target directory as they are.
build() {
  if [[ -z ${NO_BUILD:-} ]]; then
    log "building release (bounded to ${BUILD_TIMEOUT} s)"
    timeout "$BUILD_TIMEOUT" cargo build --release -p alarmhub --bins >&2
  fi
  [[ -x $BIN ]] || die "missing $BIN"
}

# start_daemon NAME [extra [panel] lines] [extra [store] lines]: fresh data dir, loopback
# port 0; sets DAEMON_PID, DAEMON_ADDR (panel address) and DAEMON_LOG. DAEMON_BIN, when set,
# is the daemon binary to start instead of this tree's (the simulator is always this tree's).
start_daemon() {
  local name=$1 panel_extra=${2:-} store_extra=${3:-}
  local cfg=$WORK/$name.toml
  DAEMON_LOG=$WORK/$name.log
  cat >"$cfg" <<EOF
[panel]
listen = "127.0.0.1:0"
# Every simulated panel comes from 127.0.0.1: no per-source limit on new accounts.
max_new_accounts_per_source_per_min = 0
$panel_extra
[grpc]
listen = "127.0.0.1:0"
[http]
listen = "127.0.0.1:0"
[store]
data_dir = "$WORK/$name-data"
$store_extra
[log]
format = "json"
filter = "info"
EOF
  env -u RUST_LOG "${DAEMON_BIN:-$BIN}" serve --config "$cfg" --log-format json 2>"$DAEMON_LOG" >/dev/null &
  DAEMON_PID=$!
  local deadline=$((SECONDS + READY_TIMEOUT))
  until grep -q '"alarmhub ready"' "$DAEMON_LOG" 2>/dev/null; do
    kill -0 "$DAEMON_PID" 2>/dev/null || { tail -20 "$DAEMON_LOG" >&2; die "alarmhub exited before ready"; }
    ((SECONDS < deadline)) || die "no 'alarmhub ready' within ${READY_TIMEOUT} s"
    sleep 0.05
  done
  DAEMON_ADDR=$(jq -r 'select((.message // .fields.message) == "alarmhub ready") | (.panel // .fields.panel)' \
    "$DAEMON_LOG" | head -1)
  [[ -n $DAEMON_ADDR ]] || die "no panel address in the ready line"
}

stop_daemon() {
  [[ -n $DAEMON_PID ]] || return 0
  kill -TERM "$DAEMON_PID" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$DAEMON_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
  kill -KILL "$DAEMON_PID" 2>/dev/null || true
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=
}

# User + system CPU seconds of a live process (all threads).
cpu_secs() { awk -v hz="$CLK_TCK" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"; }
# Resident memory of a live process in MiB: current and peak.
rss_mib() { awk '/^VmRSS:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
hwm_mib() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

# Busy CPU seconds of the whole machine (all CPUs, /proc/stat: user, nice, system, irq and softirq;
# not idle, iowait or the hypervisor's steal, which lib.sh's steal_ticks counts on its own).
machine_busy_secs() {
  awk -v hz="$CLK_TCK" '$1 == "cpu" { printf "%.2f", ($2 + $3 + $4 + $7 + $8) / hz; exit }' /proc/stat
}

# fsync_probe DIR: p50 of 50 × (4 KiB write + fsync) in DIR, in ms (needs python3; "?" otherwise).
fsync_probe() {
  command -v python3 >/dev/null || { echo "?"; return 0; }
  timeout 60 python3 - "$1" <<'PY' 2>/dev/null || echo "?"
import os, sys, time
p = os.path.join(sys.argv[1], "fsync-probe.bin")
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
lat = []
for i in range(50):
    os.pwrite(fd, b"x" * 4096, i * 4096)
    t = time.perf_counter_ns(); os.fsync(fd); lat.append(time.perf_counter_ns() - t)
os.close(fd); os.unlink(p)
print(f"{sorted(lat)[len(lat) // 2] / 1e6:.2f}")
PY
}

# run_sim OUT SECS_LIMIT ARGS...: run `alarmhub simulate --json ARGS`, bounded; the JSON
# summary goes to OUT, the simulator's own CPU seconds to OUT.cpu, its peak RSS (MiB) to
# OUT.hwm, stderr to OUT.err. Runs in the background when RUN_SIM_BG is set (then call
# run_sim_wait OUT).
run_sim() {
  local out=$1 limit=$2
  shift 2
  local t0
  t0=$(date +%s.%N)
  timeout -k 5 "$limit" "$BIN" simulate --json "$@" >"$out.stdout" 2>"$out.err" &
  local pid=$!
  EXTRA_PIDS+=("$pid")
  echo "$pid" >"$out.pid"
  echo "$t0" >"$out.t0"
  [[ -n ${RUN_SIM_BG:-} ]] && return 0
  run_sim_wait "$out"
}

# run_sim_wait OUT...: wait for simulators started with RUN_SIM_BG, sampling their CPU time
# and peak RSS together until each exits; then check and keep each JSON summary.
run_sim_wait() {
  local out alive=1 child c h
  while ((alive)); do
    alive=0
    for out in "$@"; do
      kill -0 "$(cat "$out.pid")" 2>/dev/null || continue
      alive=1
      child=$(pgrep -P "$(cat "$out.pid")" | head -1 || true)
      [[ -n $child ]] || continue
      c=$(cpu_secs "$child" 2>/dev/null || true)
      h=$(hwm_mib "$child" 2>/dev/null || true)
      [[ -n $c ]] && echo "$c" >"$out.cpu"
      [[ -n $h ]] && echo "$h" >"$out.hwm"
    done
    ((alive)) && sleep 0.2
  done
  for out in "$@"; do
    local rc=0
    wait "$(cat "$out.pid")" 2>/dev/null || rc=$?
    [[ -f $out.cpu ]] || echo 0 >"$out.cpu"
    [[ -f $out.hwm ]] || echo 0 >"$out.hwm"
    tail -1 "$out.stdout" >"$out"
    jq -e . "$out" >/dev/null 2>&1 || { tail -5 "$out.err" >&2; die "simulate gave no JSON summary (exit $rc)"; }
    awk -v a="$(cat "$out.t0")" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", b - a }' >"$out.wall"
  done
  return 0
}

# write_section FILE: this scenario's section of BENCHMARKS.md (see bench/lib.sh).
write_section() { bench_write_section "$SIM_NAME" "$1"; }

# j FILE KEY: one value of a JSON summary.
j() { jq -r ".$2" "$1"; }
