#!/usr/bin/env bash
# An MQTT broker on 127.0.0.1:1883 for the MQTT bridge tests (crates/alarmhub/tests/mqtt.rs).
#
#   .ci/mosquitto-setup.sh
#
# Uses the broker that already answers there (a developer's, or the machine's service);
# otherwise installs Debian's mosquitto if it is missing and starts it in the background with
# a minimal configuration (loopback only, anonymous, no persistence). Every step is bounded
# in time. The tests give each run its own topics and client ids, so a shared broker is fine.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf '==> %s\n' "$*" >&2; }

answers() {
    timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/1883' 2>/dev/null
}

if answers; then
    log "an MQTT broker already answers on 127.0.0.1:1883"
    exit 0
fi

if ! command -v mosquitto >/dev/null 2>&1; then
    sudo=""
    if [[ "$(id -u)" != 0 ]]; then
        sudo="sudo -n"
    fi
    log "installing Debian's mosquitto"
    timeout 300 $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 600 $sudo apt-get install -y -qq mosquitto >&2
fi

mkdir -p target
conf="$root/target/mosquitto-ci.conf"
printf 'listener 1883 127.0.0.1\nallow_anonymous true\npersistence false\n' >"$conf"
log "starting mosquitto with $conf"
timeout 10 mosquitto -d -c "$conf"

for _ in $(seq 1 50); do
    if answers; then
        log "mosquitto answers on 127.0.0.1:1883"
        exit 0
    fi
    sleep 0.2
done
log "mosquitto did not start listening on 127.0.0.1:1883"
exit 1
