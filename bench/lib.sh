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
