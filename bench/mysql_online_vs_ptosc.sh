#!/usr/bin/env bash
# MySQL/MariaDB, side by side in one run on one throwaway MariaDB (row binlog), a
# 1,000,000-row sysbench table under sysbench load (4 threads of single-row updates):
#   instant  - a bare `ALTER TABLE … ADD COLUMN …, ALGORITHM=INSTANT` (the floor: every
#              DDL takes an exclusive metadata lock for a moment)
#   blocking - `ALTER TABLE sbtest1 MODIFY k BIGINT NOT NULL` as written (ALGORITHM=COPY)
#   ptosc    - pt-online-schema-change (Debian percona-toolkit) with the same change
#   zerodown - `zerodown apply` of the same change (its online rebuild)
# For each: how long the change took, copy rows/s, the worst latency any sysbench client
# saw in the seconds the change ran (each second's worst, from sysbench's per-second
# reports) and over its whole run (sysbench's max), tps while the change ran, and the
# row lock waits (InnoDB's count, all sessions) while it ran. Each change starts on a fresh
# copy of the table, its redo flushed.
#
#   bash bench/mysql_online_vs_ptosc.sh [ROWS] [SECONDS]
# SECONDS: how long each sysbench run lasts (default 120); each change must end before.
# REPEAT=N runs the contenders N times in turn (default 1) and ends with the medians
# and their ratios: one run on a shared machine decides little.
# RUNS="ptosc zerodown" runs only those (default: all four); ZERODOWN_ARGS adds options
# to `zerodown apply`; RATE=N runs sysbench at N transactions/s in all (default: as fast
# as it can, which on a small machine leaves no CPU to spare for any copy); SHOW_OUTPUT=1
# prints each change's output and sysbench's per-second reports (each second's tps and
# worst latency: --percentile=100); SYNC_BINLOG=0 runs the server with MariaDB's default
# sync_binlog=0 instead of 1 (see mysql_lib.sh).
# Needs: mariadb-server, sysbench, percona-toolkit (installed with apt-get when missing).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"
. "$here/mysql_lib.sh"
secs="${2:-120}"
threads=4
need_packages sysbench pt-online-schema-change -- sysbench percona-toolkit
sysbench_server "${1:-1000000}" "$(mktemp -d /tmp/zerodown-bench-mysql.XXXXXX)"

reset_table() {
  sql sb -e "DROP TABLE IF EXISTS sbtest1, sbtest1_zdold, _sbtest1_old, _sbtest1_new;
             CREATE TABLE sbtest1 LIKE sbtest_base; INSERT INTO sbtest1 SELECT * FROM sbtest_base;
             ANALYZE TABLE sbtest1" >/dev/null
  sql -e "RESET MASTER"
  flush_redo
}

# The table's copy above leaves ~260 MB of redo for InnoDB to flush; flushed at its own
# pace, it stalls clients up to 117 ms in seconds where nothing else runs (BENCHMARKS.md,
# session 9). Each change starts from a checkpointed server instead: dirty pages written
# at a high rate, then the server's settings back.
flush_redo() {
  local settings age
  settings=$(sql -e "SELECT CONCAT('SET GLOBAL innodb_max_dirty_pages_pct = ', @@innodb_max_dirty_pages_pct,
    ', GLOBAL innodb_io_capacity = ', @@innodb_io_capacity, ', GLOBAL innodb_io_capacity_max = ', @@innodb_io_capacity_max)")
  sql -e "SET GLOBAL innodb_io_capacity_max = 100000, GLOBAL innodb_io_capacity = 50000, GLOBAL innodb_max_dirty_pages_pct = 0"
  for _ in $(seq 1 600); do
    age=$(sql -e "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'INNODB_CHECKPOINT_AGE'")
    [ "$age" -lt 1048576 ] && break
    sleep 0.2
  done
  sql -e "$settings"
}

# Row lock waits of all sessions since the server started.
row_lock_waits() {
  sql -e "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'INNODB_ROW_LOCK_WAITS'"
}

# run NAME COMMAND...: the command under sysbench load; prints one result line.
run() {
  local name="$1"; shift
  reset_table
  local sbstart
  sbstart=$(date +%s.%N)
  sysbench oltp_update_non_index "${sb[@]}" --threads="$threads" --time="$secs" ${RATE:+--rate=$RATE} \
    --percentile=100 \
    --mysql-ignore-errors=1213,1205,1146 \
    --report-interval=1 run >"$work/$name.sysbench" 2>&1 &
  local sbpid=$!
  sleep 3
  local t0 t1 waits0
  waits0=$(row_lock_waits)
  t0=$(date +%s.%N)
  "$@" >"$work/$name.out" 2>&1 || { echo "$name failed:" >&2; cat "$work/$name.out" >&2; }
  t1=$(date +%s.%N)
  local waits=$(($(row_lock_waits) - waits0))
  [ -n "${SHOW_OUTPUT:-}" ] && cat "$work/$name.out" >&2
  # sysbench prints its latency summary only when its time is up.
  wait "$sbpid" || true
  [ -n "${SHOW_OUTPUT:-}" ] && { echo "sysbench started at $sbstart (unix time)"; grep '^\[' "$work/$name.sysbench"; } >&2
  # The comparison in parentheses: a bare `>` in awk's printf writes to a file.
  if [ "$(calc "($t1 - $t0 + 5 > $secs)")" = "1.000000" ]; then
    echo "$name: the change outlasted sysbench's $secs s; run again with more SECONDS" >&2
  fi
  local took max during tps errors
  took=$(calc "$t1 - $t0")
  max=$(awk '/max:/ { print $2; exit }' "$work/$name.sysbench")
  # The per-second reports that overlap the change (report "Ns" covers (N-1, N] seconds
  # after sysbench started; with RATE, sysbench also prints a queue line each second):
  # their mean tps and their worst latency.
  read -r tps during < <(awk -v a="$(calc "$t0 - $sbstart")" -v b="$(calc "$t1 - $sbstart")" '
    /^\[ *[0-9]+s \].*tps:/ { s = $2 + 0; if (s > a && s - 1 < b) { n++; sum += $7; if ($14 > w) w = $14 } }
    END { if (n) printf "%.0f %.2f\n", sum / n, w; else print "- -" }' "$work/$name.sysbench")
  # Errors clients got (deadlocks, lock waits, a missing table), ignored so the run goes on.
  errors=$(awk '/ignored errors:/ { print $3; exit }' "$work/$name.sysbench")
  printf "%-9s %9.2f s %10.0f rows/s %12s ms %12s ms %8s %7s %6s\n" "$name" "$took" "$(calc "$rows / $took")" "$during" "${max:--}" "$tps" "${errors:--}" "$waits"
  echo "$name $took ${max:--}" >>"$work/results"
}

# median NAME FIELD: the median of a contender's FIELD (2: took, 3: worst over the run).
median() {
  awk -v n="$1" -v f="$2" '$1 == n && $f != "-" { print $f }' "$work/results" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

echo "MariaDB $(sql -e 'SELECT VERSION()'), $rows rows, sysbench oltp_update_non_index, $threads threads${RATE:+, $RATE tps}"
printf "%-9s %11s %17s %15s %15s %8s %7s %6s\n" change took "rows/s (change)" "worst (change)" "worst (run)" "tps" "errors" "waits"
runs="${RUNS:-instant blocking ptosc zerodown}"
wanted() { case " $runs " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
echo "ALTER TABLE sbtest1 MODIFY k BIGINT NOT NULL DEFAULT 0;" >"$work/m.sql"
for _ in $(seq 1 "${REPEAT:-1}"); do
  # Each zerodown run is a new migration: its state from the last run goes.
  sql -e "DROP DATABASE IF EXISTS _zerodown"
  wanted instant && run instant sql sb -e "ALTER TABLE sbtest1 ADD COLUMN extra INT, ALGORITHM=INSTANT"
  wanted blocking && run blocking sql sb -e "ALTER TABLE sbtest1 MODIFY k BIGINT NOT NULL DEFAULT 0"
  wanted ptosc && run ptosc pt-online-schema-change --alter "MODIFY k BIGINT NOT NULL DEFAULT 0" \
    --execute --recursion-method=none --no-check-alter --set-vars lock_wait_timeout=1 \
    "h=127.0.0.1,P=$port,u=root,D=sb,t=sbtest1"
  # shellcheck disable=SC2086 # ZERODOWN_ARGS is a list of options
  wanted zerodown && run zerodown "$zd" apply "$work/m.sql" --database-url "mysql://root@127.0.0.1:$port/sb" --yes ${ZERODOWN_ARGS:-}
done
if [ "${REPEAT:-1}" -gt 1 ]; then
  echo "medians of ${REPEAT} runs each:"
  for name in $runs; do
    printf "%-9s took %6.2f s, worst (run) %8.2f ms\n" "$name" "$(median "$name" 2)" "$(median "$name" 3)"
  done
  if wanted ptosc && wanted zerodown; then
    echo "copy rate zerodown / pt-osc: $(printf "%.2f" "$(calc "$(median ptosc 2) / $(median zerodown 2)")") x (target >= 1)"
  fi
  if wanted instant && wanted zerodown; then
    echo "worst stall zerodown / INSTANT: $(printf "%.2f" "$(calc "$(median zerodown 3) / $(median instant 3)")") x (target <= 1.5)"
  fi
fi
echo "(rows/s: table rows over the whole change; pt-osc copies only, zerodown also compares"
echo " every chunk's checksum; worst (change): the worst latency of any client in the seconds"
echo " the change ran; worst (run): sysbench's max over its whole run, the change or not;"
echo " waits: InnoDB row lock waits of all sessions while the change ran)"
