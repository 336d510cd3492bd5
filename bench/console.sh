#!/usr/bin/env bash
# Web console benchmarks (issue #15), written to the `console` section of BENCHMARKS.md:
#
# 1. Panel ACK → alarm visible in the browser: `alarmhub simulate` runs 1,000 Hengbo panels
#    whose event mix carries about ALARM_RATE (default 100) alarm events/s for SECS (default
#    30) s; headless Chromium (Debian's, driven by playwright-core) has the alarm queue open
#    and a MutationObserver notes when each new alarm row appears. Latency = row visible −
#    the alarm's opened_at_ms (the receive time of its first event, which precedes the ACK,
#    so this is an upper bound of ACK → visible). An alarm row appears once per account (later
#    alarm events attach to the open alarm), so the samples are the ~1,000 new alarms.
# 2. Queue first paint with 10,000 open alarms among 100,000 panels (examples/console_seed
#    ingests them through the daemon's own Ingest call): navigation to /#/queue → first row
#    painted, ROUNDS (default 5) fresh pages.
#
# PROFILE=release (default debug: the CI machine is shared; say which in the table).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
SECS="${SECS:-30}"
ALARM_RATE="${ALARM_RATE:-100}"
ROUNDS="${ROUNDS:-5}"
PROFILE="${PROFILE:-debug}"
flag=(); [[ $PROFILE == release ]] && flag=(--release)
cargo build "${flag[@]}" -q -p alarmhub --bin alarmhub --example console_seed
bin="target/$PROFILE/alarmhub"
node_dir="$(timeout 1800 bash .ci/browser-setup.sh)"
work="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
PW="bench password 1"

start_daemon() { # NAME -> sets http, grpc, panel
  local dir="$work/$1"; mkdir -p "$dir"
  cat > "$dir/alarmhub.toml" <<TOML
[panel]
listen = "127.0.0.1:0"
rate_limit_per_sec = 100000
rate_limit_burst = 100000
# Every simulated panel comes from 127.0.0.1: no per-source limit on new accounts.
max_new_accounts_per_source_per_min = 0
[grpc]
listen = "127.0.0.1:0"
[http]
listen = "127.0.0.1:0"
[store]
data_dir = "$dir/data"
TOML
  printf '%s\n' "$PW" | "$bin" user add op --role operator --password-stdin --data-dir "$dir/data" >/dev/null
  RUST_LOG=info "$bin" serve --config "$dir/alarmhub.toml" --log-format json 2> "$dir/log" &
  pids+=($!)
  for _ in $(seq 1 200); do grep -q '"alarmhub ready"' "$dir/log" && break; sleep 0.1; done
  local ready; ready="$(grep '"alarmhub ready"' "$dir/log")"
  http="$(sed -E 's/.*"http":"([^"]+)".*/\1/' <<<"$ready")"
  grpc="$(sed -E 's/.*"grpc":"([^"]+)".*/\1/' <<<"$ready")"
  panel="$(sed -E 's/.*"panel":"([^"]+)".*/\1/' <<<"$ready")"
}
console_get() { # DIR PATH: GET a console API path as user op
  curl -sf -b "$work/$1/cookie" "http://$http$2"
}
console_login() { # DIR
  curl -sf -c "$work/$1/cookie" -H 'content-type: application/json' \
    -d "{\"name\":\"op\",\"password\":\"$PW\"}" "http://$http/console/api/login" >/dev/null
}

# --- 1. ACK → visible ---
start_daemon live
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
# The simulator's mix: about 1 event in 3 is an alarm (alarms, their restores, troubles,
# arming, tests); the rate is measured below, not assumed.
EVENT_RATE="${EVENT_RATE:-$((ALARM_RATE * 3))}"
(cd "$node_dir" && timeout $((SECS + 200)) node bench.mjs latency "http://$http" op "$PW" $((SECS + 15)) > "$work/latency.json" 2> "$work/latency.err") &
bpid=$!; pids+=($bpid)
for _ in $(seq 1 300); do grep -q ready "$work/latency.err" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$work/latency.err" || { cat "$work/latency.err" >&2; exit 1; }
sim="$(timeout $((SECS + 120)) "$bin" simulate --target "$panel" --panels 1000 --rate "$EVENT_RATE" --duration "$SECS" --json | tail -1)"
wait "$bpid" || { cat "$work/latency.err" >&2; exit 1; }
latency="$(cat "$work/latency.json")"
console_login live
alarm_events="$(console_get live '/console/api/alarms?state=&page_size=1000' | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(sum(a["event_count"] for a in d["alarms"]), len(d["alarms"]))')"
echo "simulate: $sim"
echo "browser: $latency"
echo "alarm events, alarms: $alarm_events"

# --- 2. first paint with 10,000 open alarms, 100,000 panels ---
start_daemon paint
seed="$(timeout 600 "target/$PROFILE/examples/console_seed" --grpc "$grpc" --panels 100000 --alarms 10000)"
echo "seed: $seed"
console_login paint
open=0
for _ in $(seq 1 600); do
  open="$(console_get paint /console/api/dashboard | python3 -c 'import json,sys; print(json.load(sys.stdin).get("open_total", 0))')"
  [[ $open -ge 10000 ]] && break; sleep 0.5
done
echo "open alarms: $open"
paint="$(cd "$node_dir" && timeout 600 node bench.mjs paint "http://$http" op "$PW" "$ROUNDS")"
echo "paint: $paint"
page_bytes="$(console_get paint '/console/api/alarms?page_size=100' | wc -c)"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$sim" "$latency" "$alarm_events" "$paint" "$open" "$page_bytes" "$SECS" "$PROFILE" "$load_before" "$load_after" "$ALARM_RATE" "$EVENT_RATE" > "$work/section.md" <<'PY'
import json, sys, platform, os, subprocess
sim, lat, ae, paint, open_, page_bytes, secs, profile, lb, la, ar, er = sys.argv[1:13]
sim = json.loads(sim); lat = json.loads(lat); paint = json.loads(paint)
events, alarms = (int(x) for x in ae.split())
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
chromium = subprocess.run(["/usr/bin/chromium", "--headless", "--version"], capture_output=True, text=True).stdout.strip()
r = paint["rounds"]
print("<!-- console:begin -->")
print("## Web console (`bench/console.sh`)\n")
print(f"Machine: {os.cpu_count()} CPUs ({cpu}), shared with other work; load average {lb} before, {la} after. "
      f"alarmhub {profile} build; {chromium}, headless, driven by playwright-core, on the same machine.\n")
print("**Panel ACK → alarm visible in the browser.** `alarmhub simulate` with 1,000 Hengbo panels over TCP "
      f"for {secs} s at {er} events/s (the simulator's mix: alarms, restores, troubles, arming, tests); the "
      "queue page is open in Chromium and a MutationObserver notes when each new alarm row appears. Latency = "
      "row visible − the alarm's `opened_at_ms` (the receive time of the event that opened it, which precedes "
      "the ACK: an upper bound of ACK → visible). Later alarm events of an account attach to its open alarm "
      "(no new row), so the samples are the new alarms.\n")
print("| alarm events/s (measured) | events/s acked | panel ACK p50 / p99 (simulator) | new alarm rows | visible p50 | p95 | p99 | max | target |")
print("|---|---|---|---|---|---|---|---|---|")
print(f"| {events / float(secs):.0f} ({events} in {alarms} alarms) | {sim.get('events_per_sec', '?')} | "
      f"{sim.get('ack_p50_ms', '?')} / {sim.get('ack_p99_ms', '?')} ms | {lat['count']} | "
      f"{lat['p50']} ms | {lat['p95']} ms | {lat['p99']} ms | {lat['max']} ms | p99 ≤ 1000 ms |\n")
print(f"**Queue first paint** with {open_} open alarms among 100,000 panels (seeded through `Ingest` by "
      "`examples/console_seed`): navigation to `/#/queue` → first alarm row painted, "
      f"{len(r)} fresh pages. The page loads 100 alarms ({page_bytes} bytes of JSON), the rest on “More”.\n")
print("| rounds (ms) | median | max | rows painted | target |")
print("|---|---|---|---|---|")
print(f"| {', '.join(map(str, r))} | {sorted(r)[len(r) // 2]} ms | {max(r)} ms | {paint['rows']} | ≤ 1000 ms |")
print("<!-- console:end -->")
PY
bench_write_section console "$work/section.md"
