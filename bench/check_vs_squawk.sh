#!/usr/bin/env bash
# `zerodown check` against squawk (PyPI squawk-cli) on the same generated corpus of
# PostgreSQL migrations (bench/gen_migrations.py: Flyway names, a schema that grows),
# side by side in one run: each tool once over all files per round, rounds alternating
# which goes first; the best round of each, and files per second.
#
#   bash bench/check_vs_squawk.sh [FILES] [ROUNDS]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
files="${1:-2000}"
rounds="${2:-5}"
command -v squawk >/dev/null || pip install --quiet squawk-cli
cargo build --release --quiet --bin zerodown
zd="$here/../target/release/zerodown"
work="$(mktemp -d /tmp/zerodown-bench-check.XXXXXX)"
trap 'rm -rf "$work"' EXIT
python3 "$here/gen_migrations.py" "$work/m" "$files"
echo "corpus: $files files, $(cat "$work"/m/*.sql | wc -l) lines; $("$zd" --version 2>/dev/null || echo zerodown), $(squawk --version)"

now() { date +%s.%N; }
run_zd() { "$zd" check "$work/m" --target postgres:16 --format json >"$work/zd.json" || true; }
run_sq() { squawk --pg-version 16 "$work"/m/*.sql >"$work/sq.txt" 2>&1 || true; }
best_zd=999999; best_sq=999999
for r in $(seq 1 "$rounds"); do
  for tool in $( [ $((r % 2)) = 1 ] && echo "zd sq" || echo "sq zd"); do
    t0=$(now); "run_$tool"; t1=$(now)
    took=$(awk "BEGIN { print $t1 - $t0 }")
    if [ "$tool" = zd ]; then best_zd=$(awk "BEGIN { print ($took < $best_zd) ? $took : $best_zd }")
    else best_sq=$(awk "BEGIN { print ($took < $best_sq) ? $took : $best_sq }"); fi
  done
done
zd_findings=$(grep -c '"rule"' "$work/zd.json" || true)
sq_findings=$(grep -c 'warning\|error' "$work/sq.txt" || true)
printf "%-10s %9s %12s %10s\n" tool "best s" "files/s" findings
printf "%-10s %9.3f %12.0f %10s\n" zerodown "$best_zd" "$(awk "BEGIN { print $files / $best_zd }")" "$zd_findings"
printf "%-10s %9.3f %12.0f %10s\n" squawk "$best_sq" "$(awk "BEGIN { print $files / $best_sq }")" "$sq_findings"
echo "zerodown files/s = $(awk "BEGIN { printf \"%.2f\", $best_sq / $best_zd }") x squawk's (best of $rounds rounds each)"
