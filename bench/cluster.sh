#!/usr/bin/env bash
# PostgreSQL against SQLite, and failover between nodes. Writes BENCHMARKS.md between
# <!-- cluster:begin --> and <!-- cluster:end -->.
#
#   bench/cluster.sh                     # default steps
#   RATES="1000 4000" DURATION=10 bench/cluster.sh
#   NO_WRITE=1 bench/cluster.sh          # print the section only
#
# Needs a PostgreSQL server at PG_ADMIN (default postgres://postgres@127.0.0.1:5432/postgres,
# what .ci/postgres-setup.sh starts) and psql; each run creates and drops its own databases.
#
# Method:
# 1. One node, same simulator, side by side in one run: for each offered rate a fresh
#    daemon on a fresh SQLite data directory, then a fresh daemon on a fresh PostgreSQL
#    database (the server's own durability settings: fsync on, synchronous_commit on), PANELS
#    Hengbo panels, Poisson arrivals, one frame in flight per panel. Durable events/s and
#    ACK latency as the simulator measures them.
# 2. Failover: NODES nodes on one database, FO_PANELS panels from `simulate --target A,B,…`
#    at FO_RATE events/s; after the panels are up, SIGKILL of node A. Measured from the kill:
#    until every panel that was on A is owned by another node (reconnected and ONLINE stored;
#    read from ah_panel_owners every 100 ms), and until A's lease expired and it was reaped.
#    The simulator must end with every event ACKed.
SIM_NAME=cluster
source "$(dirname "$0")/sim-common.sh"

PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
PANELS=${PANELS:-1000}
DURATION=${DURATION:-20}
RATES=${RATES:-"1000 2000 4000"}
WARMUP=${WARMUP:-$(awk -v p="$PANELS" 'BEGIN { printf "%d", p / 2000 + 4 }')}
NODES=${NODES:-3}
FO_PANELS=${FO_PANELS:-300}
FO_RATE=${FO_RATE:-300}
FO_DURATION=${FO_DURATION:-45}
command -v psql >/dev/null || die "needs psql (Debian: postgresql-client)"
psql "$PG_ADMIN" -Atqc 'SELECT 1' >/dev/null 2>&1 || die "no PostgreSQL at $PG_ADMIN (run .ci/postgres-setup.sh)"

DBS=()
drop_dbs() {
  local d
  for d in "${DBS[@]}"; do
    psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1 || true
  done
}
trap 'drop_dbs; cleanup' EXIT
# new_db NAME: a fresh database, its URL in DB_URL (not echoed: in a command substitution
# the name would be recorded in a subshell and the database never dropped).
new_db() {
  local name="alarmhub_bench_$$_$1"
  psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null
  psql "$PG_ADMIN" -qc "CREATE DATABASE $name" >/dev/null
  DBS+=("$name")
  DB_URL="$PG_BASE/$name"
}

build
LIMITS=$'rate_limit_per_sec = 100000\nrate_limit_burst = 100000\nmax_connections_per_ip = 1000000\nconnect_rate_per_source = 0'
rows=$WORK/rows.tsv
: >"$rows"
for rate in $RATES; do
  for backend in sqlite postgres; do
    store=""
    if [[ $backend == postgres ]]; then
      new_db "r$rate"
      store="url = \"$DB_URL\""
    fi
    start_daemon "$backend$rate" "$LIMITS" "$store"
    log "$backend: offered $rate events/s, $PANELS panels, $DURATION s"
    out=$WORK/$backend$rate.json
    run_sim "$out" $((DURATION + WARMUP + 60)) --target "$DAEMON_ADDR" --panels "$PANELS" \
      --rate "$rate" --duration $((DURATION + WARMUP)) --warmup "$WARMUP" --account-prefix "B$rate"
    stop_daemon
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rate" "$backend" "$(j "$out" events_per_sec)" \
      "$(j "$out" ack_p50_ms)" "$(j "$out" ack_p99_ms)" "$(j "$out" ack_max_ms)" "$(j "$out" errors)" >>"$rows"
  done
done

# Failover.
new_db failover
url=$DB_URL
addrs=()
pids=()
logs=()
for i in $(seq 1 "$NODES"); do
  start_daemon "node$i" "$LIMITS" "url = \"$url\""
  addrs+=("$DAEMON_ADDR")
  pids+=("$DAEMON_PID")
  logs+=("$DAEMON_LOG")
  EXTRA_PIDS+=("$DAEMON_PID")
  DAEMON_PID=
done
node_a=$(jq -r 'select((.message // .fields.message) == "PostgreSQL store open") | (.node // .fields.node)' "${logs[0]}" | head -1)
[[ -n $node_a ]] || die "no node id in node1's log"
targets=$(IFS=,; echo "${addrs[*]}")
fo=$WORK/failover.json
RUN_SIM_BG=1 run_sim "$fo" $((FO_DURATION + 60)) --target "$targets" --panels "$FO_PANELS" \
  --rate "$FO_RATE" --duration "$FO_DURATION" --heartbeat 30 --account-prefix FO
db=${url##*/}
owned() { psql "$PG_BASE/$db" -Atqc "SELECT count(*) FILTER (WHERE node_id = '$node_a'), count(*) FROM ah_panel_owners"; }
deadline=$((SECONDS + 60))
until [[ $(owned | cut -d'|' -f2) == "$FO_PANELS" ]]; do
  ((SECONDS < deadline)) || die "the panels did not all come up"
  sleep 0.2
done
sleep 5
on_a=$(owned | cut -d'|' -f1)
log "killing node1 ($node_a, $on_a panels)"
t0=$(date +%s.%N)
kill -KILL "${pids[0]}"
moved="" reaped=""
deadline=$((SECONDS + 90))
while [[ -z $moved || -z $reaped ]] && ((SECONDS < deadline)); do
  counts=$(owned)
  now=$(date +%s.%N)
  if [[ -z $moved && ${counts%%|*} == 0 && ${counts##*|} == "$FO_PANELS" ]]; then
    moved=$(awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.1f", b - a }')
  fi
  if [[ -z $reaped && $(psql "$PG_BASE/$db" -Atqc "SELECT count(*) FROM ah_nodes WHERE node_id = '$node_a'") == 0 ]]; then
    reaped=$(awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.1f", b - a }')
  fi
  sleep 0.1
done
run_sim_wait "$fo"
stored=$(psql "$PG_BASE/$db" -Atqc "SELECT count(*), count(DISTINCT dedup_key) FROM ah_events WHERE source = 'panel'")

section=$WORK/section.md
{
  echo '<!-- cluster:begin -->'
  echo '## PostgreSQL vs SQLite, and failover (`bench/cluster.sh`)'
  echo
  machine_lines
  echo "- PostgreSQL: $(psql "$PG_ADMIN" -Atqc 'SHOW server_version') on the same machine (fsync $(psql "$PG_ADMIN" -Atqc 'SHOW fsync'), synchronous_commit on, wal_sync_method $(psql "$PG_ADMIN" -Atqc 'SHOW wal_sync_method')); SQLite WAL, synchronous=FULL"
  echo "- One node: $PANELS Hengbo panels, ${DURATION} s per step after ${WARMUP} s warm-up, simulator on the same machine"
  echo
  echo '| offered ev/s | store | durable ev/s | ACK p50 ms | ACK p99 ms | ACK max ms | errors |'
  echo '|---:|---|---:|---:|---:|---:|---:|'
  awk -F'\t' '{ printf "| %s | %s | %.0f | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }' "$rows"
  echo
  echo "Failover: $NODES nodes, $FO_PANELS panels (\`--target\` over all nodes, $FO_RATE ev/s, heartbeat 30 s); node 1 held $on_a panels when it got SIGKILL."
  echo
  echo '| measured from the kill | seconds |'
  echo '|---|---:|'
  echo "| every panel of the dead node owned by another node (reconnected, ONLINE stored) | ${moved:-not within 90 s} |"
  echo "| the dead node's lease expired and it was reaped | ${reaped:-not within 90 s} |"
  echo
  echo "Simulator: sent $(j "$fo" sent), ACKed $(j "$fo" acked), ACK p99 $(j "$fo" ack_p99_ms) ms, max $(j "$fo" ack_max_ms) ms; stored panel events / distinct dedup keys: ${stored/|/ / } (exactly once when both are equal and the ACKed events not stored, $(( $(j "$fo" acked) - ${stored%|*} )), are at most the type reports repeating the type on record: one per connection ($(j "$fo" connections)) and per command ($(j "$fo" commands)), README \"Panel state\")."
  echo '<!-- cluster:end -->'
} >"$section"
write_section "$section"
