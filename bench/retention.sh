#!/usr/bin/env bash
# ACK latency while retention removes a large history: the same daemon setup, the same
# pre-filled store and the same `alarmhub simulate` load, once with nothing to purge
# (retention_days = 0) and once with `retention_days = 1` over a store whose history is
# mostly older than a day, so the first retention pass (at start) removes most of it
# while the panels report. Reports ACK p50/p99 side by side and the ratio.
# Writes BENCHMARKS.md between <!-- retention:begin --> and <!-- retention:end -->.
#
#   bench/retention.sh                               # 1,000,000 old events, 2000 ev/s, 30 s
#   EVENTS=100000 DURATION=5 NO_WRITE=1 bench/retention.sh   # quick check that it runs
#
# Method: `examples/seed_store` writes EVENTS events of 1000 panels spread over the 30 days
# before now; a daemon started on that store with `snapshot_secs = 1` and stopped after
# SNAP_WAIT s leaves a registry snapshot covering them (retention never removes what the
# snapshot does not cover). Both runs start from a copy of that store, with the per-connection
# rate limit raised; each run: fresh `alarmhub serve` (release), `alarmhub simulate --panels
# PANELS --rate RATE --duration DURATION+WARMUP --warmup WARMUP` on 127.0.0.1. Whether the
# purge ran through the whole measured window is read from the daemon's log (`old events
# removed` is logged when the pass ends). Every step is bounded by `timeout`.
SIM_NAME=retention
source "$(dirname "$0")/sim-common.sh"

EVENTS=${EVENTS:-1000000}
PANELS=${PANELS:-200}
RATE=${RATE:-2000}
DURATION=${DURATION:-30}
WARMUP=${WARMUP:-3}
SNAP_WAIT=${SNAP_WAIT:-4}
SEED_TIMEOUT=${SEED_TIMEOUT:-900}
SEED_BIN=$TARGET_DIR/release/examples/seed_store
LIMITS=$'rate_limit_per_sec = 100000\nrate_limit_burst = 100000\nmax_connections_per_ip = 1000000'

build
if [[ -z ${NO_BUILD:-} ]]; then
  log "building examples/seed_store (bounded to ${BUILD_TIMEOUT} s)"
  timeout "$BUILD_TIMEOUT" cargo build --release -p alarmhub --example seed_store >&2
fi
[[ -x $SEED_BIN ]] || die "missing $SEED_BIN"

log "seeding $EVENTS events of 1000 panels over the last 30 days"
t0=$SECONDS
timeout "$SEED_TIMEOUT" "$SEED_BIN" --dir "$WORK/prep-data" --panels 1000 --events "$EVENTS" >&2 \
  || die "seed_store failed or took over ${SEED_TIMEOUT} s"
seed_secs=$((SECONDS - t0))
start_daemon prep "" $'retention_days = 0\nsnapshot_secs = 1'
sleep "$SNAP_WAIT"
stop_daemon
db_mib=$(du -m "$WORK/prep-data/alarmhub.db" | cut -f1)

# run NAME STORE_KEYS: one measured run on a copy of the prepared store; appends a row.
rows=$WORK/rows.tsv
: >"$rows"
run() {
  local name=$1 keys=$2 out=$WORK/$1.json
  rm -rf "$WORK/$name-data"
  cp -a "$WORK/prep-data" "$WORK/$name-data"
  start_daemon "$name" "$LIMITS" "$keys"
  local t_start c0 c1
  t_start=$(date +%s.%N)
  c0=$(cpu_secs "$DAEMON_PID")
  log "$name: $RATE events/s from $PANELS panels for $DURATION s (after $WARMUP s warm-up)"
  run_sim "$out" $((DURATION + WARMUP + 60)) --target "$DAEMON_ADDR" --panels "$PANELS" \
    --dialect hb --rate "$RATE" --duration $((DURATION + WARMUP)) --warmup "$WARMUP" \
    --account-prefix "R$name"
  c1=$(cpu_secs "$DAEMON_PID")
  local t_end purge_line removed purge_end
  t_end=$(date +%s.%N)
  # The pass's end, relative to the daemon being ready (the pass starts then).
  purge_line=$(jq -c 'select((.message // .fields.message) == "old events removed")' "$DAEMON_LOG" | head -1)
  if [[ -z $purge_line ]]; then
    removed=$(curl_metric alarmhub_events_purged_total)
    if [[ $keys == *"retention_days = 0"* ]]; then purge_end="no purge"; else purge_end="still running at the end"; fi
  else
    removed=$(jq -r '.removed // .fields.removed' <<<"$purge_line")
    local ts
    ts=$(jq -r '.timestamp' <<<"$purge_line")
    purge_end=$(awk -v a="$t_start" -v b="$(date -d "$ts" +%s.%N)" 'BEGIN { printf "ended %.1f s after start", b - a }')
  fi
  stop_daemon
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$(j "$out" events_per_sec)" \
    "$(j "$out" acked)" "$(j "$out" ack_p50_ms)" "$(j "$out" ack_p99_ms)" "$(j "$out" ack_p999_ms)" \
    "$(j "$out" ack_max_ms)" "$(j "$out" errors)" "${removed:-0}" "$purge_end" \
    "$(awk -v a="$c0" -v b="$c1" -v t="$(awk -v a="$t_start" -v b="$t_end" 'BEGIN { print b - a }')" 'BEGIN { printf "%.0f", 100 * (b - a) / t }')" >>"$rows"
  log "  -> $(tail -1 "$rows" | tr '\t' ' ')"
}

# curl_metric NAME: one counter of the running daemon's /metrics (0 when unreadable).
curl_metric() {
  local http
  http=$(jq -r 'select((.message // .fields.message) == "alarmhub ready") | (.http // .fields.http)' "$DAEMON_LOG" | head -1)
  timeout 5 curl -s "http://$http/metrics" 2>/dev/null | awk -v n="$1" '$1 == n { printf "%d", $2; found = 1 } END { if (!found) printf "0" }'
}

run base $'retention_days = 0'
run purge $'retention_days = 1'

base_p50=$(awk -F'\t' '$1 == "base" { print $4 }' "$rows")
base_p99=$(awk -F'\t' '$1 == "base" { print $5 }' "$rows")
purge_p50=$(awk -F'\t' '$1 == "purge" { print $4 }' "$rows")
purge_p99=$(awk -F'\t' '$1 == "purge" { print $5 }' "$rows")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "n/a" }'; }

section=$WORK/section.md
{
  echo "<!-- $SIM_NAME:begin -->"
  echo "## Retention under load: ACK latency with and without a large purge"
  echo
  echo "Goal (issue 12): removing old events never holds up an ACK — p99 with a purge running within noise of p99 without."
  echo
  machine_lines
  echo "- Command: \`EVENTS=$EVENTS PANELS=$PANELS RATE=$RATE DURATION=$DURATION bench/retention.sh\`"
  echo "- Store: \`examples/seed_store\` wrote $EVENTS events of 1000 panels over the last 30 days (${seed_secs} s; database ${db_mib} MiB),"
  echo "  then a daemon with \`snapshot_secs = 1\` left a registry snapshot covering them. Each run starts from a copy of that store:"
  echo "  *base* with \`retention_days = 0\` (nothing removed), *purge* with \`retention_days = 1\` (the pass at start removes the ~29/30"
  echo "  of the history older than a day, as README \"Stored events\" describes: on SQLite in steps of the writer's spare time)."
  echo "- Load: \`alarmhub simulate --panels $PANELS --dialect hb --rate $RATE --duration $((DURATION + WARMUP)) --warmup $WARMUP\` on 127.0.0.1 against a"
  echo "  fresh \`alarmhub serve\` (release, SQLite WAL + synchronous=FULL, per-connection rate limit raised). Latency: first"
  echo "  transmission to ACK. *purge*: when the pass logged \`old events removed\` (after the daemon was ready), or that it was still running."
  echo
  echo "| run | achieved ev/s | ACKed | p50 ms | p99 ms | p99.9 ms | max ms | errors | events removed | purge | daemon CPU % |"
  echo '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|'
  awk -F'\t' '{ printf "| %s | %.0f | %d | %.2f | %.2f | %.2f | %.2f | %d | %d | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 }' "$rows"
  echo
  echo "Ratio purge/base: p50 **$(ratio "$base_p50" "$purge_p50")×**, p99 **$(ratio "$base_p99" "$purge_p99")×**."
  echo "<!-- $SIM_NAME:end -->"
} >"$section"
write_section "$section"
