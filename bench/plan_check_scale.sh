#!/usr/bin/env bash
# Time and peak memory of `zerodown plan --offline` and `zerodown check` as the input
# grows (issue 20: time and memory linear in the input): generated migrations of N
# statements (bench/gen_scale.py, one table per 20 statements) for PostgreSQL and
# MariaDB, N doubling up to about 10 MB, and one 520 KB line of 20,000 bad statements.
# Each size once per engine and command; the ratio column is time / time at half size.
#
#   bash bench/plan_check_scale.sh [LARGEST_N]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
largest="${1:-320000}"
cargo build --release --quiet --bin zerodown
zd="$here/../target/release/zerodown"
work="$(mktemp -d /tmp/zerodown-bench-scale.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# Runs one command; prints "seconds peak_KB".
measure() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>&1 || true
  cat "$work/time" | tail -1
}

printf '%-8s %-6s %8s %8s %9s %8s %10s\n' engine cmd statements MB seconds ratio peak_MB
for engine in pg mysql; do
  target=postgres:15; [ "$engine" = mysql ] && target=mariadb:10.11
  for cmd in plan check; do
    prev=""
    n=10000
    while [ "$n" -le "$largest" ]; do
      file="$work/$engine-$n.sql"
      [ -f "$file" ] || python3 "$here/gen_scale.py" "$engine" "$n" "$file"
      if [ "$cmd" = plan ]; then
        read -r secs kb < <(measure "$zd" plan --offline --target "$target" "$file")
      else
        read -r secs kb < <(measure "$zd" check --target "$target" "$file")
      fi
      ratio="-"; [ -n "$prev" ] && ratio=$(awk "BEGIN { printf \"%.2f\", $secs / ($prev > 0 ? $prev : 0.01) }")
      mb=$(awk "BEGIN { printf \"%.1f\", $(stat -c %s "$file") / 1048576 }")
      printf '%-8s %-6s %8d %8s %9s %8s %10.0f\n' "$engine" "$cmd" "$n" "$mb" "$secs" "$ratio" "$(awk "BEGIN { print $kb / 1024 }")"
      prev="$secs"
      n=$((n * 2))
    done
  done
done
python3 -c "open('$work/oneline.sql','w').write('ALTER TABLE t ADD COLUMN; ' * 20000)"
for target in mariadb:10.11 postgres:15; do
  read -r secs kb < <(measure "$zd" check --target "$target" "$work/oneline.sql")
  printf 'one 520 KB line of 20,000 errors, check --target %s: %s s, %.0f MB peak\n' "$target" "$secs" "$(awk "BEGIN { print $kb / 1024 }")"
done
