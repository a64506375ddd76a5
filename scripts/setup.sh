#!/usr/bin/env bash
# Makes sure this machine can build and test zerodown: installs what is missing
# (PostgreSQL, MariaDB, the C toolchain pieces pg_query needs) and starts the servers.
# Safe to run again: does nothing when everything is already there and running.
# Needs root only when something must be installed or started.
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to run: $*"; exit 1; fi
}

PG_HOST=127.0.0.1
PG_PORT=${PGPORT_TEST:-5432}

# 1. Packages. pg_query builds libpg_query with a C compiler and generates bindings
#    (libclang) and protobuf code (protoc).
need=()
command -v cc >/dev/null || need+=(build-essential)
command -v protoc >/dev/null || need+=(protobuf-compiler)
# libclang.so itself: libclang-cpp (a different library) may be installed without it.
ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || need+=(libclang-dev clang)
command -v pg_ctlcluster >/dev/null || need+=(postgresql postgresql-contrib)
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v pgbench >/dev/null || need+=(postgresql-contrib)
# The TLS tests write the MySQL driver's client key in PKCS#1 form with openssl.
command -v openssl >/dev/null || need+=(openssl)
# The pooler tests run zerodown behind a real PgBouncer.
command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || need+=(pgbouncer)
# The tests check the rehearsal's HTML report in a real headless browser.
if [ "${ZERODOWN_SETUP_BROWSER:-0}" = 1 ]; then command -v chromium >/dev/null || need+=(chromium); fi
if [ ${#need[@]} -gt 0 ]; then
  log "installing: ${need[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# 2. PostgreSQL: running, reachable over TCP without a password for the test user,
#    with a database named test.
pg_ok() { psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; }
if ! pg_ok; then
  version=$(ls /etc/postgresql | sort -n | tail -1)
  log "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
  for _ in $(seq 1 30); do pg_ok && break; sleep 1; done
  if ! pg_ok; then
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
      log "allowing local TCP connections without a password (test machine only) in $hba"
      as_root sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
      as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
      sleep 1
    fi
  fi
  pg_ok || { log "PostgreSQL is not reachable on $PG_HOST:$PG_PORT"; exit 1; }
fi
if [ "$(psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -tAc "select 1 from pg_database where datname = 'test'")" != 1 ]; then
  psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d postgres -qc 'CREATE DATABASE test'
fi
log "PostgreSQL ready: $(psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d test -tAc 'show server_version')"

# 3. MariaDB: running, root over TCP with an empty password, database test.
maria_ok() { mariadb -h 127.0.0.1 -uroot -e 'select 1' >/dev/null 2>&1; }
if ! maria_ok; then
  log "starting MariaDB"
  as_root mkdir -p /run/mysqld
  as_root chown mysql:mysql /run/mysqld 2>/dev/null || true
  as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql || true
  for _ in $(seq 1 30); do
    maria_ok && break
    # A fresh Debian install lets root in only through the socket: open TCP for tests.
    as_root mariadb -uroot -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD(''); CREATE USER IF NOT EXISTS root@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL ON *.* TO root@'127.0.0.1' WITH GRANT OPTION;" >/dev/null 2>&1 || true
    sleep 1
  done
  maria_ok || log "warning: MariaDB is not reachable on 127.0.0.1:3306 (not needed by the PostgreSQL tests)"
fi
if maria_ok; then
  mariadb -h 127.0.0.1 -uroot -e 'CREATE DATABASE IF NOT EXISTS test'
  log "MariaDB ready: $(mariadb -h 127.0.0.1 -uroot -N -e 'select version()')"
fi

# 4. Rust components used by the test script.
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
