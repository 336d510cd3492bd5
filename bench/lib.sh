# Shared by the bench/*.sh scripts (sourced, not run).
#
# bench_write_section NAME FILE: print FILE, then replace the lines from
# `<!-- NAME:begin -->` to `<!-- NAME:end -->` in $BENCH_FILE (default BENCHMARKS.md at the
# repository root) with FILE; the section is appended when absent, and every other section is
# left alone (each script owns its own). NO_WRITE=1 prints without writing.
bench_write_section() {
  local name=$1 section=$2 begin="<!-- $1:begin -->" end="<!-- $1:end -->"
  local file=${BENCH_FILE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/BENCHMARKS.md}
  cat "$section"
  if [[ -n ${NO_WRITE:-} ]]; then
    printf '[%s] NO_WRITE set: %s left alone\n' "$name" "$file" >&2
    return 0
  fi
  local tmp
  tmp=$(mktemp "$file.XXXXXX")
  chmod 644 "$tmp"
  if [[ -f $file ]] && grep -qxF "$begin" "$file"; then
    awk -v sect="$section" -v b="$begin" -v e="$end" '
      $0 == b { while ((getline line < sect) > 0) print line; skip = 1; next }
      $0 == e { skip = 0; next }
      !skip { print }
    ' "$file" >"$tmp"
  elif [[ -f $file ]]; then
    { cat "$file"; echo; cat "$section"; } >"$tmp"
  else
    {
      echo '# Benchmarks'
      echo
      echo 'Written by the scripts in `bench/`; each one rewrites only its own section (between its markers).'
      echo
      cat "$section"
    } >"$tmp"
  fi
  mv "$tmp" "$file"
  printf '[%s] wrote the %s section of %s\n' "$name" "$name" "$file" >&2
}

# machine_lines: the "- Date …; commit …" and "- Machine: …" lines every section starts with
# (the filesystem of $WORK when the caller has one; load averages from when lib.sh was sourced).
machine_lines() {
  local cpu mem fs rev
  cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
  mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
  fs=$(df -T "${WORK:-.}" | awk 'NR == 2 { print $2 }')
  rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  git diff --quiet HEAD 2>/dev/null || rev="$rev + uncommitted changes"
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $rev"
  echo "- Machine: $(nproc) CPUs ($cpu), $mem RAM, kernel $(uname -r), data on $fs; load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
}
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# steal_ticks: CPU time the hypervisor gave to other guests while this VM wanted it (all CPUs,
# clock ticks, /proc/stat). steal_pct T0 T1 SECS: that over SECS of wall time, as a percentage of
# the whole machine (every CPU). On a shared VM a high steal slows and delays everything measured.
steal_ticks() { awk '$1 == "cpu" { print $9; exit }' /proc/stat; }
steal_pct() {
  awk -v a="$1" -v b="$2" -v t="$3" -v hz="$(getconf CLK_TCK)" -v n="$(nproc)" \
    'BEGIN { printf "%.0f", (t > 0) ? 100 * (b - a) / hz / t / n : 0 }'
}
