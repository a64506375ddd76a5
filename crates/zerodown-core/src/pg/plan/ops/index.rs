//! CREATE INDEX -> CONCURRENTLY, outside a transaction, checked valid afterwards (the
//! executor drops an invalid leftover before retrying); DROP INDEX -> CONCURRENTLY.

use super::Ctx;
use crate::capabilities as cap;
use crate::lock::LockMode;
use crate::pg::catalog::simulate::default_name;
use crate::pg::catalog::Table;
use crate::pg::ir::{IndexDef, QualName, Statement};
use crate::pg::plan::table_or_assumed;
use crate::pg::render::valid_index_exists;
use crate::plan::step::{Phase, StepKind};
use crate::sql::quote::{ident, qual};

/// An index name qualified with its table's schema (indexes live in the table's schema).
pub(crate) fn index_in_schema(t: &Table, index: &str) -> String {
    qual(&QualName {
        schema: t.name.schema.clone(),
        name: index.to_owned(),
    })
}

pub(crate) fn create_index(ctx: &mut Ctx, stmt: &Statement, ix: &IndexDef) {
    let t = table_or_assumed(ctx.cat, &ix.table);
    if t.is_empty() {
        ctx.as_written(
            stmt,
            Phase::Expand,
            &format!("create index on new table {}", t.name),
        );
        return;
    }
    if t.partitioned {
        ctx.note(format!(
            "index on partitioned table {}: CONCURRENTLY is not supported on the parent; create it ON ONLY the parent, CONCURRENTLY on each partition, then ALTER INDEX ... ATTACH PARTITION (not automated yet)",
            t.name
        ));
        let step = ctx.step(
            Phase::Expand,
            StepKind::AsWritten,
            Some(&t),
            format!(
                "create index on partitioned table {} (blocks writes while it builds)",
                t.name
            ),
            vec![stmt.sql.clone()],
            Some(LockMode::Share),
        );
        step.scans_table = true;
        step.reversible = false;
        return;
    }
    let name = ix
        .name
        .clone()
        .unwrap_or_else(|| default_name(&ix.table.name, &ix.columns, "idx"));
    let sql = format!(
        "CREATE {}INDEX CONCURRENTLY {} ON {}{} {}",
        if ix.unique { "UNIQUE " } else { "" },
        ident(&name),
        if ix.only { "ONLY " } else { "" },
        qual(&t.name),
        ix.body_sql
    );
    let step = ctx.step(
        Phase::Expand,
        StepKind::CreateIndexConcurrently,
        Some(&t),
        format!("build index {name} concurrently (reads and writes go on)"),
        vec![sql],
        Some(LockMode::ShareUpdateExclusive),
    );
    step.done_check = Some(valid_index_exists(&t.name, &name));
    step.index = Some(index_in_schema(&t, &name));
    step.undo = vec![format!(
        "DROP INDEX CONCURRENTLY IF EXISTS {}",
        index_in_schema(&t, &name)
    )];
}

pub(crate) fn reindex(
    ctx: &mut Ctx,
    stmt: &Statement,
    name: &QualName,
    is_table: bool,
    concurrently: bool,
) {
    let t = if is_table {
        Some(table_or_assumed(ctx.cat, name))
    } else {
        ctx.cat.table_of_index(name).cloned()
    };
    if concurrently || !cap::reindex_concurrently(ctx.p) || t.as_ref().is_some_and(Table::is_empty)
    {
        if !concurrently && !cap::reindex_concurrently(ctx.p) {
            ctx.note(format!(
                "REINDEX of {name} blocks writes before PostgreSQL 12: build a twin index concurrently and drop the old one instead"
            ));
        }
        ctx.as_written(stmt, Phase::Expand, &format!("reindex {name}"));
        if let (Some(s), true) = (ctx.steps.last_mut(), concurrently) {
            s.kind = StepKind::ReindexConcurrently;
        }
        return;
    }
    // An unqualified index lives in its table's schema.
    let target = QualName {
        schema: name
            .schema
            .clone()
            .or_else(|| t.as_ref().and_then(|t| t.name.schema.clone())),
        name: name.name.clone(),
    };
    let step = ctx.step(
        Phase::Expand,
        StepKind::ReindexConcurrently,
        t.as_ref(),
        format!(
            "rebuild {} {name} concurrently (reads and writes go on)",
            if is_table { "the indexes of" } else { "index" }
        ),
        vec![format!(
            "REINDEX {} CONCURRENTLY {}",
            if is_table { "TABLE" } else { "INDEX" },
            qual(&target.resolved())
        )],
        Some(LockMode::ShareUpdateExclusive),
    );
    step.reversible = false;
    if !is_table {
        step.index = Some(qual(&target.resolved()));
    }
}

pub(crate) fn drop_index(ctx: &mut Ctx, stmt: &Statement, names: &[QualName], concurrently: bool) {
    for n in names {
        let t = ctx.cat.table_of_index(n).cloned();
        let backs_constraint = t
            .as_ref()
            .and_then(|t| t.indexes.iter().find(|i| i.name == n.name))
            .is_some_and(|i| i.constraint.is_some());
        if backs_constraint || t.as_ref().is_some_and(|t| t.is_empty()) {
            ctx.as_written(stmt, Phase::Contract, &format!("drop index {n}"));
            continue;
        }
        let step = ctx.step(
            Phase::Contract,
            StepKind::DropIndexConcurrently,
            t.as_ref(),
            format!(
                "drop index {n}{}",
                if concurrently {
                    ""
                } else {
                    " concurrently (no ACCESS EXCLUSIVE on the table)"
                }
            ),
            vec![format!(
                "DROP INDEX CONCURRENTLY IF EXISTS {}",
                qual(&n.resolved())
            )],
            Some(LockMode::ShareUpdateExclusive),
        );
        step.reversible = false;
        step.index = Some(qual(&n.resolved()));
    }
}

/// Before DROP COLUMN: drop its plain indexes concurrently, so the column drop does
/// not remove them under ACCESS EXCLUSIVE.
pub(crate) fn drop_indexes_on_column(ctx: &mut Ctx, t: &Table, column: &str) {
    let names: Vec<String> = t
        .indexes_on(column)
        .into_iter()
        .filter(|i| i.constraint.is_none())
        .map(|i| i.name.clone())
        .collect();
    for name in names {
        let step = ctx.step(
            Phase::Contract,
            StepKind::DropIndexConcurrently,
            Some(t),
            format!(
                "drop index {name} on {}.{column} concurrently before the column",
                t.name
            ),
            vec![format!(
                "DROP INDEX CONCURRENTLY IF EXISTS {}",
                index_in_schema(t, &name)
            )],
            Some(LockMode::ShareUpdateExclusive),
        );
        step.reversible = false;
        step.index = Some(index_in_schema(t, &name));
    }
}
