#!/usr/bin/env bash
# zerodown's main job on a local default: a 1,000,000-row table in a local PostgreSQL,
# a risky migration as people write it, and the impact + safe plan zerodown makes of it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --locked -q
ROWS=${ROWS:-1000000}
DB=zerodown_demo
psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
echo "demo: creating accounts with $ROWS rows in database $DB ..." >&2
psql -h 127.0.0.1 -U postgres -d "$DB" -q <<SQL
CREATE TABLE accounts (
  id bigserial PRIMARY KEY,
  email varchar(120) NOT NULL,
  plan text,
  balance numeric(12,2) NOT NULL DEFAULT 0,
  created_at timestamp NOT NULL DEFAULT now()
);
INSERT INTO accounts (email, plan, balance, created_at)
SELECT 'user' || g || '@example.com', CASE WHEN g % 10 = 0 THEN 'pro' END, g % 1000, now() - g * interval '1 minute'
FROM generate_series(1, $ROWS) g;
CREATE INDEX accounts_created_at_idx ON accounts (created_at);
CREATE TABLE invoices (id serial PRIMARY KEY, account_id bigint, amount numeric(12,2));
INSERT INTO invoices (account_id, amount) SELECT 1 + g % $ROWS, g % 500 FROM generate_series(1, $ROWS / 2) g;
VACUUM ANALYZE;
SQL
set +e
./target/release/zerodown plan examples/risky_migration.sql --database-url "postgres://postgres@127.0.0.1:5432/$DB"
code=$?
set -e
echo "demo: zerodown exited with $code (3 = the migration as written has unsafe statements; see README)" >&2
[ "$code" -eq 0 ] || [ "$code" -eq 3 ]
