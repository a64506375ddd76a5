#!/usr/bin/env bash
# Reshape (the peer to beat, `cargo install reshape --locked` from crates.io) and zerodown
# adding a backfilled NOT NULL column to the same busy table, in one run:
#   accounts (id bigint PRIMARY KEY, balance bigint NOT NULL DEFAULT 0, name text), ROWS rows,
#   pgbench: CLIENTS clients of single-row updates by random id (prepared), per-transaction log;
#   Reshape: add_column token TEXT NOT NULL, up = md5(random()::text), `reshape migration
#     start` then `reshape migration complete` (the table made by a Reshape create_table);
#   zerodown: `zerodown apply` of ALTER TABLE accounts ADD COLUMN token text NOT NULL
#     DEFAULT md5(random()::text), with its defaults.
# Each on a fresh table after BASE s of traffic; "stall" is the slowest client transaction
# that overlapped the change, "tps" the rate while it ran, "kept" against the BASE-1 s before.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROWS=${ROWS:-1000000}
CLIENTS=${CLIENTS:-4}
BASE=${BASE:-5}
DB=zerodown_bench_reshape
URL="postgres://postgres@127.0.0.1:5432/$DB"
# Reshape asks for TLS by default; the local server offers a self-signed certificate.
RURL="$URL?sslmode=disable"
PSQL=(env PGOPTIONS=-cclient_min_messages=warning psql -X -q -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1)
bash scripts/setup.sh >/dev/null 2>&1
cargo build --release --locked -q
RESHAPE=${RESHAPE:-$(command -v reshape || true)}
if [ -z "$RESHAPE" ]; then
  echo "installing reshape from crates.io into target/reshape ..." >&2
  cargo install reshape --locked --root target/reshape -q
  RESHAPE=target/reshape/bin/reshape
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/migrations"
cat > "$work/migrations/1_create_accounts.toml" <<'TOML'
[[actions]]
type = "create_table"
name = "accounts"
primary_key = ["id"]

    [[actions.columns]]
    name = "id"
    type = "BIGINT"
    nullable = false

    [[actions.columns]]
    name = "balance"
    type = "BIGINT"
    nullable = false
    default = "0"

    [[actions.columns]]
    name = "name"
    type = "TEXT"
TOML
cat > "$work/migrations/2_add_token.toml" <<'TOML'
[[actions]]
type = "add_column"
table = "accounts"
up = "md5(random()::text)"

    [actions.column]
    name = "token"
    type = "TEXT"
    nullable = false
TOML
echo "ALTER TABLE accounts ADD COLUMN token text NOT NULL DEFAULT md5(random()::text);" > "$work/m.sql"
printf '\\set id random(1, %s)\nUPDATE accounts SET balance = balance + 1 WHERE id = :id;\n' "$ROWS" > "$work/update.sql"

# fresh MAKE_TABLE...: a new database, the table made by MAKE_TABLE, ROWS rows.
fresh() {
  "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  "$@" >"$work/fresh.log" 2>&1 || { cat "$work/fresh.log"; exit 1; }
  "${PSQL[@]}" -d "$DB" -c "INSERT INTO accounts SELECT g, 0, md5(g::text) FROM generate_series(1, $ROWS) g" \
    -c "VACUUM ANALYZE accounts" -c "CHECKPOINT"
}

# run NAME COMMAND...: pgbench throughout, COMMAND after BASE s; prints the row.
run() {
  local name=$1; shift
  rm -f "$work"/pgbench_log.*
  pushd "$work" >/dev/null
  pgbench -h 127.0.0.1 -U postgres -n -M prepared -c "$CLIENTS" -j 2 -T 600 -l -f update.sql "$DB" >"$work/pgbench.out" 2>&1 &
  local bench=$!
  popd >/dev/null
  sleep "$BASE"
  local t0 t1 base_tps stall tps
  t0=$(date +%s.%N)
  ( cd "$work" && "$@" ) >"$work/$name.log" 2>&1 || { echo "$name failed:"; tail -5 "$work/$name.log"; }
  t1=$(date +%s.%N)
  sleep 2
  kill -TERM "$bench" 2>/dev/null || true
  wait "$bench" 2>/dev/null || true
  base_tps=$(window "$(calc "$t0 - $BASE + 1")" "$t0" | cut -d' ' -f2)
  read -r stall tps <<<"$(window "$t0" "$t1")"
  printf '%-10s %8.2f %9.1f %9.0f %9.0f %6.0f%%\n' "$name" "$(calc "$t1 - $t0")" "$stall" "$base_tps" "$tps" "$(calc "100 * $tps / $base_tps")"
}
check() {
  "${PSQL[@]}" -d "$DB" -tAc "SELECT count(*) FILTER (WHERE token IS NULL), count(DISTINCT token), (SELECT attnotnull FROM pg_attribute WHERE attrelid = 'public.accounts'::regclass AND attname = 'token') FROM public.accounts"
}

echo "accounts: $ROWS rows; pgbench: $CLIENTS clients, single-row updates by random id; $("$RESHAPE" --version)"
printf '%-10s %8s %9s %9s %9s %7s\n' "tool" "wall s" "stall ms" "base tps" "tps" "kept"
fresh "$RESHAPE" migration start --complete --migration 1_create_accounts --url "$RURL" --dirs "$work/migrations"
run reshape sh -c "'$RESHAPE' migration start --url '$RURL' --dirs '$work/migrations' && '$RESHAPE' migration complete --url '$RURL'"
echo "           after: null tokens, distinct tokens, NOT NULL = $(check)"
fresh "${PSQL[@]}" -d "$DB" -c "CREATE TABLE accounts (id bigint PRIMARY KEY, balance bigint NOT NULL DEFAULT 0, name text)"
run zerodown "$PWD/target/release/zerodown" apply "$work/m.sql" --database-url "$URL" --yes
echo "           after: null tokens, distinct tokens, NOT NULL = $(check)"
"${PSQL[@]}" -d postgres -c "DROP DATABASE $DB"
