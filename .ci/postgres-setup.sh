#!/usr/bin/env bash
# A PostgreSQL server on 127.0.0.1:5432 for the PostgreSQL store tests (tests/store.rs,
# tests/auth_store.rs, tests/cluster.rs), reachable without a password as
# postgres://postgres@127.0.0.1:5432/postgres (ALARMHUB_CI_PG_PORT picks another port, to
# try this script beside a running server).
#
#   .ci/postgres-setup.sh
#
# Uses the server that already answers there (a developer's, or the machine's service);
# otherwise installs Debian's postgresql if it is missing, creates a throwaway cluster under
# target/ (trust authentication on loopback only) and starts it in the background. Every
# step is bounded in time. The tests create and drop a database of their own each.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf '==> %s\n' "$*" >&2; }

port="${ALARMHUB_CI_PG_PORT:-5432}"

answers() {
    timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/${port}" 2>/dev/null
}

if answers; then
    log "a PostgreSQL server already answers on 127.0.0.1:${port}"
    exit 0
fi

sudo=""
if [[ "$(id -u)" != 0 ]]; then
    sudo="sudo -n"
fi
bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
if [[ -z "$bindir" ]]; then
    log "installing Debian's postgresql"
    timeout 300 $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 900 $sudo apt-get install -y -qq postgresql >&2
    bindir="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
fi

data="$root/target/postgres-ci-${port}"
mkdir -p "$root/target"
# PostgreSQL refuses to run as root: the cluster belongs to the postgres user (created by
# the Debian package) when we are root.
run_as=()
if [[ "$(id -u)" == 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
    run_as=(runuser -u postgres --)
fi
if [[ ! -f "$data/PG_VERSION" ]]; then
    rm -rf "$data"
    mkdir -p "$data"
    [[ "$(id -u)" == 0 ]] && chown postgres "$data"
    log "creating a cluster in $data"
    timeout 120 "${run_as[@]}" "$bindir/initdb" -D "$data" -U postgres \
        --auth-local=trust --auth-host=trust >/dev/null
fi
log "starting PostgreSQL ($bindir) on 127.0.0.1:${port}"
timeout 60 "${run_as[@]}" "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=$data -c max_connections=300" \
    start >&2

for _ in $(seq 1 50); do
    if answers; then
        log "PostgreSQL answers on 127.0.0.1:${port}"
        exit 0
    fi
    sleep 0.2
done
log "PostgreSQL did not start listening on 127.0.0.1:${port}"
exit 1
