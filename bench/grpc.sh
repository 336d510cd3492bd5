#!/usr/bin/env bash
# gRPC benchmarks (issue: IsNeedSync >= 20,000 calls/s; panel event -> WatchEvents p99 <= 10 ms
# at 1,000 events/s). Starts a release `alarmhub serve` on loopback ports with a fresh data dir,
# runs examples/grpc_bench against it, and writes the `grpc` section of BENCHMARKS.md.
# Bounded: SECONDS_PER_TEST (default 10) per measurement.
#
# IsNeedSync is measured twice against the same daemon: with h2load (nghttp2's C HTTP/2 load
# generator, 4 connections × 16 concurrent streams, one thread: the server's capacity, since
# a load generator on the same two CPUs takes CPU from the server) and with 8 tonic clients
# calling back to back (what a Rust client sees). h2load does not read gRPC trailers, so a
# short verbose h2load run first checks that no call is answered with a gRPC error.
# h2load comes from Debian's nghttp2-client; without it that row says "not measured".
#
# Access control (issue #11): a second daemon with `[auth] required = true` answers IsNeedSync
# from h2load alternately without a token (anonymous compat caller on loopback) and with a
# viewer token, ROUNDS times each, side by side, so the ratio shows what the token check costs
# on this noisy shared machine. A third daemon serves TLS (certificate from examples/auth_bench);
# fresh connection + TLS handshake + first IsNeedSync is timed against plain connect + first call.
#
# IsNeedSync with a large registry: examples/compat_bench serves the compat service alone,
# in-process, over COMPAT_PANELS (default 100,000) panels that all have an alarm pending, and
# 4 tonic connections × 16 calls in flight call it for SECONDS_PER_TEST s (does the answer's
# cost grow with the registry?).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
SECS="${SECONDS_PER_TEST:-10}"
RATE="${RATE:-1000}"
ROUNDS="${ROUNDS:-3}"
COMPAT_PANELS="${COMPAT_PANELS:-100000}"
cargo build --release -q -p alarmhub --bin alarmhub --example grpc_bench --example auth_bench --example compat_bench
work="$(mktemp -d)"
pid= ; pid_auth= ; pid_tls=
trap 'kill $pid $pid_auth $pid_tls 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/alarmhub.toml" <<TOML
[panel]
listen = "127.0.0.1:0"
rate_limit_per_sec = 100000
rate_limit_burst = 100000
[grpc]
listen = "127.0.0.1:0"
[http]
listen = "127.0.0.1:0"
[store]
data_dir = "$work/data"
TOML
RUST_LOG=info target/release/alarmhub serve --config "$work/alarmhub.toml" --log-format json 2> "$work/log" &
pid=$!
for _ in $(seq 1 100); do grep -q '"alarmhub ready"' "$work/log" && break; sleep 0.1; done
ready="$(grep '"alarmhub ready"' "$work/log")"
grpc="$(sed -E 's/.*"grpc":"([^"]+)".*/\1/' <<<"$ready")"
panel="$(sed -E 's/.*"panel":"([^"]+)".*/\1/' <<<"$ready")"
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
h2_rate=
h2_cpu=
h2_note="h2load not installed (apt-get install nghttp2-client)"
if command -v h2load >/dev/null; then
  printf '\0\0\0\0\0' > "$work/empty.grpc" # one gRPC message: not compressed, length 0
  h2=(h2load -H 'content-type: application/grpc' -H 'te: trailers' -d "$work/empty.grpc")
  url="http://$grpc/alarm_server.AlarmServer/IsNeedSync"
  check="$(timeout 30 "${h2[@]}" -n 100 -c 1 -v "$url" 2>&1)"
  if grep -qE 'grpc-status: [1-9]' <<<"$check" || ! grep -q '100 succeeded' <<<"$check"; then
    echo "h2load check failed:" >&2; echo "$check" | tail -20 >&2; exit 1
  fi
  t0="$(cpu_ticks "$pid")"
  h2out="$(timeout $((SECS + 30)) "${h2[@]}" -D "$SECS" -c 4 -m 16 -t 1 "$url" 2>&1)"
  t1="$(cpu_ticks "$pid")"
  echo "$h2out" | grep -E 'finished in|requests:|status codes'
  grep -q ' 0 failed, 0 errored, 0 timeout' <<<"$h2out" || { echo "h2load saw failures" >&2; exit 1; }
  h2_rate="$(awk '/finished in/ { printf "%.0f", $4 }' <<<"$h2out")"
  h2_cpu="$(awk -v a="$t0" -v b="$t1" -v s="$SECS" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", 100 * (b - a) / hz / s }')"
  h2_note="h2load, 4 connections × 16 streams; daemon CPU ${h2_cpu} %"
fi
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
steal0="$(steal_ticks)"; t_start="$(date +%s.%N)"
out="$(timeout $((SECS * 3 + 30)) target/release/examples/grpc_bench --grpc "$grpc" --panel "$panel" --seconds "$SECS" --rate "$RATE" --panels 20 --clients 8)"
echo "$out"
steal_share="$(steal_pct "$steal0" "$(steal_ticks)" "$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')")"
kill -TERM "$pid"; wait "$pid" || true
compat="$(timeout $((SECS + 120)) target/release/examples/compat_bench --panels "$COMPAT_PANELS" --conns 4 --seconds "$SECS")"
echo "compat_bench: $compat"

# --- access control: token check cost, TLS handshake ---
start_daemon() { # NAME EXTRA_TOML -> sets daemon_pid, daemon_grpc
  local dir="$work/$1"; mkdir -p "$dir"
  printf '[panel]\nlisten = "127.0.0.1:0"\n[grpc]\nlisten = "127.0.0.1:0"\n[http]\nlisten = "127.0.0.1:0"\n[store]\ndata_dir = "%s/data"\n%b' "$dir" "$2" > "$dir/alarmhub.toml"
  RUST_LOG=info target/release/alarmhub serve --config "$dir/alarmhub.toml" --log-format json 2> "$dir/log" &
  daemon_pid=$!
  for _ in $(seq 1 100); do grep -q '"alarmhub ready"' "$dir/log" && break; sleep 0.1; done
  daemon_grpc="$(grep '"alarmhub ready"' "$dir/log" | sed -E 's/.*"grpc":"([^"]+)".*/\1/')"
}
mint() { target/release/alarmhub token create --name bench --role viewer --data-dir "$work/$1/data" 2>/dev/null | tail -1; }
mkdir -p "$work/auth" "$work/tls"
tok_auth="$(mint auth)"; tok_tls="$(mint tls)"
start_daemon auth '[auth]\nrequired = true\n'; pid_auth=$daemon_pid; grpc_auth=$daemon_grpc
target/release/examples/auth_bench certs "$work/tls/certs"
start_daemon tls "[auth]\nrequired = true\n[tls]\ncert = \"$work/tls/certs/cert.pem\"\nkey = \"$work/tls/certs/key.pem\"\n"
pid_tls=$daemon_pid; grpc_tls=$daemon_grpc
anon_rates=(); token_rates=(); ratio=
if command -v h2load >/dev/null; then
  url="http://$grpc_auth/alarm_server.AlarmServer/IsNeedSync"
  with_token=(-H "authorization: Bearer $tok_auth")
  check="$(timeout 30 "${h2[@]}" "${with_token[@]}" -n 100 -c 1 -v "$url" 2>&1)"
  if grep -qE 'grpc-status: [1-9]' <<<"$check" || ! grep -q '100 succeeded' <<<"$check"; then
    echo "h2load token check failed:" >&2; echo "$check" | tail -20 >&2; exit 1
  fi
  per=$(( SECS > 6 ? SECS / 2 : 3 ))
  for _ in $(seq 1 "$ROUNDS"); do
    a="$(timeout $((per + 30)) "${h2[@]}" -D "$per" -c 4 -m 16 -t 1 "$url" 2>&1)"
    b="$(timeout $((per + 30)) "${h2[@]}" "${with_token[@]}" -D "$per" -c 4 -m 16 -t 1 "$url" 2>&1)"
    for o in "$a" "$b"; do grep -q ' 0 failed, 0 errored, 0 timeout' <<<"$o" || { echo "h2load saw failures" >&2; echo "$o" >&2; exit 1; }; done
    anon_rates+=("$(awk '/finished in/ { printf "%.0f", $4 }' <<<"$a")")
    token_rates+=("$(awk '/finished in/ { printf "%.0f", $4 }' <<<"$b")")
  done
  ratio="$(python3 -c "import sys; a=[float(x) for x in sys.argv[1].split()]; b=[float(x) for x in sys.argv[2].split()]; print(round(sum(b)/sum(a),3))" "${anon_rates[*]}" "${token_rates[*]}")"
  echo "IsNeedSync anonymous: ${anon_rates[*]}  with token: ${token_rates[*]}  ratio $ratio"
fi
plain_conn="$(timeout 120 target/release/examples/auth_bench connect --grpc "$grpc_auth" --token "$tok_auth" --n 200)"
tls_conn="$(timeout 120 target/release/examples/auth_bench connect --grpc "$grpc_tls" --ca "$work/tls/certs/ca.pem" --token "$tok_tls" --n 200)"
echo "plain connect+call: $plain_conn"; echo "TLS connect+handshake+call: $tls_conn"
kill -TERM "$pid_auth" "$pid_tls"; wait "$pid_auth" "$pid_tls" || true
jf() { python3 -c "import json,sys; print(round(json.loads(sys.argv[1])[sys.argv[2]],2))" "$1" "$2"; }
j() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$out" "$1"; }
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
section="$(cat <<MD
<!-- grpc:begin -->
## gRPC: IsNeedSync throughput, event → WatchEvents latency

Goals (issue): \`IsNeedSync\` ≥ 20,000 calls/s; panel event → \`WatchEvents\` subscriber p99 ≤ 10 ms at 1,000 events/s
(today's deployments poll once a second: ≥ 500 ms on average).

- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short HEAD)
- Machine: $(nproc) CPUs ($cpu), kernel $(uname -r); daemon and load generator on the same machine, loopback
- Command: \`bench/grpc.sh\` (SECONDS_PER_TEST=$SECS, RATE=$RATE) → \`examples/grpc_bench\` against a release \`alarmhub serve\`
- Load average before the tonic run: $load_before; CPU time stolen by the host during the tonic and WatchEvents runs:
  ${steal_share} % of the machine (this VM's neighbours; when it is high, every number here gets worse)
- Method: (1) \`IsNeedSync\` for $SECS s each: h2load (C HTTP/2 load generator, 4 connections × 16 concurrent streams, one
  thread; calls checked for gRPC errors first), then 8 tonic clients calling back to back — client and server share
  the $(nproc) CPUs, so the lighter client shows more of the server's capacity; (2) 20 TCP panels send ADM-CID 1130 frames
  paced to $RATE events/s in total (each waits for its ACK, as panels do) while one \`WatchEvents\` stream is live;
  latency = frame written → event received on the stream (includes the durable commit, fsync, before the event is published).
  The panels' ACK latency in the same run is shown beside it: the stream's tail follows the commit's (fsync) tail.

| measure | result | goal | ratio |
|---|---:|---:|---:|
| IsNeedSync calls/s ($h2_note) | ${h2_rate:-not measured} | 20,000 | $(if [[ -n $h2_rate ]]; then python3 -c "print(round($h2_rate/20000,2))"; else echo —; fi)× |
| IsNeedSync calls/s (8 tonic clients, back to back) | $(j is_need_sync_per_sec) | 20,000 | $(python3 -c "print(round($(j is_need_sync_per_sec)/20000,2))")× |
| IsNeedSync calls/s, $COMPAT_PANELS panels all with an alarm pending (\`examples/compat_bench\`: compat service alone, in-process, 4 tonic connections × 16 in flight; counting the changed panels takes $(jf "$compat" count_ms) ms) | $(jf "$compat" calls_per_sec) | | |
| events/s achieved | $(j events_per_sec) | $RATE | |
| WatchEvents latency p50 (ms) | $(python3 -c "print(round($(j watch_p50_ms),2))") | | |
| WatchEvents latency p99 (ms) | $(python3 -c "print(round($(j watch_p99_ms),2))") | 10 | $(python3 -c "print(round(10/max($(j watch_p99_ms),1e-9),2))")× headroom |
| WatchEvents latency max (ms) | $(python3 -c "print(round($(j watch_max_ms),2))") | | |
| same run, panel's own ACK latency p50 / p99 (ms) — frame written → ACK read | $(python3 -c "print(round($(j ack_p50_ms),2))") / $(python3 -c "print(round($(j ack_p99_ms),2))") | | |
| samples | $(j watch_samples) | | |

### Access control (issue #11)

Method: a second release daemon with \`[auth] required = true\` (no TLS); h2load as above (4 connections × 16
streams, one thread) alternates $ROUNDS rounds of IsNeedSync without a token (anonymous compat caller on loopback:
the access layer runs, no token to check) and with a viewer token (\`authorization: Bearer …\`: SHA-256 of the
token, cache lookup, last-used stamp), each round $(( SECS > 6 ? SECS / 2 : 3 )) s, same daemon, side by side.
Goal: the token check costs ≤ 5 % (ratio ≥ 0.95). Then 200 fresh connections one after another, each with one
IsNeedSync: plain TCP against that daemon, TLS 1.3 (rustls, ECDSA P-256 certificate from \`examples/auth_bench\`)
against a third.

| measure | result | goal |
|---|---:|---:|
| IsNeedSync calls/s without token, per round | ${anon_rates[*]:-not measured (no h2load)} | |
| IsNeedSync calls/s with token, per round | ${token_rates[*]:-not measured} | |
| with token ÷ without (sum of rounds) | ${ratio:-—} | ≥ 0.95 |
| plain connect + first call p50 / p99 (ms) | $(jf "$plain_conn" p50_ms) / $(jf "$plain_conn" p99_ms) | |
| TLS connect + handshake + first call p50 / p99 (ms) | $(jf "$tls_conn" p50_ms) / $(jf "$tls_conn" p99_ms) | |
<!-- grpc:end -->
MD
)"
printf '%s\n' "$section" > "$work/section.md"
bench_write_section grpc "$work/section.md"
