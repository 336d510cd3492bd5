#!/usr/bin/env bash
# Many idle panels on one `alarmhub serve`: 100,000 panels from 127.0.0.2–127.0.0.40,
# heartbeat every 30 s, no other events after the connect reports. Reports the daemon's
# memory (VmRSS/VmHWM from /proc), open connections, and heartbeats left unACKed.
# Writes BENCHMARKS.md between <!-- sim-connections:begin --> and <!-- sim-connections:end -->.
#
#   bench/sim-connections.sh                  # 100000 panels, 70 s hold after the ramp
#   PANELS=20000 HOLD=40 bench/sim-connections.sh
#   NO_WRITE=1 bench/sim-connections.sh
#
# Part A, TCP: one simulator process, one connection per panel. Every connection costs a
# file descriptor in the simulator and in the daemon, so the number of panels is capped by
# the open-file hard limit (RLIMIT_NOFILE) of this shell: when it is below PANELS, part A
# runs the most panels that fit and the section says why. Part B, UDP: the daemon serves
# every UDP panel from one socket, so all PANELS panels fit; they are split over as many
# simulator processes as the per-process limit needs (one UDP socket per panel), started
# together, ramping at 2000 panels/s in all. The samples are taken in the middle of the hold.
SIM_NAME=sim-connections
source "$(dirname "$0")/sim-common.sh"

PANELS=${PANELS:-100000}
SOURCE_IPS=${SOURCE_IPS:-127.0.0.2-127.0.0.40}
HEARTBEAT=${HEARTBEAT:-30}
HOLD=${HOLD:-70}
CONNECT_RATE=${CONNECT_RATE:-2000}
SPARE_FDS=${SPARE_FDS:-300}

build
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
limit_note=
if [[ $NOFILE != unlimited ]] && ((NOFILE < PANELS + SPARE_FDS)); then
  TCP_PANELS=$((NOFILE - SPARE_FDS))
  limit_note="RLIMIT_NOFILE hard limit is $NOFILE here and cannot be raised (no CAP_SYS_RESOURCE in this VM, prlimit/ulimit -Hn refused), so one process holds at most ~$TCP_PANELS TCP connections (the daemon needs one descriptor per connection too)"
  log "$limit_note"
else
  TCP_PANELS=$PANELS
fi
PER_PROC=$PANELS
if [[ $NOFILE != unlimited ]] && ((NOFILE < PANELS + SPARE_FDS)); then PER_PROC=$((NOFILE - SPARE_FDS)); fi
PROCS=$(((PANELS + PER_PROC - 1) / PER_PROC))

metric() { # metric HTTP_ADDR NAME: a gauge from /metrics (0 when absent)
  { exec 3<>"/dev/tcp/${1%:*}/${1##*:}" &&
    printf 'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3 &&
    timeout 5 cat <&3; } 2>/dev/null | awk -v n="$2" '$1 == n { v = $2 } END { print v + 0 }'
}

# part NAME TRANSPORT_FLAG PANELS PROCS: run, sample in the middle of the hold, summarise
# into $WORK/NAME.tsv: panels procs connected_max conns_open rss hwm sim_hwm hb_sent
# hb_acked unacked connect_errors errors fds events_acked
part() {
  local name=$1 flag=$2 panels=$3 procs=$4
  start_daemon "$name" $'max_connections = 1000000\nmax_connections_per_ip = 1000000\nconnect_rate_per_source = 0\nrate_limit_per_sec = 1000\nrate_limit_burst = 1000'
  local http ramp duration per i outs=()
  http=$(jq -r 'select((.message // .fields.message) == "alarmhub ready") | (.http // .fields.http)' "$DAEMON_LOG" | head -1)
  ramp=$(awk -v p="$panels" -v r="$CONNECT_RATE" 'BEGIN { printf "%d", p / r + 1 }')
  duration=$((ramp + HOLD))
  per=$(((panels + procs - 1) / procs))
  log "$name: $panels panels in $procs process(es), ramp ~${ramp} s, hold ${HOLD} s, heartbeat ${HEARTBEAT} s"
  for i in $(seq 1 "$procs"); do
    local n=$per
    ((i * per > panels)) && n=$((panels - (i - 1) * per))
    RUN_SIM_BG=1 run_sim "$WORK/$name-$i.json" $((duration + 120)) --target "$DAEMON_ADDR" $flag \
      --panels "$n" --source-ips "$SOURCE_IPS" --heartbeat "$HEARTBEAT" --rate 0 \
      --duration "$duration" --connect-rate $((CONNECT_RATE / procs)) --account-prefix "${name:0:1}$i" \
      --ack-timeout 10
    outs+=("$WORK/$name-$i.json")
  done
  sleep $((ramp + HOLD / 2))
  local rss hwm conns fds sim_hwm=0 o
  rss=$(rss_mib "$DAEMON_PID")
  hwm=$(hwm_mib "$DAEMON_PID")
  fds=$(find "/proc/$DAEMON_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  conns=$(metric "$http" alarmhub_connections_open)
  log "$name: mid-hold daemon RSS ${rss} MiB (peak ${hwm}), ${conns} TCP connections open, ${fds} fds"
  run_sim_wait "${outs[@]}"
  for o in "${outs[@]}"; do sim_hwm=$((sim_hwm + $(cat "$o.hwm"))); done
  hwm=$(hwm_mib "$DAEMON_PID")
  stop_daemon
  jq -s --arg rss "$rss" --arg hwm "$hwm" --arg conns "$conns" --arg sh "$sim_hwm" --arg fds "$fds" \
    --arg procs "$procs" -r '
    [ (map(.panels) | add), ($procs | tonumber), (map(.connected_max) | add), ($conns | tonumber),
      ($rss | tonumber), ($hwm | tonumber), ($sh | tonumber),
      (map(.heartbeats_sent) | add), (map(.heartbeats_acked) | add), (map(.unacked) | add),
      (map(.connect_errors) | add), (map(.errors) | add), ($fds | tonumber), (map(.acked) | add),
      (map(.heartbeat_p99_ms) | max) ] | @tsv' "${outs[@]}" >"$WORK/$name.tsv"
  log "$name: $(tr '\t' ' ' <"$WORK/$name.tsv")"
}

part tcp "" "$TCP_PANELS" 1
part udp "--udp" "$PANELS" "$PROCS"

row() { # row NAME LABEL
  awk -F'\t' -v l="$2" '{ printf "| %s | %d | %d | %d | %s | %d | %d | %.0f | %d | %d | %d | %d | %.1f | %d | %d |\n",
    l, $1, $2, $3, (l ~ /UDP/) ? "—" : $4, $5, $6, ($5 * 1024) / ($3 > 0 ? $3 : 1), $7, $14, $8, $8 - $9, $15, $11, $12 }' "$WORK/$1.tsv"
}
section=$WORK/section.md
{
  echo "<!-- $SIM_NAME:begin -->"
  echo "## Simulated panels: 100,000 idle connections"
  echo
  echo "Goal: 100,000 panels connected to one daemon, heartbeat every 30 s, from source addresses $SOURCE_IPS; daemon memory and unACKed heartbeats."
  echo
  machine_lines
  echo "- Command: \`$(if [[ $PANELS != 100000 ]]; then echo "PANELS=$PANELS "; fi)$(if [[ $HOLD != 70 ]]; then echo "HOLD=$HOLD "; fi)bench/sim-connections.sh\`"
  echo "- Daemon: \`alarmhub serve\` (release, fresh store, log filter info to a file), max_connections raised. Simulator:"
  echo "  \`alarmhub simulate --panels N --source-ips $SOURCE_IPS --heartbeat $HEARTBEAT --rate 0 --connect-rate $CONNECT_RATE\` (ramp"
  echo "  ≈ N / $CONNECT_RATE s, then a $HOLD s hold: every panel reports status and type at connect, answers the type query, then"
  echo "  sends a NULL after each $HEARTBEAT s of silence). Memory, open connections (\`alarmhub_connections_open\`) and file"
  echo "  descriptors are sampled in the middle of the hold; heartbeat counts cover the whole run plus the final drain."
  if [[ -n $limit_note ]]; then
    echo "- **100,000 TCP connections were not reachable here:** $limit_note. Part B shows 100,000 panels as UDP"
    echo "  sessions (the daemon keeps one session per panel address but needs no descriptor per panel), split over $PROCS simulator processes."
  fi
  echo
  echo "| transport | panels | simulator processes | connected (max) | TCP connections open | daemon RSS MiB | daemon peak RSS MiB | daemon KiB per panel | simulator peak RSS MiB (sum) | events ACKed | heartbeats sent | heartbeats unACKed | heartbeat p99 ms | connect errors | errors |"
  echo '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
  row tcp "TCP"
  row udp "UDP"
  echo
  echo "Daemon file descriptors in the middle of the hold: TCP $(cut -f13 "$WORK/tcp.tsv"), UDP $(cut -f13 "$WORK/udp.tsv")."
  echo "<!-- $SIM_NAME:end -->"
} >"$section"
write_section "$section"
