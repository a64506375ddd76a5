#!/usr/bin/env bash
# MySQL/MariaDB: what the online rebuild's cut-over alone costs clients. On a throwaway
# MariaDB (row binlog) with a sysbench table of ROWS rows, `zerodown apply
# --postpone-cutover` copies and verifies with no load; then sysbench runs (4 threads of
# single-row updates, --percentile=100: each per-second report carries that second's
# worst latency) and `zerodown cutover` is given halfway through. Prints each second's
# worst, the cut-over's second, and how long the tables were locked. RUNS cut-overs, each
# on a fresh copy of the table.
#
#   bash bench/mysql_cutover_stall.sh [ROWS] [SECONDS] [RUNS]
# Needs: mariadb-server, sysbench (installed with apt-get when missing).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/lib.sh"
. "$here/mysql_lib.sh"
secs="${2:-20}"
runs="${3:-2}"
need_packages sysbench -- sysbench
sysbench_server "${1:-1000000}" "$(mktemp -d /tmp/zerodown-bench-cutover.XXXXXX)"
echo "ALTER TABLE sbtest1 MODIFY k BIGINT NOT NULL DEFAULT 0;" >"$work/m.sql"
url="mysql://root@127.0.0.1:$port/sb"

echo "MariaDB $(sql -e 'SELECT VERSION()'), $rows rows, sysbench oltp_update_non_index, 4 threads, $secs s"
for run in $(seq 1 "$runs"); do
  sql sb -e "DROP TABLE IF EXISTS sbtest1, sbtest1_zdold; DROP DATABASE IF EXISTS _zerodown;
             CREATE TABLE sbtest1 LIKE sbtest_base; INSERT INTO sbtest1 SELECT * FROM sbtest_base;
             ANALYZE TABLE sbtest1" >/dev/null
  "$zd" apply "$work/m.sql" --database-url "$url" --yes --postpone-cutover --log-format json \
    >"$work/apply.out" 2>&1 &
  apply=$!
  until grep -q '"phase":"cutover_postponed"' "$work/apply.out"; do
    kill -0 "$apply" 2>/dev/null || { cat "$work/apply.out" >&2; exit 1; }
    sleep 0.2
  done
  sleep 3
  start=$(date +%s.%N)
  sysbench oltp_update_non_index "${sb[@]}" --threads=4 --time="$secs" --percentile=100 \
    --mysql-ignore-errors=1213,1205,1146 --report-interval=1 run >"$work/sysbench" 2>&1 &
  bench=$!
  sleep "$(calc "$secs / 2")"
  at=$(calc "$(date +%s.%N) - $start")
  "$zd" cutover --database-url "$url" >/dev/null 2>&1
  wait "$apply"
  wait "$bench"
  held=$(grep -o '"held_ms":[0-9]*' "$work/apply.out" | tail -1 | cut -d: -f2)
  # Report "Ns" covers (N-1, N] seconds after sysbench started.
  awk -v at="$at" -v run="$run" -v held="$held" '
    /^\[ *[0-9]+s \].*tps:/ { s = $2 + 0; w = $14 + 0; line = line sprintf(" %s", w)
      if (s - 1 < at && at <= s) cut = w; else { n++; if (w > other) other = w } }
    END { printf "run %d: cut-over at %.1f s, worst in its second %.2f ms (tables locked %s ms), worst of the other seconds %.2f ms\n  each second:%s\n", run, at, cut, held, other, line }' \
    "$work/sysbench"
done
