#!/usr/bin/env bash
# Worst client stall and throughput while a column is added and backfilled on a busy
# table, three ways, in one run: a catalog-only ADD COLUMN ... DEFAULT 'x' (the floor),
# the naive one-transaction ALTER + UPDATE + SET NOT NULL, and `zerodown apply` of
#   ALTER TABLE accounts ADD COLUMN token text NOT NULL DEFAULT md5(random()::text)
# (volatile default: add column + batched backfill + NOT NULL without a long lock).
# Traffic: pgbench, 4 clients of single-row updates by random id, per-transaction log.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
CLIENTS=${CLIENTS:-4}
BASE=${BASE:-5}        # seconds of traffic before the change
DB=zerodown_bench_apply
PSQL=(psql -X -q -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1)
bash scripts/setup.sh >/dev/null 2>&1
cargo build --release --locked -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '\\set id random(1, %s)\nUPDATE accounts SET balance = balance + 1 WHERE id = :id;\n' "$ROWS" > "$work/update.sql"

fresh() {
  "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  "${PSQL[@]}" -d "$DB" <<SQL
CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL DEFAULT 0, name text);
INSERT INTO accounts SELECT g, 0, 'n' || g FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE accounts;
SQL
}

# run NAME COMMAND...: pgbench for the whole change, then the stall and tps figures.
run() {
  local name=$1; shift
  fresh
  rm -f "$work"/pgbench_log.*
  # pgbench writes its per-transaction logs in the current folder; it must be our own
  # child (not a subshell's) so that SIGINT reaches it.
  pushd "$work" >/dev/null
  pgbench -h 127.0.0.1 -U postgres -n -c "$CLIENTS" -j 2 -T 600 -l -f update.sql "$DB" >"$work/pgbench.out" 2>&1 &
  local bench=$!
  popd >/dev/null
  sleep "$BASE"
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$work/$name.log" 2>&1 || { echo "$name failed:"; tail -5 "$work/$name.log"; }
  t1=$(date +%s.%N)
  sleep 2
  # Background jobs of a script ignore SIGINT; the log lost with SIGTERM is past the window.
  kill -TERM "$bench" 2>/dev/null || true
  wait "$bench" 2>/dev/null || true
  # pgbench -l columns: client, tx no, latency us, script, epoch s, epoch us.
  cat "$work"/pgbench_log.* | awk -v t0="$t0" -v t1="$t1" -v base="$BASE" -v name="$name" '
    { t = $5 + $6 / 1e6; start = t - $3 / 1e6
      if (t < t0 && t >= t0 - base + 1) { bn++ }
      if (t >= t0 && start <= t1) { n++; if ($3 > max) max = $3 } }
    END { bt = bn / (base - 1); dt = n / (t1 - t0);
          printf "%-12s %9.2f %10.1f %10.0f %10.0f %7.0f%%\n", name, t1 - t0, max / 1000, bt, dt, 100 * dt / bt }'
  # For zerodown runs (JSON event log): which step ran when the worst stall began.
  if grep -q '"event":"step_started"' "$work/$name.log" 2>/dev/null; then
    local worst
    worst=$(cat "$work"/pgbench_log.* | awk -v t0="$t0" -v t1="$t1" '
      { t = $5 + $6 / 1e6; s = t - $3 / 1e6; if (t >= t0 && s <= t1 && $3 > max) { max = $3; at = s } }
      END { printf "%.3f %.1f", at * 1000, max / 1000 }')
    grep '"event":"step_started"' "$work/$name.log" \
      | sed -E 's/.*"description":"([^"]*)".*"ts":([0-9]+).*/\2 \1/' \
      | awk -v at="${worst% *}" -v ms="${worst#* }" '$1 <= at { step = $0 } END { sub(/^[0-9]+ /, "", step); printf "             worst stall %.1f ms began during: %s\n", ms, step }'
  fi
}

echo "accounts: $ROWS rows; pgbench: $CLIENTS clients, single-row updates by random id"
printf '%-12s %9s %10s %10s %10s %8s\n' "variant" "wall s" "stall ms" "base tps" "tps" "kept"
run catalog "${PSQL[@]}" -d "$DB" -c "SET lock_timeout = '5s'; ALTER TABLE accounts ADD COLUMN token text NOT NULL DEFAULT 'x'"
run naive "${PSQL[@]}" -d "$DB" -c "BEGIN; ALTER TABLE accounts ADD COLUMN token text; UPDATE accounts SET token = md5(random()::text); ALTER TABLE accounts ALTER COLUMN token SET NOT NULL; COMMIT;"
echo "ALTER TABLE accounts ADD COLUMN token text NOT NULL DEFAULT md5(random()::text);" > "$work/m.sql"
run zerodown ./target/release/zerodown apply "$work/m.sql" --database-url "postgres://postgres@127.0.0.1:5432/$DB" --yes --log-format json
# Short batches: rows stay locked for less time, at the cost of more transactions.
run zd-short ./target/release/zerodown apply "$work/m.sql" --database-url "postgres://postgres@127.0.0.1:5432/$DB" --yes --log-format json --batch-target-ms 20 --batch-pause-ratio 0.2
"${PSQL[@]}" -d postgres -c "DROP DATABASE $DB"
