#!/usr/bin/env bash
# 100,000 concurrent TCP panels over 6 nodes on one PostgreSQL on this machine. Writes
# BENCHMARKS.md between <!-- cluster-100k:begin --> and <!-- cluster-100k:end -->.
#
#   bench/cluster-100k.sh                          # 100000 panels, 6 nodes, 70 s hold
#   PANELS=6000 NODES=3 HOLD=40 bench/cluster-100k.sh   # a small try
#   NO_WRITE=1 bench/cluster-100k.sh               # print the section only
#   KEEP_DIR=/tmp/run1 bench/cluster-100k.sh       # also keep the simulators' JSON and node logs
#
# Needs a PostgreSQL server at PG_ADMIN (default postgres://postgres@127.0.0.1:5432/postgres)
# and psql; the run creates its own database and drops it (also on failure or Ctrl-C).
#
# Method: NODES `alarmhub serve` nodes (release, log filter info to a file) on one fresh
# database; one `alarmhub simulate` process per node, each holding PANELS / NODES TCP panels
# connected to its node only (so every process, node or simulator, stays under the
# open-file limit RLIMIT_NOFILE: one descriptor per connection on each side), from source
# addresses SOURCE_IPS, ramping at CONNECT_RATE panels/s in all, heartbeat every HEARTBEAT
# s and no other events after the connect reports, then a HOLD s hold. In the middle of the
# hold: each node's RSS and descriptors, the panels each node owns (ah_panel_owners), and
# the registry view of node 1 (`alarmhub machines`, i.e. ListMachines: every panel, and
# those online). Heartbeat counts (sent, ACKed, unACKed) cover the whole run plus the
# simulators' final drain. Failover time after a kill -9 is measured by bench/cluster.sh
# (at 100,000 panels the survivors of 6 nodes could not take a sixth of them each without
# passing the descriptor limit).
SIM_NAME=cluster-100k
source "$(dirname "$0")/sim-common.sh"

PG_ADMIN=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PG_BASE=${PG_ADMIN%/*}
PANELS=${PANELS:-100000}
NODES=${NODES:-6}
SOURCE_IPS=${SOURCE_IPS:-127.0.0.2-127.0.0.40}
HEARTBEAT=${HEARTBEAT:-30}
HOLD=${HOLD:-70}
CONNECT_RATE=${CONNECT_RATE:-2000}
SPARE_FDS=${SPARE_FDS:-300}
VIEW_TIMEOUT=${VIEW_TIMEOUT:-120}
command -v psql >/dev/null || die "needs psql (Debian: postgresql-client)"
timeout 10 psql "$PG_ADMIN" -Atqc 'SELECT 1' >/dev/null 2>&1 || die "no PostgreSQL at $PG_ADMIN (run .ci/postgres-setup.sh)"
((NODES >= 1 && PANELS >= NODES)) || die "need NODES >= 1 and PANELS >= NODES"

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
PER_NODE=$(((PANELS + NODES - 1) / NODES))
if [[ $NOFILE != unlimited ]] && ((PER_NODE + SPARE_FDS > NOFILE)); then
  die "$PER_NODE panels per node do not fit under RLIMIT_NOFILE $NOFILE (with $SPARE_FDS spare): use more NODES"
fi

DB="alarmhub_bench_$$_100k"
drop_db() { timeout 60 psql "$PG_ADMIN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true; }
trap 'cleanup; drop_db' EXIT
timeout 60 psql "$PG_ADMIN" -qc "CREATE DATABASE $DB" >/dev/null
URL="$PG_BASE/$DB"
sql() { timeout 60 psql "$URL" -Atqc "$1"; }

build
LIMITS=$'max_connections = 1000000\nmax_connections_per_ip = 1000000\nconnect_rate_per_source = 0\nrate_limit_per_sec = 1000\nrate_limit_burst = 1000'
addrs=() grpcs=() https=() pids=() ids=()
for i in $(seq 1 "$NODES"); do
  start_daemon "node$i" "$LIMITS" "url = \"$URL\""
  addrs+=("$DAEMON_ADDR")
  pids+=("$DAEMON_PID")
  EXTRA_PIDS+=("$DAEMON_PID")
  grpcs+=("$(jq -r 'select((.message // .fields.message) == "alarmhub ready") | (.grpc // .fields.grpc)' "$DAEMON_LOG" | head -1)")
  https+=("$(jq -r 'select((.message // .fields.message) == "alarmhub ready") | (.http // .fields.http)' "$DAEMON_LOG" | head -1)")
  ids+=("$(jq -r 'select((.message // .fields.message) == "PostgreSQL store open") | (.node // .fields.node)' "$DAEMON_LOG" | head -1)")
  DAEMON_PID=
done

ramp=$(awk -v p="$PANELS" -v r="$CONNECT_RATE" 'BEGIN { printf "%d", p / r + 1 }')
duration=$((ramp + HOLD))
log "$PANELS panels over $NODES nodes ($PER_NODE per node, one simulator each), ramp ~${ramp} s, hold ${HOLD} s, heartbeat ${HEARTBEAT} s"
outs=()
for i in $(seq 1 "$NODES"); do
  n=$PER_NODE
  ((i * PER_NODE > PANELS)) && n=$((PANELS - (i - 1) * PER_NODE))
  ((n > 0)) || continue
  RUN_SIM_BG=1 run_sim "$WORK/sim$i.json" $((duration + 120)) --target "${addrs[$((i - 1))]}" \
    --panels "$n" --source-ips "$SOURCE_IPS" --heartbeat "$HEARTBEAT" --rate 0 \
    --duration "$duration" --connect-rate $(((CONNECT_RATE + NODES - 1) / NODES)) \
    --account-prefix "K$i" --ack-timeout 10
  outs+=("$WORK/sim$i.json")
done
sleep $((ramp + HOLD / 2))

# Mid-hold samples.
rss_total=0 hwm_total=0 fds_max=0 per_node=""
for i in $(seq 1 "$NODES"); do
  p=${pids[$((i - 1))]}
  kill -0 "$p" 2>/dev/null || die "node$i exited during the hold"
  r=$(rss_mib "$p") h=$(hwm_mib "$p")
  f=$(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  o=$(sql "SELECT count(*) FROM ah_panel_owners WHERE node_id = '${ids[$((i - 1))]}'")
  rss_total=$((rss_total + r)) hwm_total=$((hwm_total + h))
  ((f > fds_max)) && fds_max=$f
  per_node+="| $i | $o | $r | $h | $f |"$'\n'
done
owners=$(sql "SELECT count(*) FROM ah_panel_owners")
t0=$(date +%s.%N)
view_all=$(timeout "$VIEW_TIMEOUT" "$BIN" --grpc "${grpcs[0]}" --json machines | wc -l || true)
view_secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
view_online=$(timeout "$VIEW_TIMEOUT" "$BIN" --grpc "${grpcs[0]}" --json machines --online true | wc -l || true)
log "mid-hold: nodes' RSS ${rss_total} MiB in all, ${owners} panels owned, node 1 lists ${view_all} (${view_online} online)"

run_sim_wait "${outs[@]}"
if [[ -n ${KEEP_DIR:-} ]]; then
  # The simulators' summaries (error samples, retransmits, ACK timeouts) and the nodes' logs.
  mkdir -p "$KEEP_DIR" && cp "$WORK"/sim*.json* "$WORK"/node*.log "$KEEP_DIR"/ 2>/dev/null || true
fi
sim_hwm=0
for o in "${outs[@]}"; do sim_hwm=$((sim_hwm + $(cat "$o.hwm"))); done
for i in $(seq 1 "$NODES"); do
  kill -TERM "${pids[$((i - 1))]}" 2>/dev/null || true
done
totals=$(jq -s -r '[ (map(.panels) | add), (map(.connected_max) | add), (map(.heartbeats_sent) | add),
  (map(.heartbeats_acked) | add), (map(.unacked) | add), (map(.connect_errors) | add), (map(.errors) | add),
  (map(.heartbeat_p99_ms) | max), (map(.acked) | add), (map(.retransmits) | add),
  (map(.ack_p50_ms) | max), (map(.ack_p99_ms) | max) ] | @tsv' "${outs[@]}")
IFS=$'\t' read -r t_panels t_conn hb_sent hb_acked unacked conn_err errors hb_p99 ev_acked \
  retransmits ev_p50 ev_p99 <<<"$totals"

section=$WORK/section.md
{
  echo "<!-- $SIM_NAME:begin -->"
  echo "## $PANELS concurrent TCP panels over $NODES nodes on one PostgreSQL (\`bench/cluster-100k.sh\`)"
  echo
  echo "Goal: 100,000 TCP panels over 6 nodes on one PostgreSQL on this machine, each node under the 20,000-descriptor limit, heartbeat every 30 s: no heartbeat unACKed, total RSS, and the registry view of one node lists every panel."
  echo
  machine_lines
  echo "- PostgreSQL: $(psql "$PG_ADMIN" -Atqc 'SHOW server_version') on the same machine; RLIMIT_NOFILE $NOFILE per process"
  echo "- Command: \`$(if [[ $PANELS != 100000 ]]; then echo "PANELS=$PANELS "; fi)$(if [[ $NODES != 6 ]]; then echo "NODES=$NODES "; fi)$(if [[ $HOLD != 70 ]]; then echo "HOLD=$HOLD "; fi)bench/cluster-100k.sh\`"
  echo "- $NODES nodes (release, log filter info to a file), one \`alarmhub simulate --target NODE --panels $PER_NODE --source-ips $SOURCE_IPS --heartbeat $HEARTBEAT --rate 0\` per node,"
  echo "  ramp ≈ $ramp s at $CONNECT_RATE panels/s in all, then a $HOLD s hold. Samples in the middle of the hold; heartbeat counts over the whole run."
  echo "- Failover time after kill -9: see \`bench/cluster.sh\` (at this size the survivors could not take the dead node's panels under the descriptor limit)."
  echo
  echo '| panels | connected (max) | panels owned (ah_panel_owners) | node 1 lists (ListMachines) | of them online | listing took s | nodes RSS MiB (sum) | nodes peak RSS MiB (sum) | simulators peak RSS MiB (sum) | most fds on a node | heartbeats sent | heartbeats unACKed | heartbeat p99 ms | connect errors | errors |'
  echo '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
  echo "| $t_panels | $t_conn | $owners | $view_all | $view_online | $view_secs | $rss_total | $hwm_total | $sim_hwm | $fds_max | $hb_sent | $((hb_sent - hb_acked)) | $hb_p99 | $conn_err | $errors |"
  echo
  echo '| node | panels owned | RSS MiB | peak RSS MiB | fds |'
  echo '|---:|---:|---:|---:|---:|'
  printf '%s' "$per_node"
  echo
  echo "Events ACKed (connect reports): $ev_acked; simulator \`unacked\` at the end: $unacked;" \
    "retransmits: $retransmits; event ACK p50 / p99 (worst simulator): $ev_p50 / $ev_p99 ms."
  echo "<!-- $SIM_NAME:end -->"
} >"$section"
write_section "$section"
