#!/usr/bin/env bash
# The long run of the hostile-input property tests (issue 20): arbitrary and mutated SQL
# through parse -> analyze -> plan and check, for PostgreSQL and MariaDB, CASES cases per
# property (CI runs proptest's default, 256). Prints the cases and the time taken.
#
#   bash bench/hostile_long.sh [CASES]
set -euo pipefail
cases="${1:-100000}"
cd "$(dirname "$0")/.."
start=$(date +%s.%N)
PROPTEST_CASES="$cases" cargo test --release --quiet -p zerodown-core --test hostile_input
end=$(date +%s.%N)
echo "hostile input: $cases cases per property, $(awk "BEGIN { printf \"%.1f\", $end - $start }") s"
