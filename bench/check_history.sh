#!/usr/bin/env bash
# Time and peak memory of `zerodown check` over a whole migration history (issue 21):
# the two histories under crates/zerodown-core/tests/histories, then each repeated
# COPIES times (default 50) as one long history with the tables renamed per copy, about
# the 1,200 files of the public projects the issue was measured on.
#
#   bash bench/check_history.sh [COPIES]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
copies="${1:-50}"
cargo build --release --quiet --bin zerodown
zd="$here/../target/release/zerodown"
histories="$here/../crates/zerodown-core/tests/histories"
work="$(mktemp -d /tmp/zerodown-bench-history.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# Writes COPIES copies of a history folder into one, renumbered in order, every table
# and index name suffixed with the copy's number so the copies do not collide.
python3 - "$histories" "$work" "$copies" <<'PY'
import os, re, sys
src, out, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = r"\b(accounts|orders|plans|invoices|orders_archive|purchases|purchases_archive|roles|order_totals|close_account|purchases_memo|orders_touch|touch|legacy_orders_total_idx|orders_note_idx|orders_note_search_idx|orders_account_idx|accounts_email_key|accounts_email|orders_account|orders_note_ft|orders_tags|orders_total_positive)\b"
for engine, pat in (("pg", r"^V(\d+)__(.*)$"), ("mysql", r"^(\d+)_(.*\.up\.sql)$")):
    files = sorted((int(m.group(1)), m.group(2), f)
                   for f in os.listdir(os.path.join(src, engine))
                   for m in [re.match(pat, f)] if m)
    os.makedirs(os.path.join(out, engine))
    n = 0
    for c in range(copies):
        for _, rest, f in files:
            n += 1
            text = open(os.path.join(src, engine, f)).read()
            text = re.sub(names, lambda m: f"{m.group(1)}_{c}", text)
            name = f"V{n}__{rest}" if engine == "pg" else f"{n:06d}_{rest}"
            open(os.path.join(out, engine, name), "w").write(text)
PY

measure() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>&1 || true
  tail -1 "$work/time"
}
printf '%-8s %-10s %6s %10s %8s %8s %9s %8s\n' engine history files statements KB findings seconds peak_MB
for engine in pg mysql; do
  target=postgres:17; [ "$engine" = mysql ] && target=mysql:8.0
  for which in corpus "x$copies"; do
    dir="$histories/$engine"; [ "$which" = corpus ] || dir="$work/$engine"
    files=$(find "$dir" -name '*.sql' ! -name '*.down.sql' | wc -l)
    kb=$(cat "$dir"/*.sql | wc -c | awk '{ printf "%.0f", $1 / 1024 }')
    statements=$(cat "$dir"/*.sql | grep -c ';' || true)
    read -r secs peak < <(measure "$zd" check --target "$target" "$dir")
    # check exits 2 or 3 on these histories (a refused SET search_path, errors).
    found=$({ "$zd" check --target "$target" --format json "$dir" || true; } | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["findings"]))')
    printf '%-8s %-10s %6d %10d %8s %8s %9s %8.0f\n' "$engine" "$which" "$files" "$statements" "$kb" "$found" "$secs" "$(awk "BEGIN { print $peak / 1024 }")"
  done
done
