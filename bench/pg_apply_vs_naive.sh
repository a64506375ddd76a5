#!/usr/bin/env bash
# Worst client stall and throughput while a column is added and backfilled on a busy
# table, in one run: a catalog-only ADD COLUMN ... DEFAULT 'x' (the floor), the naive
# one-transaction ALTER + UPDATE + SET NOT NULL, `zerodown apply` of
#   ALTER TABLE accounts ADD COLUMN token text NOT NULL DEFAULT md5(random()::text)
# (volatile default: add column + batched backfill + NOT NULL without a long lock), and
# "quiet": the same traffic and no change for as long as zerodown ran (the machine's own
# worst latency over that much time).
# Traffic: pgbench, 4 clients of single-row updates by random id, per-transaction log.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
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
  "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" 2>/dev/null
  "${PSQL[@]}" -d "$DB" <<SQL
CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL DEFAULT 0, name text);
INSERT INTO accounts SELECT g, 0, 'n' || g FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE accounts;
-- Lock waits over 5 ms go to the server log, to tell row-lock waits from other stalls.
ALTER DATABASE $DB SET log_lock_waits = on;
ALTER DATABASE $DB SET deadlock_timeout = '5ms';
SQL
}
SERVER_LOG=$(ls /var/log/postgresql/postgresql-*-main.log 2>/dev/null | tail -1 || true)
log_lines() { if [ -r "$SERVER_LOG" ]; then wc -l <"$SERVER_LOG"; else echo 0; fi; }
# waits_since LINE: "longest lock wait (ms) and its lock, checkpoints" logged after LINE.
waits_since() {
  [ -r "$SERVER_LOG" ] || { echo "(no server log)"; return; }
  tail -n +"$(( $1 + 1 ))" "$SERVER_LOG" | awk '
    /acquired .* after [0-9.]+ ms/ { match($0, /after [0-9.]+ ms/); ms = substr($0, RSTART + 6, RLENGTH - 9) + 0
      if (ms > max) { max = ms; what = $0; sub(/.*acquired /, "", what); sub(/ on .*/, "", what) } n++ }
    /checkpoint starting/ { c++ }
    END { printf "lock waits > 5 ms: %d, longest %.1f ms (%s); checkpoints: %d", n, max, what ? what : "-", c }'
}

# run NAME COMMAND...: pgbench for the whole change; prints the row of the table and
# leaves T0 T1 (the change) and BASE_TPS (the BASE-1 seconds before it) set.
run() {
  local name=$1; shift
  fresh
  rm -f "$work"/pgbench_log.*
  # pgbench writes its per-transaction logs in the current folder; it must be our own
  # child (not a subshell's) so that the signal reaches it.
  pushd "$work" >/dev/null
  pgbench -h 127.0.0.1 -U postgres -n -c "$CLIENTS" -j 2 -T 600 -l -f update.sql "$DB" >"$work/pgbench.out" 2>&1 &
  local bench=$!
  popd >/dev/null
  sleep "$BASE"
  local from
  from=$(log_lines)
  T0=$(date +%s.%N)
  "$@" >"$work/$name.log" 2>&1 || { echo "$name failed:"; tail -5 "$work/$name.log"; }
  T1=$(date +%s.%N)
  sleep 2
  # Background jobs of a script ignore SIGINT; the log lost with SIGTERM is past the window.
  kill -TERM "$bench" 2>/dev/null || true
  wait "$bench" 2>/dev/null || true
  BASE_TPS=$(window "$(calc "$T0 - $BASE + 1")" "$T0" | cut -d' ' -f2)
  read -r stall tps <<<"$(window "$T0" "$T1")"
  printf '%-10s %8.2f %9.1f %9.0f %9.0f %6.0f%%\n' "$name" "$(calc "$T1 - $T0")" "$stall" "$BASE_TPS" "$tps" "$(calc "100 * $tps / $BASE_TPS")"
  eval "STALL_${name//-/_}=$stall"
  printf '           %s\n' "$(waits_since "$from")"
}

# step_window LOG PREFIX: epoch seconds when the step whose description starts with
# PREFIX began, and when the next step began (zerodown's JSON events).
step_window() {
  grep '"event":"step_started"' "$1" | sed -E 's/.*"description":"([^"]*)".*"ts":([0-9]+).*/\2 \1/' \
    | awk -v p="$2" 'found && !end { end = $1 } index($0, p) && !found { found = $1 } END { printf "%.3f %.3f", found / 1000, end / 1000 }'
}

echo "accounts: $ROWS rows; pgbench: $CLIENTS clients, single-row updates by random id"
printf '%-10s %8s %9s %9s %9s %7s\n' "variant" "wall s" "stall ms" "base tps" "tps" "kept"
run catalog "${PSQL[@]}" -d "$DB" -c "SET lock_timeout = '5s'; ALTER TABLE accounts ADD COLUMN token text NOT NULL DEFAULT 'x'"
run naive "${PSQL[@]}" -d "$DB" -c '\timing on' -c "BEGIN" -c "ALTER TABLE accounts ADD COLUMN token text" \
  -c "UPDATE accounts SET token = md5(random()::text)" -c "ALTER TABLE accounts ALTER COLUMN token SET NOT NULL" -c "COMMIT"
naive_update=$(grep -o 'Time: [0-9.]* ms' "$work/naive.log" | sed -n 3p | awk '{ print $2 / 1000 }')
echo "ALTER TABLE accounts ADD COLUMN token text NOT NULL DEFAULT md5(random()::text);" > "$work/m.sql"
summary=()
# zd NAME ARGS...: zerodown apply with ARGS, then its backfill's figures for the summary.
zd() {
  local name=$1; shift
  run "$name" ./target/release/zerodown apply "$work/m.sql" --database-url "postgres://postgres@127.0.0.1:5432/$DB" --yes --log-format json "$@"
  LONGEST=$(awk -v a="$LONGEST" -v b="$(calc "$T1 - $T0")" 'BEGIN { print (b > a ? b : a) }')
  local b0 b1 bf_stall bf_tps worst during
  read -r b0 b1 <<<"$(step_window "$work/$name.log" backfill)"
  read -r bf_stall bf_tps <<<"$(window "$b0" "$b1")"
  # The step running when the run's worst stall began.
  worst=$(cat "$work"/pgbench_log.* | awk -v t0="$T0" -v t1="$T1" '
    { t = $5 + $6 / 1e6; s = t - $3 / 1e6; if (t >= t0 && s <= t1 && $3 > max) { max = $3; at = s } }
    END { printf "%.3f", at * 1000 }')
  during=$(grep '"event":"step_started"' "$work/$name.log" \
    | sed -E 's/.*"description":"([^"]*)".*"ts":([0-9]+).*/\2 \1/' \
    | awk -v at="$worst" '$1 <= at { step = $0 } END { sub(/^[0-9]+ /, "", step); print step }')
  summary+=("$(printf '%-10s backfill %.2f s = %.2f x the naive UPDATE (target <= 1.5); tps kept in it %.0f%% (target >= 60%%); worst stall %s ms, began during: %s' \
    "$name" "$(calc "$b1 - $b0")" "$(calc "($b1 - $b0) / $naive_update")" "$(calc "100 * $bf_tps / $BASE_TPS")" \
    "$(eval echo "\$STALL_$name")" "${during:-(before the first step)}")")
}
LONGEST=0
zd zerodown
zd zd_5ms --batch-target-ms 5
zd zd_pause --batch-pause-ratio 0.5
run quiet sleep "$LONGEST"
"${PSQL[@]}" -d postgres -c "DROP DATABASE $DB"

echo
printf 'naive UPDATE alone: %.2f s\n' "$naive_update"
printf '%s\n' "${summary[@]}"
for v in zerodown zd_5ms zd_pause; do
  printf '%-10s worst stall / catalog %.2f (target <= 1.5); / quiet (as long as the longest run) %.2f\n' "$v" \
    "$(calc "$(eval echo "\$STALL_$v") / $STALL_catalog")" "$(calc "$(eval echo "\$STALL_$v") / $STALL_quiet")"
done
