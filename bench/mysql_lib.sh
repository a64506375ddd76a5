# Shared by the MySQL/MariaDB bench scripts (sourced after lib.sh): a throwaway MariaDB
# with a row binary log and a sysbench table, removed when the script exits.

# need_packages COMMAND... -- PACKAGE...: installs the Debian packages (apt-get) when one
# of the commands is missing.
need_packages() {
  local commands=() missing=""
  while [ "$1" != "--" ]; do commands+=("$1"); shift; done
  shift
  for c in "${commands[@]}"; do command -v "$c" >/dev/null || missing=1; done
  [ -z "$missing" ] && return 0
  echo "installing $* (Debian packages)" >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y "$@" >/dev/null
  else sudo apt-get install -y "$@" >/dev/null; fi
}

# sysbench_server ROWS WORK: builds zerodown ($zd), starts mariadbd in WORK on a random
# port ($port) with a row binary log, defines sql (the client on it) and $sb (sysbench's
# options), and prepares ROWS rows as sb.sbtest_base.
# The binary log is synced at each commit (sync_binlog=1, MySQL 8's default and the
# setting for crash-safe replication; MariaDB's default is 0). With SYNC_BINLOG=0 the
# kernel writes the file out when its pages are 30 s old (vm.dirty_expire_centisecs), in
# one burst that stalls every client 40-90 ms whatever runs (BENCHMARKS.md, session 10).
sysbench_server() {
  rows="$1"
  work="$2"
  port=$((20000 + RANDOM % 20000))
  trap 'stop_server' EXIT
  cargo build --release --quiet --bin zerodown
  zd="$here/../target/release/zerodown"
  local user_opt=()
  [ "$(id -u)" = 0 ] && user_opt=(--user=root)
  mariadb-install-db --no-defaults --datadir="$work/data" --auth-root-authentication-method=normal \
    --skip-test-db "${user_opt[@]}" >"$work/install.log" 2>&1
  mariadbd --no-defaults --datadir="$work/data" --socket="$work/sock" --pid-file="$work/mariadb.pid" \
    --port="$port" --bind-address=127.0.0.1 --log-bin="$work/binlog" --binlog-format=ROW --server-id=1 \
    --skip-name-resolve --innodb-buffer-pool-size=2G --innodb-log-file-size=512M --sync-binlog="${SYNC_BINLOG:-1}" \
    "${user_opt[@]}" >"$work/server.log" 2>&1 &
  for _ in $(seq 1 300); do
    mariadb --no-defaults -h127.0.0.1 -P"$port" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.1
  done
  sql -e "CREATE DATABASE sb"
  sb=(--db-driver=mysql --mysql-host=127.0.0.1 --mysql-port="$port" --mysql-user=root --mysql-db=sb
      --tables=1 --table-size="$rows")
  echo "preparing $rows rows..." >&2
  sysbench oltp_update_non_index "${sb[@]}" prepare >/dev/null
  sql sb -e "RENAME TABLE sbtest1 TO sbtest_base"
}

sql() { mariadb --no-defaults -h127.0.0.1 -P"$port" -uroot -N "$@"; }

stop_server() {
  [ -f "$work/mariadb.pid" ] && kill "$(cat "$work/mariadb.pid")" 2>/dev/null || true
  sleep 2
  rm -rf "$work"
}
