//! The SQL of one keyset backfill batch: the range's bound, then the update of the range
//! with the checkpoint. Key values travel as quoted literals of the key's own types, so
//! the batch can be sent as two simple-protocol messages.

use zerodown_core::plan::BackfillSpec;
use zerodown_core::sql::quote::{ident, ident_list, literal};
use zerodown_exec::BackfillKey;

use crate::driver::table_sql;

/// Where a batch records its progress, in the batch's own transaction.
pub struct BatchCheckpoint<'a> {
    pub migration: &'a str,
    pub step: usize,
    pub batch_size: u32,
}

/// `(k1, k2) > ('v1'::t1, 'v2'::t2)`: a keyset comparison with the key's values as
/// quoted literals of their own types (the index answers it as one range).
fn key_cmp(key: &BackfillKey, op: &str, values: &[String]) -> String {
    let values: Vec<String> = values
        .iter()
        .zip(&key.types)
        .map(|(v, t)| format!("{}::{t}", literal(v)))
        .collect();
    format!(
        "({}) {op} ({})",
        ident_list(&key.columns),
        values.join(", ")
    )
}

/// The first statement of a batch: how many of the next `limit` keys after `after` exist,
/// and the last of them as text (one row; none when the table is done).
pub fn bound_sql(
    spec: &BackfillSpec,
    key: &BackfillKey,
    after: Option<&[String]>,
    limit: u32,
) -> String {
    let aliases: Vec<String> = (0..key.columns.len()).map(|i| format!("zd_k{i}")).collect();
    let select: Vec<String> = key
        .columns
        .iter()
        .zip(&aliases)
        .map(|(c, a)| format!("{} AS {a}", ident(c)))
        .collect();
    let after = after
        .map(|v| format!(" WHERE {}", key_cmp(key, ">", v)))
        .unwrap_or_default();
    // Named apart from the keys: ORDER BY would take an output column of the same name,
    // and sort the keys as text ('999' after '1000').
    let last: Vec<String> = aliases
        .iter()
        .map(|a| format!("{a}::text AS {a}_text"))
        .collect();
    let order_desc: Vec<String> = aliases.iter().map(|a| format!("{a} DESC")).collect();
    // count(*) OVER () is computed before the LIMIT 1: it counts the whole batch.
    format!(
        "WITH zd_batch AS (SELECT {} FROM {}{after} ORDER BY {} LIMIT {limit}) \
         SELECT count(*) OVER (), {} FROM zd_batch ORDER BY {} LIMIT 1",
        select.join(", "),
        table_sql(&spec.table),
        ident_list(&key.columns),
        last.join(", "),
        order_desc.join(", "),
    )
}

/// The second statement of a batch: the update of the range `(after, last]` (the rows
/// that still need it) and the checkpoint, returning how many rows changed. A range and
/// not a join on the keys read: joined, the planner hashes the whole table once a batch
/// holds a few thousand keys (seen on 1M rows at 10k keys).
pub fn update_sql(
    spec: &BackfillSpec,
    key: &BackfillKey,
    after: Option<&[String]>,
    last: &[String],
    at: &BatchCheckpoint<'_>,
) -> String {
    let set: Vec<String> = spec
        .set
        .iter()
        .map(|a| format!("{} = {}", ident(&a.column), a.expr))
        .collect();
    let mut range: Vec<String> = after.map(|v| key_cmp(key, ">", v)).into_iter().collect();
    range.push(key_cmp(key, "<=", last));
    range.extend(spec.filter.iter().map(|f| format!("({f})")));
    let last_key: Vec<String> = last.iter().map(|v| literal(v)).collect();
    format!(
        "WITH zd_upd AS (UPDATE {} SET {} WHERE {} RETURNING 1), \
         zd_n AS (SELECT count(*) AS n FROM zd_upd) \
         UPDATE zerodown.steps SET rows_done = rows_done + zd_n.n, last_key = ARRAY[{}]::text[], batch_size = {} \
         FROM zd_n WHERE migration_id = {} AND step_no = {} RETURNING zd_n.n",
        table_sql(&spec.table),
        set.join(", "),
        range.join(" AND "),
        last_key.join(", "),
        at.batch_size,
        literal(at.migration),
        at.step,
    )
}
