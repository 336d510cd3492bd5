#!/usr/bin/env bash
# Restart time of `alarmhub serve` with a large store (goal: ready in <= 2 s for
# 100k panels / 1M events), written into BENCHMARKS.md between
# <!-- restore:begin --> and <!-- restore:end --> (other sections are left alone).
#
#   bench/restore.sh                      # 100000 panels, 1000000 events, 3 runs
#   PANELS=1000 EVENTS=10000 RUNS=1 bench/restore.sh   # quick smoke run
#   NO_WRITE=1 bench/restore.sh          # print the section, leave BENCHMARKS.md alone
#
# Method: build release; seed a fresh store with `examples/seed_store` (no snapshot);
# then RUNS times: copy the seeded store, start the daemon on it (a) cold = full replay of
# every event, stop it with SIGTERM (it writes a registry snapshot at shutdown), start it
# again (b) after the clean shutdown = snapshot load, nothing to replay, stop it again.
# For each start: the "registry restored" log fields (panels, replayed_events, seconds),
# the wall time from launching the process to the timestamp of its "alarmhub ready" line,
# peak RSS (VmHWM from /proc/<pid>/status, read after ready) and SIGTERM-to-exit time.
# The page cache is warm (the store was just copied); caches are not dropped.
# Every step is bounded by `timeout` or a polling limit.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
ROOT=$(pwd)

PANELS=${PANELS:-100000}
EVENTS=${EVENTS:-1000000}
RUNS=${RUNS:-3}
GOAL_SECS=${GOAL_SECS:-2}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-3600}
SEED_TIMEOUT=${SEED_TIMEOUT:-1800}
READY_TIMEOUT=${READY_TIMEOUT:-300}
STOP_TIMEOUT=${STOP_TIMEOUT:-120}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BENCH_FILE=${BENCH_FILE:-$ROOT/BENCHMARKS.md}

for tool in jq awk timeout; do
  command -v "$tool" >/dev/null || { echo "restore.sh: needs $tool" >&2; exit 2; }
done

log() { printf '[restore] %s\n' "$*" >&2; }
CLK_TCK=$(getconf CLK_TCK)

log "building release (bounded to ${BUILD_TIMEOUT} s)"
timeout "$BUILD_TIMEOUT" cargo build --release -p alarmhub --examples --bins
BIN=$TARGET_DIR/release/alarmhub
SEED=$TARGET_DIR/release/examples/seed_store
[[ -x $BIN && -x $SEED ]] || { echo "restore.sh: missing $BIN or $SEED" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/alarmhub-restore.XXXXXX")
DAEMON_PID=
cleanup() {
  if [[ -n $DAEMON_PID ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -KILL "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

log "seeding $PANELS panels / $EVENTS events into $WORK/seed"
seed_t0=$(date +%s.%N)
timeout "$SEED_TIMEOUT" "$SEED" --dir "$WORK/seed" --panels "$PANELS" --events "$EVENTS"
seed_secs=$(awk -v a="$seed_t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
db_mib=$(du -sm "$WORK/seed" | awk '{ print $1 }')
log "seeded in ${seed_secs} s, store ${db_mib} MiB"

# Start the daemon on $1 (data dir), wait for ready, read VmHWM, SIGTERM it, wait for exit.
# Appends to $3: panels replayed_events restore_secs ready_wall_secs vmhwm_kib stop_secs
#                cpu_secs_until_ready loadavg_1min
# (runs in this shell, not a subshell, so the EXIT trap can always reap the daemon).
run_once() {
  local dir=$1 name=$2 out=$3
  local cfg=$WORK/$name.toml errlog=$WORK/$name.log
  cat >"$cfg" <<EOF
[panel]
listen = "127.0.0.1:0"
udp = false
[grpc]
listen = "127.0.0.1:0"
[http]
listen = "127.0.0.1:0"
[store]
data_dir = "$dir"
[log]
format = "json"
filter = "info"
EOF
  local t0 ready_ts ready_line hwm cpu load stop_t0 stop_secs deadline
  t0=$(date +%s.%N)
  env -u RUST_LOG "$BIN" serve --config "$cfg" --log-format json 2>"$errlog" >/dev/null &
  DAEMON_PID=$!
  deadline=$((SECONDS + READY_TIMEOUT))
  until grep -q '"alarmhub ready"' "$errlog" 2>/dev/null; do
    if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
      echo "restore.sh: alarmhub exited before ready; log:" >&2; tail -20 "$errlog" >&2; exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "restore.sh: no 'alarmhub ready' within ${READY_TIMEOUT} s" >&2; exit 1
    fi
    sleep 0.01
  done
  hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$DAEMON_PID/status")
  # CPU time (user + system, all threads) used up to ready: less sensitive than wall time
  # to other load on the machine. The command name has no spaces, so fields are stable.
  cpu=$(awk -v hz="$CLK_TCK" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$DAEMON_PID/stat")
  load=$(cut -d' ' -f1 /proc/loadavg)
  stop_t0=$(date +%s.%N)
  kill -TERM "$DAEMON_PID"
  deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$DAEMON_PID" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "restore.sh: alarmhub did not stop within ${STOP_TIMEOUT} s of SIGTERM" >&2; exit 1
    fi
    sleep 0.01
  done
  wait "$DAEMON_PID" || { echo "restore.sh: alarmhub exited with $?" >&2; exit 1; }
  DAEMON_PID=
  stop_secs=$(awk -v a="$stop_t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  ready_line=$(jq -c 'select((.message // .fields.message) == "alarmhub ready")' "$errlog" | head -1)
  ready_ts=$(jq -r '.timestamp' <<<"$ready_line")
  local ready_epoch
  ready_epoch=$(date -d "$ready_ts" +%s.%N)
  local row
  row=$(jq -r --arg t0 "$t0" --arg ready "$ready_epoch" --arg hwm "$hwm" --arg stop "$stop_secs" \
      --arg cpu "$cpu" --arg load "$load" '
      select((.message // .fields.message) == "registry restored")
      | (.fields // .) as $f
      | [$f.panels, $f.replayed_events, $f.seconds,
         (($ready | tonumber) - ($t0 | tonumber)), ($hwm | tonumber), ($stop | tonumber),
         ($cpu | tonumber), ($load | tonumber)]
      | @tsv' "$errlog" | head -1)
  [[ -n $row ]] || { echo "restore.sh: no 'registry restored' line in $name" >&2; exit 1; }
  printf '%s\n' "$row" >>"$out"
  log "  $name: panels, replayed, restore s, ready s, VmHWM KiB, stop s, CPU s, load: ${row//$'\t'/, }"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
minmax() { sort -g | awk -v f="${1:-%.3f}" 'NR == 1 { lo = $1 } { hi = $1 } END { printf f "–" f, lo, hi }'; }

: >"$WORK/cold.tsv"
: >"$WORK/warm.tsv"
for i in $(seq 1 "$RUNS"); do
  rm -rf "$WORK/run"
  cp -a "$WORK/seed" "$WORK/run"
  log "run $i/$RUNS: cold start (full replay), then a start after a clean SIGTERM shutdown"
  run_once "$WORK/run" "cold$i" "$WORK/cold.tsv"
  run_once "$WORK/run" "warm$i" "$WORK/warm.tsv"
done

# Sanity: cold runs replay every event, snapshot runs replay nothing, all see every panel.
awk -F'\t' -v p="$PANELS" -v e="$EVENTS" '$1 != p || $2 != e { bad = 1 } END { exit bad }' "$WORK/cold.tsv" \
  || { echo "restore.sh: a cold run did not restore $PANELS panels / replay $EVENTS events:" >&2; cat "$WORK/cold.tsv" >&2; exit 1; }
awk -F'\t' -v p="$PANELS" '$1 != p || $2 != 0 { bad = 1 } END { exit bad }' "$WORK/warm.tsv" \
  || { echo "restore.sh: a snapshot run replayed events or lost panels:" >&2; cat "$WORK/warm.tsv" >&2; exit 1; }

col() { cut -f"$2" "$1"; }
row_md() {
  local f=$1 label=$2 restore ready hwm stop cpu load verdict
  restore=$(col "$f" 3 | median)
  ready=$(col "$f" 4 | median)
  hwm=$(col "$f" 5 | median)
  stop=$(col "$f" 6 | median)
  cpu=$(col "$f" 7 | median)
  load=$(col "$f" 8 | minmax %.1f)
  verdict=$(awk -v r="$ready" -v g="$GOAL_SECS" 'BEGIN { print (r <= g) ? "met" : "**missed**" }')
  printf '| %s | %s | %s | %.3f (%s) | %.3f (%s) | %.2f | %.0f | %.2f | %s | %s |\n' \
    "$label" "$(col "$f" 1 | head -1)" "$(col "$f" 2 | head -1)" \
    "$restore" "$(col "$f" 3 | minmax)" "$ready" "$(col "$f" 4 | minmax)" "$cpu" \
    "$(awk -v k="$hwm" 'BEGIN { print k / 1024 }')" "$stop" "$load" "$verdict"
}

cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
fs=$(df -T "$WORK" | awk 'NR == 2 { print $2 }')
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || rev="$rev + uncommitted changes"

section=$WORK/section.md
{
  echo '<!-- restore:begin -->'
  echo '## Restart time: registry restore'
  echo
  echo "Goal: \`alarmhub serve\` ready in ≤ ${GOAL_SECS} s with 100k panels / 1M stored events."
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $rev"
  echo "- Machine: $(nproc) CPUs ($cpu), $mem RAM, kernel $(uname -r), store on $fs"
  echo "- Store: $PANELS panels, $EVENTS events ($db_mib MiB), seeded by \`examples/seed_store\` in $seed_secs s"
  echo "  (per panel: ONLINE, type 1737, status 3400/1400, then 1130 alarms each followed by its 3130 restore on zones 1..999, an arm/disarm now and then; interleaved across panels)"
  echo "- Command: \`PANELS=$PANELS EVENTS=$EVENTS RUNS=$RUNS bench/restore.sh\` (release build, \`alarmhub serve\` on 127.0.0.1:0)"
  echo "- Method: each run copies the seeded store, starts the daemon (cold: no snapshot, every event replayed), stops it with SIGTERM"
  echo "  (it writes a registry snapshot), starts it again (snapshot: nothing to replay) and stops it again. *restore* is the"
  echo "  \`seconds\` field of the \"registry restored\" log line; *ready* is the wall time from launching the process to the"
  echo "  timestamp of its \"alarmhub ready\" line; peak RSS is VmHWM read after ready; *stop* is SIGTERM to exit (includes"
  echo "  writing the snapshot); *CPU s* is user+system time of the daemon up to ready (all threads, /proc/<pid>/stat);"
  echo "  *load avg* is the 1-minute load average when ready (min–max): other work on the machine inflates wall times."
  echo "  Medians of $RUNS runs, min–max in brackets. Warm page cache (caches are not dropped)."
  echo
  echo '| start | panels | replayed events | restore s (min–max) | ready s (min–max) | CPU s to ready | peak RSS MiB | stop s | load avg | ready ≤ '"$GOAL_SECS"' s |'
  echo '|---|---:|---:|---:|---:|---:|---:|---:|---|---|'
  row_md "$WORK/cold.tsv" "cold (full replay)"
  row_md "$WORK/warm.tsv" "after clean shutdown (snapshot)"
  echo '<!-- restore:end -->'
} >"$section"

bench_write_section restore "$section"
