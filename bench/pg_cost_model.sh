#!/usr/bin/env bash
# How good are zerodown's time estimates? On a table of ROWS rows (default 1,000,000)
# in a scratch database, for each slow DDL form: the estimate `zerodown plan` prints from
# the live catalog, then the real duration (run in a transaction and rolled back).
# Prints one row per form: estimate, measured, and the ratio estimate/measured.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000}
DB=zerodown_bench_cost
PSQL=(psql -X -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1)
bash scripts/setup.sh >/dev/null 2>&1
cargo build --release --locked -q
"${PSQL[@]}" -d postgres -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
"${PSQL[@]}" -d "$DB" -q <<SQL
CREATE TABLE accounts (id bigserial PRIMARY KEY, email varchar(120) NOT NULL, plan text,
  balance numeric(12,2) NOT NULL DEFAULT 0, created_at timestamp NOT NULL DEFAULT now());
INSERT INTO accounts (email, plan, balance, created_at)
  SELECT 'user' || g || '@example.com', 'free', g % 1000, now() - g * interval '1 minute' FROM generate_series(1, $ROWS) g;
CREATE INDEX accounts_created_at_idx ON accounts (created_at);
CREATE TABLE invoices (id serial PRIMARY KEY, account_id bigint, amount numeric(12,2));
INSERT INTO invoices (account_id, amount) SELECT 1 + g % $ROWS, g % 500 FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE;
SQL
size=$("${PSQL[@]}" -d "$DB" -tAc "select pg_size_pretty(pg_total_relation_size('accounts'))")
echo "table accounts: $ROWS rows, $size with indexes; invoices: $ROWS rows"
printf '%-58s %10s %10s %7s\n' "statement" "estimate" "measured" "ratio"
while IFS= read -r sql; do
  [ -n "$sql" ] || continue
  est=$(echo "$sql" | ./target/release/zerodown plan - --format json --database-url "postgres://postgres@127.0.0.1/$DB" \
        | grep -o '"estimated_seconds": [0-9.e-]*' | head -1 | awk '{print $2}') || true
  ms=$("${PSQL[@]}" -d "$DB" -q -c '\timing on' -c 'BEGIN' -c "$sql" -c 'ROLLBACK' | grep '^Time:' | sed -n 2p | awk '{print $2}')
  meas=$(awk -v m="$ms" 'BEGIN { printf "%.3f", m / 1000 }')
  ratio=$(awk -v e="${est:-0}" -v m="$meas" 'BEGIN { if (m > 0) printf "%.2f", e / m; else print "-" }')
  printf '%-58s %9ss %9ss %7s\n' "${sql:0:58}" "${est:-?}" "$meas" "$ratio"
done <<'SQL'
ALTER TABLE accounts ADD COLUMN k uuid DEFAULT gen_random_uuid()
ALTER TABLE invoices ALTER COLUMN id TYPE bigint
ALTER TABLE accounts ADD CONSTRAINT pos CHECK (balance >= 0)
ALTER TABLE accounts ALTER COLUMN plan SET NOT NULL
CREATE INDEX accounts_email_idx ON accounts (email)
ALTER TABLE invoices ADD CONSTRAINT fk FOREIGN KEY (account_id) REFERENCES accounts (id)
UPDATE accounts SET plan = 'pro'
SQL
"${PSQL[@]}" -d postgres -qc "DROP DATABASE $DB"
