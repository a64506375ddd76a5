#!/usr/bin/env bash
# The rehearsal's own client (zerodown-load, through `zerodown rehearse`) against pgbench
# as the independent client, on the same table, traffic and migration, in one run:
#   accounts (id bigint PRIMARY KEY, balance bigint NOT NULL DEFAULT 0, name text), ROWS rows,
#   CLIENTS clients of single-row updates by random id (prepared statements on both sides),
#   BASE s of traffic, `ALTER TABLE accounts ADD COLUMN token text NOT NULL DEFAULT
#   md5(random()::text)` run by zerodown's executor, BASE s of traffic after.
# Both measure every operation's latency; the figures per phase should agree, and where
# they do not, the difference is the client's own cost.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
CLIENTS=${CLIENTS:-4}
BASE=${BASE:-5}
DB=zerodown_bench_generators
URL="postgres://postgres@127.0.0.1:5432"
PSQL=(env PGOPTIONS=-cclient_min_messages=warning psql -X -q -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1)
bash scripts/setup.sh >/dev/null 2>&1
cargo build --release --locked -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
SCHEMA="CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL DEFAULT 0, name text);"
echo "$SCHEMA" > "$work/schema.sql"
echo "ALTER TABLE accounts ADD COLUMN token text NOT NULL DEFAULT md5(random()::text);" > "$work/m.sql"
printf '\\set id random(1, %s)\nUPDATE accounts SET balance = balance WHERE id = :id;\n' "$ROWS" > "$work/update.sql"

# 1. zerodown-load, in a rehearsal on this server (its own database, removed after).
./target/release/zerodown rehearse "$work/m.sql" --scratch "$URL/postgres" --schema "$work/schema.sql" \
  --rows "accounts=$ROWS" --clients "$CLIENTS" --mix update=100 --settle-secs "$BASE" \
  --max-stall-ms 100000 --format json >"$work/rehearse.json" 2>"$work/rehearse.err" \
  || { echo "rehearse failed:"; tail -5 "$work/rehearse.err"; exit 1; }

# 2. pgbench, on a table filled the same way (ids 1..ROWS), and zerodown apply.
"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
"${PSQL[@]}" -d "$DB" -c "$SCHEMA" -c "INSERT INTO accounts SELECT g, 0, md5(g::text) FROM generate_series(1, $ROWS) g" -c "VACUUM ANALYZE accounts" -c "CHECKPOINT"
pushd "$work" >/dev/null
pgbench -h 127.0.0.1 -U postgres -n -M prepared -c "$CLIENTS" -j 2 -T 600 -l -f update.sql "$DB" >"$work/pgbench.out" 2>&1 &
bench=$!
popd >/dev/null
sleep "$BASE"
T0=$(date +%s.%N)
./target/release/zerodown apply "$work/m.sql" --database-url "$URL/$DB" --yes >"$work/apply.log" 2>&1
T1=$(date +%s.%N)
sleep "$BASE"
T2=$(date +%s.%N)
kill -TERM "$bench" 2>/dev/null || true
wait "$bench" 2>/dev/null || true
"${PSQL[@]}" -d postgres -c "DROP DATABASE $DB"

python3 - "$work" "$T0" "$T1" "$T2" "$BASE" <<'PY'
import glob, json, sys
work, t0, t1, t2, base = sys.argv[1], *map(float, sys.argv[2:])
rows = []
for f in glob.glob(f"{work}/pgbench_log.*"):
    for line in open(f):
        p = line.split()
        if len(p) < 6:
            continue  # the last line, cut by the stop
        lat = int(p[2]) / 1000.0
        end = int(p[4]) + int(p[5]) / 1e6
        rows.append((end - lat / 1000.0, lat))
def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else 0.0
def phase(lo, hi):
    xs = [l for s, l in rows if lo <= s < hi]
    return {"ops_per_sec": len(xs) / (hi - lo), "p50_ms": pct(xs, .5), "p99_ms": pct(xs, .99),
            "p999_ms": pct(xs, .999), "max_ms": max(xs, default=0.0)}
pg = {"before": phase(t0 - base, t0), "during": phase(t0, t1), "after": phase(t1, t2)}
report = json.load(open(f"{work}/rehearse.json"))
run = report["runs"][-1]
zd = {p["name"]: p for p in run["phases"]}
print(f"accounts: {report['rows'][0][1]} rows; {report['workload']['clients']} clients of single-row updates by random id")
print(f"migration: zerodown apply {t1 - t0:.1f} s under pgbench, {run['migration_ended_ms'] / 1000 - run['migration_started_ms'] / 1000:.1f} s under zerodown-load")
print(f"{'phase':8} {'figure':12} {'pgbench':>10} {'zd-load':>10} {'ratio':>7}")
for name in ("before", "during", "after"):
    for k in ("ops_per_sec", "p50_ms", "p99_ms", "p999_ms", "max_ms"):
        a, b = pg[name][k], zd[name][k]
        print(f"{name:8} {k:12} {a:10.1f} {b:10.1f} {b / a if a else 0:7.2f}")
PY
