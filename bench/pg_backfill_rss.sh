#!/usr/bin/env bash
# Peak memory (max RSS) of `zerodown apply` while it backfills a column on a table of
# SMALL rows and of LARGE rows (1,000,000 and 10,000,000 by default), in one run: the
# backfill works in key ranges with a checkpoint in the database, so memory must not grow
# with the table.
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL=${SMALL:-1000000}
LARGE=${LARGE:-10000000}
DB=zerodown_bench_rss
PSQL=(env PGOPTIONS=-cclient_min_messages=warning psql -X -q -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1)
bash scripts/setup.sh >/dev/null 2>&1
cargo build --release --locked -q
work=$(mktemp -d)
trap 'rm -rf "$work"; "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" 2>/dev/null || true' EXIT
echo "ALTER TABLE accounts ADD COLUMN token text NOT NULL DEFAULT md5(random()::text);" > "$work/m.sql"

# measure ROWS: prints "rows wall_s max_rss_kib rows_backfilled"
measure() {
  "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  "${PSQL[@]}" -d "$DB" -c "CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL DEFAULT 0, name text)" \
    -c "INSERT INTO accounts SELECT g, 0, md5(g::text) FROM generate_series(1, $1) g" -c "VACUUM ANALYZE accounts" -c "CHECKPOINT"
  /usr/bin/time -v -o "$work/time.txt" ./target/release/zerodown apply "$work/m.sql" \
    --database-url "postgres://postgres@127.0.0.1:5432/$DB" --yes >"$work/apply.log" 2>&1
  local rss wall done
  rss=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$work/time.txt")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$work/time.txt")
  done=$(grep -o 'rows backfilled: [0-9]*' "$work/apply.log" | awk '{ print $3 }')
  printf '%12s %12s %12s %14s\n' "$1" "$wall" "$rss" "$done"
  echo "$rss" > "$work/rss.$1"
}
printf '%12s %12s %12s %14s\n' rows "wall" "max RSS KiB" "rows backfilled"
measure "$SMALL"
measure "$LARGE"
awk -v a="$(cat "$work/rss.$SMALL")" -v b="$(cat "$work/rss.$LARGE")" -v s="$SMALL" -v l="$LARGE" \
  'BEGIN { printf "max RSS %d rows / %d rows: %.2f (table %.0fx larger)\n", l, s, b / a, l / s }'
