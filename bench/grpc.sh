#!/usr/bin/env bash
# gRPC benchmarks (issue: IsNeedSync >= 20,000 calls/s; panel event -> WatchEvents p99 <= 10 ms
# at 1,000 events/s). Starts a release `alarmhub serve` on loopback ports with a fresh data dir,
# runs examples/grpc_bench against it, and writes the `grpc` section of BENCHMARKS.md.
# Bounded: SECONDS_PER_TEST (default 10) per measurement.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
SECS="${SECONDS_PER_TEST:-10}"
RATE="${RATE:-1000}"
cargo build --release -q -p alarmhub --bin alarmhub --example grpc_bench
work="$(mktemp -d)"
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
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
out="$(timeout $((SECS * 3 + 30)) target/release/examples/grpc_bench --grpc "$grpc" --panel "$panel" --seconds "$SECS" --rate "$RATE" --panels 20 --clients 8)"
echo "$out"
kill -TERM "$pid"; wait "$pid" || true
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
- Method: (1) 8 gRPC clients call \`IsNeedSync\` back to back for $SECS s; (2) 20 TCP panels send ADM-CID 1130 frames
  paced to $RATE events/s in total (each waits for its ACK, as panels do) while one \`WatchEvents\` stream is live;
  latency = frame written → event received on the stream (includes the durable commit, fsync, before the event is published).

| measure | result | goal | ratio |
|---|---:|---:|---:|
| IsNeedSync calls/s (8 clients) | $(j is_need_sync_per_sec) | 20,000 | $(python3 -c "print(round($(j is_need_sync_per_sec)/20000,2))")× |
| events/s achieved | $(j events_per_sec) | $RATE | |
| WatchEvents latency p50 (ms) | $(j watch_p50_ms) | | |
| WatchEvents latency p99 (ms) | $(j watch_p99_ms) | 10 | $(python3 -c "print(round(10/max($(j watch_p99_ms),1e-9),2))")× headroom |
| WatchEvents latency max (ms) | $(j watch_max_ms) | | |
| samples | $(j watch_samples) | | |
<!-- grpc:end -->
MD
)"
printf '%s\n' "$section" > "$work/section.md"
bench_write_section grpc "$work/section.md"
