#!/usr/bin/env bash
# Build the panel-proto fuzz targets (fuzz/, a cargo-fuzz crate outside the main workspace).
#
#   .ci/fuzz-build.sh                  build decode, decrypt, unescape and link
#   FUZZ_SECONDS=60 .ci/fuzz-build.sh  build, then fuzz each target for 60 s
#
# Toolchain choice, in order:
#   1. a nightly toolchain listed by `rustup toolchain list`: `cargo +nightly fuzz build`;
#   2. otherwise the default (stable) toolchain with RUSTC_BOOTSTRAP=1, which lets stable
#      rustc accept the -Z sanitizer / coverage flags cargo-fuzz passes;
#   3. if that fails too: a plain `cargo build --manifest-path fuzz/Cargo.toml`, with a
#      message saying so. The targets then compile and link (so CI still catches API drift)
#      but carry no sanitizer or coverage instrumentation, so they cannot fuzz; with
#      FUZZ_SECONDS set they only replay the seed inputs.
# cargo-fuzz is installed with `cargo install cargo-fuzz --locked` when it is missing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

targets=(decode decrypt unescape link)

log() { printf '==> %s\n' "$*" >&2; }

if ! cargo fuzz --version >/dev/null 2>&1; then
    log "cargo-fuzz not found; installing it (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked
fi
log "$(cargo fuzz --version)"

nightly=""
if command -v rustup >/dev/null 2>&1; then
    nightly="$(rustup toolchain list | awk '/^nightly/ { print $1; exit }')"
fi

mode=""
if [[ -n "$nightly" ]]; then
    log "building fuzz targets with $nightly"
    cargo +"$nightly" fuzz build
    fuzz=(cargo +"$nightly" fuzz)
    mode=fuzz
else
    log "no nightly toolchain; trying stable with RUSTC_BOOTSTRAP=1"
    if RUSTC_BOOTSTRAP=1 cargo fuzz build; then
        fuzz=(env RUSTC_BOOTSTRAP=1 cargo fuzz)
        mode=fuzz
    else
        cat >&2 <<'EOF'
==> WARNING: `RUSTC_BOOTSTRAP=1 cargo fuzz build` failed on this toolchain, so the fuzz
==> targets are built WITHOUT sanitizer/coverage instrumentation, only to check that they
==> compile and link. Install a nightly toolchain (rustup toolchain install nightly) to fuzz.
EOF
        cargo build --release --locked --manifest-path fuzz/Cargo.toml
        mode=plain
    fi
fi

if [[ -z "${FUZZ_SECONDS:-}" ]]; then
    log "fuzz targets built ($mode build); set FUZZ_SECONDS to also run them"
    exit 0
fi

# Seeds: fuzz/seeds (committed frames, read-only here) for decode; generated working corpora
# under fuzz/corpus/ (gitignored) for every target. New inputs go to fuzz/corpus/<target>.
fuzz/gen-seeds.sh --all >/dev/null
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
done

if [[ "$mode" == plain ]]; then
    log "uninstrumented build: replaying the seed inputs once instead of fuzzing"
    fuzz/target/release/decode fuzz/seeds/*
    for t in decrypt unescape link; do
        "fuzz/target/release/$t" "fuzz/corpus/$t"/*
    done
    exit 0
fi

for t in "${targets[@]}"; do
    extra=()
    if [[ "$t" == decode ]]; then
        extra=(fuzz/seeds)
    fi
    log "fuzzing $t for ${FUZZ_SECONDS}s"
    "${fuzz[@]}" run "$t" "fuzz/corpus/$t" ${extra[@]+"${extra[@]}"} -- \
        -max_total_time="$FUZZ_SECONDS" -max_len=2048
done
