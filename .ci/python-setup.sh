#!/usr/bin/env bash
# Python environment for the compat-API tests (crates/alarmhub/tests/compat_python.rs):
# a venv with pinned grpcio / grpcio-tools, and Python stubs generated from the frozen
# proto crates/alarmhub/proto/alarm_server.proto into target/python-stubs/.
#
#   .ci/python-setup.sh                      venv in .venv (or $ALARMHUB_VENV)
#   ALARMHUB_VENV=/opt/venv .ci/python-setup.sh
#
# Idempotent: an existing venv with the pinned versions is reused (no network); the stubs
# are regenerated every run (under a second). Every step is bounded in time. Progress goes
# to stderr; the only line on stdout is the venv's python, for callers to capture:
#
#   py="$(.ci/python-setup.sh)"
#   "$py" crates/alarmhub/tests/python/compat_client.py --target 127.0.0.1:50051
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

GRPC_VERSION="1.85.1"      # grpcio and grpcio-tools are released together
PROTOBUF_VERSION="7.36.2"  # the runtime that grpcio-tools release generates code for

venv="${ALARMHUB_VENV:-.venv}"
stubs="target/python-stubs"
proto_dir="crates/alarmhub/proto"
proto="alarm_server.proto"

log() { printf '==> %s\n' "$*" >&2; }

command -v python3 >/dev/null 2>&1 || {
    log "python3 not found; install Python 3.10 or newer (with the venv module)"
    exit 1
}

# One setup at a time (parallel test processes may all call this script).
mkdir -p target
if command -v flock >/dev/null 2>&1; then
    exec 9>target/python-setup.lock
    timeout 900 flock 9 || { log "timed out waiting for another python-setup.sh"; exit 1; }
fi

py="$venv/bin/python"
if [[ ! -x "$py" ]]; then
    log "creating the venv in $venv"
    timeout 120 python3 -m venv "$venv"
fi

have_pins() {
    "$py" - "$GRPC_VERSION" "$PROTOBUF_VERSION" <<'EOF' >/dev/null 2>&1
import sys
from importlib.metadata import version
want_grpc, want_pb = sys.argv[1], sys.argv[2]
ok = (version("grpcio") == want_grpc and version("grpcio-tools") == want_grpc
      and version("protobuf") == want_pb)
sys.exit(0 if ok else 1)
EOF
}

if have_pins; then
    log "grpcio $GRPC_VERSION already installed in $venv"
else
    log "installing grpcio $GRPC_VERSION, grpcio-tools $GRPC_VERSION, protobuf $PROTOBUF_VERSION"
    timeout 900 "$py" -m pip install --disable-pip-version-check --no-input --quiet \
        --timeout 60 --retries 3 \
        "grpcio==$GRPC_VERSION" "grpcio-tools==$GRPC_VERSION" "protobuf==$PROTOBUF_VERSION"
    have_pins || { log "pinned versions not importable after pip install"; exit 1; }
fi

# Generate into a scratch directory, then move into place, so a reader never sees a
# half-written module.
log "generating Python stubs from $proto_dir/$proto into $stubs"
mkdir -p "$stubs"
tmp="$(mktemp -d target/python-stubs.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
timeout 120 "$py" -m grpc_tools.protoc -I "$proto_dir" \
    --python_out="$tmp" --grpc_python_out="$tmp" "$proto"
for f in "$tmp"/*.py; do
    mv -f "$f" "$stubs/"
done

"$py" - "$stubs" <<'EOF' >&2
import sys
sys.path.insert(0, sys.argv[1])
import grpc, alarm_server_pb2, alarm_server_pb2_grpc  # noqa: F401
print(f"==> stubs import fine (grpcio {grpc.__version__})")
EOF

printf '%s\n' "$(cd "$(dirname "$py")" && pwd)/$(basename "$py")"
