#!/usr/bin/env bash
# zerodown's main job on a local default: `zerodown demo` starts a throwaway PostgreSQL
# cluster from the installed binaries, fills a 1,000,000-row table, and runs
# `ADD COLUMN ... NOT NULL DEFAULT gen_random_uuid()` as written and with zerodown under 4
# synthetic clients, side by side; the HTML report goes to zerodown-demo.html. The cluster
# is removed at the end, also on Ctrl-C. Arguments go to `zerodown demo` (e.g. --rows 100000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --locked -q
set +e
./target/release/zerodown demo "$@"
code=$?
set -e
echo "demo: zerodown exited with $code (0: zerodown's run kept every client under the stall budget; see README)" >&2
exit "$code"
