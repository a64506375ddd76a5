#!/usr/bin/env bash
# Every check and test of zerodown: formatting, lints, unit and snapshot tests, and the
# live tests against the local PostgreSQL (started by setup.sh if needed), and the
# rehearsal's HTML report in headless Chromium (installed by setup.sh), and dbmate and
# sqlx-cli seeing what zerodown applied (installed by tools.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ZERODOWN_SETUP_BROWSER=1 bash scripts/setup.sh
# The migration tools whose history zerodown writes, driven by the history tests.
bash scripts/tools.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# Snapshots are never written in CI: a stale or missing one fails the run.
INSTA_UPDATE=no cargo test --workspace --locked
