#!/usr/bin/env bash
# Installs the migration tools the history tests drive, pinned, into a cache folder
# ($ZERODOWN_TOOLS, default ~/.cache/zerodown/tools): dbmate from npm and sqlx-cli from
# crates.io. Does nothing when they are there.
set -euo pipefail

log() { printf 'tools: %s\n' "$*" >&2; }
TOOLS=${ZERODOWN_TOOLS:-$HOME/.cache/zerodown/tools}
DBMATE_VERSION=2.36.0
SQLX_VERSION=0.9.0

if ! "$TOOLS/dbmate/node_modules/.bin/dbmate" --version 2>/dev/null | grep -qF "$DBMATE_VERSION"; then
  if ! command -v npm >/dev/null; then
    log "installing npm"
    if [ "$(id -u)" -eq 0 ]; then run=(); else run=(sudo); fi
    "${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${run[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null
  fi
  log "installing dbmate $DBMATE_VERSION (npm)"
  mkdir -p "$TOOLS/dbmate"
  (cd "$TOOLS/dbmate" && npm install --no-audit --no-fund --silent "dbmate@$DBMATE_VERSION")
fi

if ! "$TOOLS/sqlx/bin/sqlx" --version 2>/dev/null | grep -qF "$SQLX_VERSION"; then
  log "installing sqlx-cli $SQLX_VERSION (crates.io; a few minutes to build)"
  cargo install sqlx-cli --version "$SQLX_VERSION" --locked --quiet \
    --no-default-features --features postgres,mysql,rustls --root "$TOOLS/sqlx"
fi
log "dbmate $("$TOOLS/dbmate/node_modules/.bin/dbmate" --version | awk '{print $NF}'), $("$TOOLS/sqlx/bin/sqlx" --version)"
