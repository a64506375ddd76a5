#!/usr/bin/env bash
# More kill -9 runs than the test suite does: RUNS (default 100) kills of `zerodown apply`
# at random points, each followed by `zerodown resume`, every final table compared with an
# uninterrupted run (the test crates/zerodown-cli/tests/apply_crash_live.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null 2>&1
ZERODOWN_CRASH_RUNS=${RUNS:-100} cargo test --release --locked -q -p zerodown-cli --test apply_crash_live -- --nocapture 2>&1 \
  | grep -E "runs,|test result|panicked|run [0-9]+"
