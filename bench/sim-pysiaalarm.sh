#!/usr/bin/env bash
# alarmhub against pysiaalarm (the DC-09 receiver behind Home Assistant's `sia`
# integration), both driven by `alarmhub simulate --dialect dc09-cid` at the same time:
# throughput when saturated, and ACK latency at a moderate fixed rate.
# Writes BENCHMARKS.md between <!-- sim-pysiaalarm:begin --> and <!-- sim-pysiaalarm:end -->.
#
#   bench/sim-pysiaalarm.sh            # 20 s per phase, 1000 panels each
#   DURATION=10 PANELS=200 bench/sim-pysiaalarm.sh
#   NO_WRITE=1 bench/sim-pysiaalarm.sh
#
# Setup: a throwaway venv with `pip install pysiaalarm` (PYSIA_VERSION pins a version),
# bench/pysiaalarm/server.py = pysiaalarm's asyncio TCP server on 127.0.0.1 with the
# simulator's accounts (hex: A000001 …, no key); `alarmhub serve` with a fresh store.
# Phases, each with both receivers driven by two simulators started together:
#   1. side by side, saturated: --rate far above what either can take; each panel keeps one
#      frame in flight, so the ACKed rate is the receiver's capacity under shared CPUs.
#   2. side by side, fixed rate MODERATE events/s: ACK latency.
#   3. and 4. each receiver saturated alone (the other idle), for an unshared comparison.
# The panels send `R0` (`--receiver-number 0`): pysiaalarm echoes a missing R token as the
# text "None", which no DC-09 parser accepts. pysiaalarm ACKs before its callback and stores
# nothing; alarmhub ACKs only after the event is committed to disk.
SIM_NAME=sim-pysiaalarm
source "$(dirname "$0")/sim-common.sh"

PANELS=${PANELS:-1000}
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-4}
SATURATE=${SATURATE:-50000}
MODERATE=${MODERATE:-1000}
PIP_TIMEOUT=${PIP_TIMEOUT:-300}
command -v python3 >/dev/null || die "needs python3"

build
log "creating a venv and installing pysiaalarm${PYSIA_VERSION:+==$PYSIA_VERSION} (bounded to ${PIP_TIMEOUT} s)"
python3 -m venv "$WORK/venv" >&2
timeout "$PIP_TIMEOUT" "$WORK/venv/bin/pip" install -q --disable-pip-version-check \
  "pysiaalarm${PYSIA_VERSION:+==$PYSIA_VERSION}" >&2 || die "pip install pysiaalarm failed"
PYSIA_VER=$("$WORK/venv/bin/python" -c 'import importlib.metadata as m; print(m.version("pysiaalarm"))')
PY_VER=$("$WORK/venv/bin/python" -c 'import platform; print(platform.python_version())')

PY_PID=
PY_ADDR=
start_pysia() {
  local max=$((4 * (DURATION + WARMUP) + 600))
  "$WORK/venv/bin/python" "$ROOT/bench/pysiaalarm/server.py" --port 0 --prefix A --count "$PANELS" \
    --max-seconds "$max" >"$WORK/pysia.out" 2>"$WORK/pysia.err" &
  PY_PID=$!
  EXTRA_PIDS+=("$PY_PID")
  local deadline=$((SECONDS + 30))
  until grep -q '^ready' "$WORK/pysia.out" 2>/dev/null; do
    kill -0 "$PY_PID" 2>/dev/null || { cat "$WORK/pysia.err" >&2; die "pysiaalarm server exited"; }
    ((SECONDS < deadline)) || die "pysiaalarm server not ready within 30 s"
    sleep 0.1
  done
  PY_ADDR=127.0.0.1:$(awk '/^ready/ { print $2; exit }' "$WORK/pysia.out")
}

start_daemon hub $'rate_limit_per_sec = 100000\nrate_limit_burst = 100000\nmax_connections_per_ip = 1000000'
start_pysia
log "alarmhub on $DAEMON_ADDR, pysiaalarm $PYSIA_VER on $PY_ADDR"

sim_args() { # sim_args TARGET RATE PREFIX
  echo --target "$1" --panels "$PANELS" --dialect dc09-cid --receiver-number 0 --rate "$2" \
    --duration $((DURATION + WARMUP)) --warmup "$WARMUP" --account-prefix "$3"
}
rows=$WORK/rows.tsv
: >"$rows"
# phase KEY NAME RATE WHO...: run the simulators for WHO (hub, py) together; one row per
# receiver. KEY names the files, NAME is the label in the table.
phase() {
  local key=$1 name=$2 rate=$3
  shift 3
  local who pids=() c0h c0p c1h c1p
  c0h=$(cpu_secs "$DAEMON_PID")
  c0p=$(cpu_secs "$PY_PID")
  for who in "$@"; do
    local target=$DAEMON_ADDR
    [[ $who == py ]] && target=$PY_ADDR
    # shellcheck disable=SC2046
    RUN_SIM_BG=1 run_sim "$WORK/$key-$who.json" $((DURATION + WARMUP + 60)) $(sim_args "$target" "$rate" A)
  done
  local outs=()
  for who in "$@"; do outs+=("$WORK/$key-$who.json"); done
  run_sim_wait "${outs[@]}"
  c1h=$(cpu_secs "$DAEMON_PID")
  c1p=$(cpu_secs "$PY_PID")
  for who in "$@"; do
    local o=$WORK/$key-$who.json cpu label
    if [[ $who == hub ]]; then cpu=$(awk -v a="$c0h" -v b="$c1h" -v t="$(j "$o" elapsed_s)" 'BEGIN { printf "%.0f", 100 * (b - a) / t }'); label="alarmhub"
    else cpu=$(awk -v a="$c0p" -v b="$c1p" -v t="$(j "$o" elapsed_s)" 'BEGIN { printf "%.0f", 100 * (b - a) / t }'); label="pysiaalarm $PYSIA_VER"; fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$label" "$rate" "$(j "$o" events_per_sec)" \
      "$(j "$o" acked)" "$(j "$o" ack_p50_ms)" "$(j "$o" ack_p99_ms)" "$(j "$o" ack_max_ms)" \
      "$(j "$o" retransmits)" "$(j "$o" errors)" "$cpu" "$(cat "$o.cpu")" >>"$rows"
    log "  $name $label: $(j "$o" events_per_sec) ev/s, p99 $(j "$o" ack_p99_ms) ms, errors $(j "$o" errors)"
  done
}

log "phase 1: both saturated, side by side"
phase p1 "side by side, saturated" "$SATURATE" hub py
log "phase 2: both at $MODERATE events/s, side by side"
phase p2 "side by side, $MODERATE ev/s" "$MODERATE" hub py
log "phase 3: alarmhub alone, saturated"
phase p3 "alone, saturated" "$SATURATE" hub
log "phase 4: pysiaalarm alone, saturated"
phase p4 "alone, saturated" "$SATURATE" py

kill -TERM "$PY_PID" 2>/dev/null || true
for _ in $(seq 1 50); do kill -0 "$PY_PID" 2>/dev/null || break; sleep 0.1; done
py_events=$(grep '^{' "$WORK/pysia.out" | jq -r .events 2>/dev/null || echo "?")
stop_daemon

tput() { awk -F'\t' -v p="$1" -v l="$2" '$1 == p && index($2, l) == 1 { print $4 }' "$rows"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f×", a / b; else print "—" }'; }
side_ratio=$(ratio "$(tput "side by side, saturated" alarmhub)" "$(tput "side by side, saturated" pysiaalarm)")
alone_ratio=$(ratio "$(tput "alone, saturated" alarmhub)" "$(tput "alone, saturated" pysiaalarm)")

section=$WORK/section.md
{
  echo "<!-- $SIM_NAME:begin -->"
  echo "## Simulated panels: alarmhub vs pysiaalarm (DC-09 Contact ID)"
  echo
  machine_lines
  echo "- Command: \`$(if [[ $PANELS != 1000 ]]; then echo "PANELS=$PANELS "; fi)$(if [[ $DURATION != 20 ]]; then echo "DURATION=$DURATION "; fi)bench/sim-pysiaalarm.sh\`"
  echo "- pysiaalarm $PYSIA_VER (pip, throwaway venv, Python $PY_VER): its asyncio TCP server (\`bench/pysiaalarm/server.py\`), $PANELS hex"
  echo "  accounts, callback only counts. **pysiaalarm ACKs without storing anything**; alarmhub ACKs after the event is committed"
  echo "  to SQLite with fsync (fresh store, rate limit per connection raised, log filter info to a file)."
  echo "- Load: \`alarmhub simulate --panels $PANELS --dialect dc09-cid --receiver-number 0 --rate R\`, $DURATION s measured after a"
  echo "  $WARMUP s warm-up, one simulator per receiver, started together. Saturated = R $SATURATE ev/s: every panel keeps one frame"
  echo "  in flight, so the ACKed rate is what the receiver sustains. Everything shares the $(nproc) CPUs (two simulators, two"
  echo "  receivers), which is why the receivers are also measured alone. CPU % = user+system over the phase (100 % = one core)."
  echo "- \`R0\`: pysiaalarm 3.2.2 answers a frame without an R token with \`\"ACK\"0001NoneL0#…\` (it prints Python's None), which"
  echo "  alarmhub's and DC-09 parsers reject, so the simulated panels send \`R0\` here."
  echo
  echo '| phase | receiver | offered ev/s | ACKed ev/s | ACKed | p50 ms | p99 ms | max ms | retransmits | errors | receiver CPU % | simulator CPU s |'
  echo '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
  awk -F'\t' '{ printf "| %s | %s | %d | %.0f | %d | %.2f | %.2f | %.2f | %d | %d | %d | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12 }' "$rows"
  echo
  echo "**Throughput ratio alarmhub / pysiaalarm: $side_ratio side by side (saturated), $alone_ratio each alone** — with alarmhub"
  echo "doing an fsync'd commit before each ACK and pysiaalarm storing nothing. pysiaalarm's callback saw $py_events events over"
  echo "all phases, warm-ups included (it has no duplicate detection: a retransmitted frame would be delivered again)."
  echo "<!-- $SIM_NAME:end -->"
} >"$section"
write_section "$section"
