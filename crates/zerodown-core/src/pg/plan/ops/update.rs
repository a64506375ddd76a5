//! UPDATE in a migration -> a batched keyset backfill, and the backfill step builder
//! shared by the operations that need one.

use super::Ctx;
use crate::lock::LockMode;
use crate::pg::catalog::Table;
use crate::pg::ir::{Expr, QualName, Statement};
use crate::pg::plan::table_or_assumed;
use crate::plan::step::{Assignment, BackfillSpec, Phase, StepKind};
use crate::sql::quote::{ident, ident_list, qual};

pub(crate) fn plan(
    ctx: &mut Ctx,
    stmt: &Statement,
    table: &QualName,
    assignments: &[(String, Expr)],
    filter: Option<&Expr>,
) {
    let t = table_or_assumed(ctx.cat, table);
    if t.is_empty() {
        ctx.as_written(
            stmt,
            Phase::Backfill,
            &format!("update new table {}", t.name),
        );
        return;
    }
    let set = assignments
        .iter()
        .map(|(c, e)| Assignment {
            column: c.clone(),
            expr: e.sql.clone(),
        })
        .collect();
    backfill_step(
        ctx,
        &t,
        set,
        filter.map(|f| format!("({})", f.sql)),
        format!("run the UPDATE of {} as a batched backfill", t.name),
    );
}

/// Adds a batched backfill step on `t`.
pub(crate) fn backfill_step(
    ctx: &mut Ctx,
    t: &Table,
    set: Vec<Assignment>,
    filter: Option<String>,
    description: String,
) {
    let key = t.primary_key().unwrap_or_default();
    if key.is_empty() && !t.assumed {
        ctx.note(format!(
            "{} has no primary key: the batched backfill needs a unique NOT NULL key (add one, or name it at apply time)",
            t.name
        ));
    }
    let spec = BackfillSpec {
        table: t.name.to_string(),
        key: key.clone(),
        set,
        filter,
        batch_size: ctx.opts.batch_size,
        target_batch_ms: ctx.opts.target_batch_ms,
        verify: None,
    };
    let sql = vec![batch_sql(&t.name, &spec)];
    let step = ctx.step(
        Phase::Backfill,
        StepKind::Backfill,
        Some(t),
        description,
        sql,
        Some(LockMode::RowExclusive),
    );
    step.scans_table = false;
    step.backfill = Some(Box::new(spec));
}

/// Marks the backfill just planned as one whose filter names exactly the rows that
/// still need it: once done, none may match.
pub(crate) fn verify_last_backfill(ctx: &mut Ctx) {
    let Some(spec) = ctx.steps.last_mut().and_then(|s| s.backfill.as_mut()) else {
        return;
    };
    if let Some(filter) = &spec.filter {
        let table = QualName::parse_shown(&spec.table);
        spec.verify = Some(format!(
            "SELECT NOT EXISTS (SELECT 1 FROM {} WHERE {filter})",
            qual(&table)
        ));
    }
}

/// One batch, as the executor runs it: keyset range `(key) > $1 AND (key) <= $2`.
pub fn batch_sql(table: &QualName, spec: &BackfillSpec) -> String {
    let key = if spec.key.is_empty() {
        "/* primary key */".to_owned()
    } else {
        ident_list(&spec.key)
    };
    let set = spec
        .set
        .iter()
        .map(|a| format!("{} = {}", ident(&a.column), a.expr))
        .collect::<Vec<_>>()
        .join(", ");
    let filter = spec
        .filter
        .as_ref()
        .map(|f| format!(" AND {f}"))
        .unwrap_or_default();
    format!(
        "UPDATE {} SET {set} WHERE ({key}) > ($1) AND ({key}) <= ($2){filter}",
        qual(table)
    )
}
