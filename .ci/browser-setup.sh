#!/usr/bin/env bash
# What the web console's browser test needs (crates/alarmhub/tests/console_browser.rs):
# Debian's headless Chromium at /usr/bin/chromium and playwright-core from npm in
# tests/browser/ (exactly the versions in its committed package-lock.json; Playwright's own
# browser download is never used).
#
#   .ci/browser-setup.sh      # prints the directory holding node_modules on stdout
#
# Every step is bounded in time.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf '==> %s\n' "$*" >&2; }

sudo=""
if [[ "$(id -u)" != 0 ]]; then
    sudo="sudo -n"
fi
apt_install() {
    timeout 300 $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive timeout 900 $sudo apt-get install -y -qq "$@" >&2
}

if [[ ! -x /usr/bin/chromium ]]; then
    log "installing Debian's chromium"
    apt_install chromium
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    log "installing Debian's nodejs and npm"
    apt_install nodejs npm
fi
log "$(timeout 30 /usr/bin/chromium --headless --version 2>/dev/null || echo 'chromium (version unknown)')"

cd tests/browser
# npm ci installs exactly the locked versions (a few seconds: one package, no scripts).
log "npm ci (playwright-core, no browser download)"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 600 npm ci --no-audit --no-fund >&2
pwd
