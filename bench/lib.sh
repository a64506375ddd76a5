# Shared by the bench scripts (sourced): arithmetic, and windows over pgbench's
# per-transaction log in "$work".

calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }

# window T0 T1: over the pgbench log, "stall_ms tps" of the transactions overlapping [T0, T1].
window() {
  cat "$work"/pgbench_log.* | awk -v t0="$1" -v t1="$2" '
    NF >= 6 { t = $5 + $6 / 1e6; s = t - $3 / 1e6; if (t >= t0 && s <= t1) { n++; if ($3 > max) max = $3 } }
    END { printf "%.1f %.0f", max / 1000, n / (t1 - t0) }'
}
