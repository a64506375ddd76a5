//! PostgreSQL impact rules of ALTER TABLE: each subcommand, ADD COLUMN (fast default,
//! volatile default, identity, serial, generated, constrained domains) and constraints.
//! Sources: shared/facts/postgres.md; the live tests check them against the server.

use super::statement::{column_must_exist, table, Effect, Work};
use crate::capabilities as cap;
use crate::engine::ServerProfile;
use crate::estimate::CostModel;
use crate::findings::{Code, Finding, Severity};
use crate::lock::LockMode::*;
use crate::pg::catalog::{Catalog, Table, Volatility};
use crate::pg::ir::*;
use crate::pg::types::{type_change, TypeChange};

pub(super) fn alter_action(
    e: &mut Effect,
    a: &AlterAction,
    t: &Table,
    cat: &Catalog,
    p: &ServerProfile,
    cost: &CostModel,
) -> Result<(), String> {
    let n = &t.name;
    match a {
        // IF NOT EXISTS of a column the table has: PostgreSQL takes the lock, then skips.
        AlterAction::AddColumn {
            column,
            if_not_exists: true,
        } if t.column(&column.name).is_some() => {
            e.lock(t, AccessExclusive);
            e.time(Some(cost.catalog_seconds));
        }
        AlterAction::AddColumn { column, .. } if cat.live && t.column(&column.name).is_some() => {
            return Err(format!(
                "column {} already exists in table {n}: the server would refuse the statement; remove it, or write ADD COLUMN IF NOT EXISTS",
                column.name
            ))
        }
        AlterAction::AddColumn { column, .. } => add_column(e, column, t, cat, p, cost)?,
        AlterAction::DropColumn { column, if_exists } => {
            if !if_exists {
                column_must_exist(cat, t, column)?;
            }
            e.breaking(t, Code::BreakingDropColumn,
                format!("DROP COLUMN {column} on {n}: application versions still running that read or write it will fail"),
                "stop using the column in the application (e.g. Rails ignored_columns) and deploy, then drop it in a later migration");
        }
        AlterAction::AlterColumnType {
            column,
            new_type,
            using,
        } => {
            column_must_exist(cat, t, column)?;
            e.lock(t, AccessExclusive);
            let change = match t.column(column) {
                Some(_) if using.is_some() => TypeChange::Rewrite,
                Some(c) => type_change(&c.ty, new_type, p),
                None => {
                    e.finding(Finding::new(Code::TypeChangeUnknownOldType, Severity::Warning,
                        format!("the current type of {n}.{column} is unknown offline: a table rewrite is assumed"))
                        .hint("give --database-url, or define the table in an earlier migration file, to know whether it rewrites"));
                    TypeChange::Rewrite
                }
            };
            match change {
                TypeChange::NoOp | TypeChange::InPlace => e.time(Some(cost.catalog_seconds)),
                TypeChange::InPlaceIndexRebuild => {
                    let idx = t.indexes_on(column);
                    if idx.is_empty() {
                        e.time(Some(cost.catalog_seconds));
                    } else {
                        e.scans = true;
                        let secs = cost.index_build(t).map(|s| s * idx.len() as f64);
                        e.time(secs);
                        e.hazard(t, secs, Code::TypeChangeIndexRebuild,
                            format!("changing {column} to {} keeps the rows but rebuilds {} index(es) under ACCESS EXCLUSIVE", new_type.sql, idx.len()),
                            "zerodown plans a new column kept in sync by a trigger, backfilled, then swapped in a short transaction");
                    }
                }
                TypeChange::Rewrite => {
                    e.needs_backfill_key(t);
                    // Whether the rewrite is only assumed, for want of the session TimeZone.
                    let zone = t
                        .column(column)
                        .filter(|c| crate::pg::types::timestamp_zone_change(&c.ty, new_type))
                        .filter(|_| p.settings.timezone.is_none() && using.is_none())
                        .map_or("", |_| " (assumed: the session TimeZone is not known offline, and only under UTC does PostgreSQL keep the rows; give --timezone)");
                    e.work(t, Work::Rewrite, cost, Code::TypeChangeRewrite,
                        format!("changing {column} to {} rewrites {n} and all its indexes under ACCESS EXCLUSIVE{zone}", new_type.sql),
                        "zerodown plans a new column kept in sync by a trigger, backfilled in batches, then swapped in a short transaction");
                }
            }
        }
        AlterAction::SetDefault { column, .. }
        | AlterAction::DropDefault { column }
        | AlterAction::DropNotNull { column } => {
            column_must_exist(cat, t, column)?;
            e.lock(t, AccessExclusive);
            e.time(Some(cost.catalog_seconds));
        }
        AlterAction::SetNotNull { column } => {
            column_must_exist(cat, t, column)?;
            e.lock(t, AccessExclusive);
            let already = t.column(column).is_some_and(|c| c.not_null);
            let proven =
                cap::set_not_null_uses_valid_check(p) && t.has_valid_not_null_check(column);
            let nulls = t
                .column(column)
                .and_then(|c| c.null_frac)
                .filter(|f| *f > 0.0);
            if let (Some(frac), false) = (nulls, already) {
                e.finding(
                    Finding::new(
                        Code::SetNotNullHasNulls,
                        Severity::Error,
                        format!(
                            "statistics say about {:.1}% of {n}.{column} is NULL: SET NOT NULL (and any validation) will fail",
                            frac * 100.0
                        ),
                    )
                    .hint("backfill the NULLs first (UPDATE ... WHERE col IS NULL: zerodown runs it in batches), then set NOT NULL"),
                );
            }
            if already || proven {
                e.time(Some(cost.catalog_seconds));
            } else {
                e.work(t, Work::Scan, cost, Code::SetNotNullScan,
                    format!("SET NOT NULL on {n}.{column} scans the whole table under ACCESS EXCLUSIVE to check for NULLs"),
                    if cap::not_null_not_valid(p) {
                        "add the NOT NULL constraint NOT VALID, then VALIDATE it in another transaction"
                    } else if cap::set_not_null_uses_valid_check(p) {
                        "add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in another transaction, then SET NOT NULL (no scan) and drop the check"
                    } else {
                        "before PostgreSQL 12 there is no scan-free SET NOT NULL; keep a validated CHECK (col IS NOT NULL) instead"
                    });
            }
        }
        AlterAction::AddConstraint { constraint } => {
            add_constraint(e, constraint, t, cat, p, cost)?
        }
        AlterAction::ValidateConstraint { name } => {
            let c = t.constraint(name);
            if c.is_none() && cat.live && !t.assumed {
                return Err(format!("constraint {name} does not exist on table {n}"));
            }
            e.lock(t, ShareUpdateExclusive);
            e.scans = true;
            if let Some(r) = c.and_then(|c| c.ref_table.as_ref()) {
                let r = table(cat, r)?;
                e.lock(&r, RowShare);
                e.time(cost.fk_validation(t));
            } else {
                e.time(cost.scan(t));
            }
        }
        AlterAction::DropConstraint { name, .. } => {
            e.lock(t, AccessExclusive);
            if let Some(r) = t.constraint(name).and_then(|c| c.ref_table.as_ref()) {
                let r = table(cat, r)?;
                e.lock(&r, AccessExclusive);
            }
            e.time(Some(cost.catalog_seconds));
        }
        AlterAction::AttachPartition { partition, .. } => {
            let part = table(cat, partition)?;
            e.lock(
                t,
                if cap::attach_partition_share_update_exclusive(p) {
                    ShareUpdateExclusive
                } else {
                    AccessExclusive
                },
            );
            e.lock(&part, AccessExclusive);
            e.scans = true;
            let secs = cost.scan(&part);
            e.time(secs);
            if !part.is_empty() {
                e.finding(Finding::new(Code::AttachPartitionScan, Severity::Warning,
                    format!("ATTACH PARTITION scans {partition} under ACCESS EXCLUSIVE to check the partition bound"))
                    .hint("first add a CHECK constraint matching the bound NOT VALID and VALIDATE it: the attach then skips the scan"));
            }
        }
        AlterAction::DetachPartition {
            partition,
            concurrently,
        } => {
            let part = table(cat, partition)?;
            let lock = if *concurrently {
                ShareUpdateExclusive
            } else {
                AccessExclusive
            };
            e.lock(t, lock);
            e.lock(&part, AccessExclusive);
            e.time(Some(cost.catalog_seconds));
            if !concurrently && cap::detach_partition_concurrently(p) && !t.is_empty() {
                e.finding(Finding::new(Code::DetachPartitionBlocking, Severity::Warning,
                    format!("DETACH PARTITION takes ACCESS EXCLUSIVE on {n}"))
                    .hint("use DETACH PARTITION ... CONCURRENTLY (PostgreSQL 14+, outside a transaction)"));
            }
        }
        AlterAction::Rewrite { what, .. } => {
            e.lock(t, AccessExclusive);
            e.work(t, Work::Rewrite, cost, Code::TableRewrite,
                format!("{what} rewrites {n} under ACCESS EXCLUSIVE: reads and writes wait for the whole rewrite"),
                "there is no online form; use pg_repack or a shadow table, or schedule downtime");
        }
        AlterAction::Metadata { lock, .. } => {
            e.lock(t, *lock);
            e.time(Some(cost.catalog_seconds));
        }
    }
    Ok(())
}

/// Why adding this column rewrites the table, if it does.
pub(crate) fn add_column_rewrite(
    c: &ColumnDef,
    cat: &Catalog,
    p: &ServerProfile,
) -> Option<(Code, String)> {
    if c.identity.is_some() {
        return Some((
            Code::AddColumnIdentity,
            "an identity column fills every existing row from a sequence".into(),
        ));
    }
    if cat
        .constrained_domains
        .contains(&c.ty.name.to_ascii_lowercase())
    {
        return Some((
            Code::AddColumnConstrainedDomain,
            format!(
                "{} is a domain with constraints: PostgreSQL checks it for every existing row",
                c.ty.sql
            ),
        ));
    }
    if c.serial {
        return Some((
            Code::AddColumnSerial,
            format!(
                "{} fills every existing row from a sequence (nextval is volatile)",
                c.ty.sql
            ),
        ));
    }
    if let Some(g) = &c.generated {
        if g.stored {
            return Some((
                Code::AddColumnStoredGenerated,
                "a stored generated column is computed and written for every row".into(),
            ));
        }
        return None;
    }
    let d = c.default.as_ref()?;
    match cat.volatility(&d.functions, d.has_subquery) {
        Volatility::Volatile => Some((
            Code::AddColumnVolatileDefault,
            format!(
                "the default {} is volatile: PostgreSQL evaluates it for every existing row",
                d.sql
            ),
        )),
        _ if !cap::fast_default(p) => Some((
            Code::AddColumnDefaultRewrite,
            format!(
                "before PostgreSQL 11 any default is written into every row ({})",
                d.sql
            ),
        )),
        _ => None,
    }
}

fn add_column(
    e: &mut Effect,
    c: &ColumnDef,
    t: &Table,
    cat: &Catalog,
    p: &ServerProfile,
    cost: &CostModel,
) -> Result<(), String> {
    e.lock(t, AccessExclusive);
    if let Some(g) = &c.generated {
        if !g.stored && !cap::virtual_generated_columns(p) {
            e.finding(Finding::new(
                Code::UnsupportedOnVersion,
                Severity::Error,
                format!(
                    "virtual generated columns need PostgreSQL 18 (target is {}): add STORED",
                    p.version
                ),
            ));
        } else if g.stored && !cap::stored_generated_columns(p) {
            e.finding(Finding::new(
                Code::UnsupportedOnVersion,
                Severity::Error,
                format!(
                    "generated columns need PostgreSQL 12 (target is {})",
                    p.version
                ),
            ));
        }
    }
    if let Some(d) = &c.default {
        let unknown: Vec<&String> = d
            .functions
            .iter()
            .filter(|f| {
                !cat.functions.contains_key(*f)
                    && crate::pg::catalog::builtin_volatility(f).is_none()
            })
            .collect();
        if !unknown.is_empty() {
            e.finding(Finding::new(
                Code::UnknownFunctionVolatility,
                Severity::Info,
                format!(
                    "volatility of {} is unknown offline: treated as volatile",
                    unknown
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    match add_column_rewrite(c, cat, p) {
        Some((code, why)) => {
            e.needs_backfill_key(t);
            e.work(t, Work::Rewrite, cost, code,
                format!("ADD COLUMN {} rewrites {} under ACCESS EXCLUSIVE: {why}", c.name, t.name),
                match code {
                    Code::AddColumnConstrainedDomain => "no online form: use the base type plus a CHECK constraint added NOT VALID and validated separately",
                    Code::AddColumnStoredGenerated => "no online form: on PostgreSQL 18 use a VIRTUAL generated column, or a plain column kept by a trigger and backfilled",
                    _ => "zerodown plans: add the column without the default, set the default for new rows, backfill in batches, then enforce NOT NULL without a long lock",
                });
        }
        None => {
            e.time(Some(cost.catalog_seconds));
            if c.not_null && c.default.is_none() && c.generated.is_none() && !t.is_empty() {
                e.finding(Finding::new(Code::AddColumnNotNullWithoutDefault, Severity::Error,
                    format!("ADD COLUMN {} NOT NULL without a default fails on {} as soon as the table has a row", c.name, t.name))
                    .hint("add the column nullable (or with a default), backfill it, then set NOT NULL"));
            }
        }
    }
    for k in &c.constraints {
        add_constraint(e, &inline_constraint(c, k), t, cat, p, cost)?;
    }
    Ok(())
}

/// A foreign key on a new column without a default has nothing to check (every value
/// is NULL): PostgreSQL skips the validation scan (observed by the live tests).
pub(crate) fn inline_constraint(c: &ColumnDef, k: &ConstraintDef) -> ConstraintDef {
    let mut k = k.clone();
    if matches!(k.kind, ConstraintKind::ForeignKey { .. })
        && c.default.is_none()
        && !c.serial
        && c.identity.is_none()
    {
        k.not_valid = true;
    }
    k
}

fn add_constraint(
    e: &mut Effect,
    k: &ConstraintDef,
    t: &Table,
    cat: &Catalog,
    p: &ServerProfile,
    cost: &CostModel,
) -> Result<(), String> {
    let n = &t.name;
    match &k.kind {
        ConstraintKind::Check { .. } => {
            e.lock(t, AccessExclusive);
            if k.not_valid {
                e.time(Some(cost.catalog_seconds));
            } else {
                e.work(t, Work::Scan, cost, Code::AddCheckScan,
                    format!("ADD CHECK on {n} validates every row under ACCESS EXCLUSIVE"),
                    "add it NOT VALID, then VALIDATE CONSTRAINT in a separate transaction (SHARE UPDATE EXCLUSIVE, reads and writes go on)");
            }
        }
        ConstraintKind::ForeignKey { ref_table, .. } => {
            let r = table(cat, ref_table)?;
            e.lock(t, ShareRowExclusive);
            e.lock(&r, ShareRowExclusive);
            if k.not_valid && t.partitioned && !cap::fk_not_valid_on_partitioned(p) {
                e.finding(Finding::new(Code::UnsupportedOnVersion, Severity::Error,
                    format!("NOT VALID foreign keys on partitioned table {n} need PostgreSQL 18 (target is {})", p.version)));
            }
            if k.not_valid {
                e.time(Some(cost.catalog_seconds));
            } else {
                e.work(t, Work::FkValidation, cost, Code::AddForeignKeyScan,
                    format!("ADD FOREIGN KEY on {n} checks every row under SHARE ROW EXCLUSIVE on {n} and {}: writes to both wait", r.name),
                    "add it NOT VALID, then VALIDATE CONSTRAINT in a separate transaction");
            }
        }
        ConstraintKind::Unique { using_index, .. }
        | ConstraintKind::PrimaryKey { using_index, .. } => {
            let primary = matches!(k.kind, ConstraintKind::PrimaryKey { .. });
            e.lock(t, AccessExclusive);
            if k.not_valid {
                e.finding(Finding::new(
                    Code::UnsupportedOnVersion,
                    Severity::Error,
                    "UNIQUE and PRIMARY KEY constraints cannot be NOT VALID: PostgreSQL rejects it",
                ));
            }
            if using_index.is_none() {
                e.work(t, Work::IndexBuild, cost, Code::AddUniqueBuildsIndex,
                    format!("ADD {} on {n} builds its index under ACCESS EXCLUSIVE: reads and writes wait for the build",
                        if primary { "PRIMARY KEY" } else { "UNIQUE" }),
                    "CREATE UNIQUE INDEX CONCURRENTLY first, then ADD CONSTRAINT ... USING INDEX (a brief lock)");
            } else {
                e.time(Some(cost.catalog_seconds));
            }
            if let ConstraintKind::PrimaryKey { columns, .. } = &k.kind {
                let nullable: Vec<&String> = columns
                    .iter()
                    .filter(|c| t.column(c).is_none_or(|col| !col.not_null))
                    .filter(|c| {
                        !(cap::set_not_null_uses_valid_check(p) && t.has_valid_not_null_check(c))
                    })
                    .collect();
                if !nullable.is_empty() && !t.assumed {
                    e.work(t, Work::Scan, cost, Code::PrimaryKeySetsNotNull,
                        format!("PRIMARY KEY sets NOT NULL on {}: a full scan under ACCESS EXCLUSIVE",
                            nullable.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")),
                        "make the columns NOT NULL first with a validated CHECK (no scan under the strong lock)");
                }
            }
        }
        ConstraintKind::Exclude => {
            e.lock(t, AccessExclusive);
            e.work(t, Work::IndexBuild, cost, Code::AddExclusionConstraint,
                format!("ADD EXCLUDE on {n} builds its index under ACCESS EXCLUSIVE; exclusion constraints have no NOT VALID and no concurrent form"),
                "create it while the table is small, or schedule a maintenance window");
        }
        ConstraintKind::NotNull { column } => {
            e.lock(t, AccessExclusive);
            if !cap::not_null_not_valid(p) {
                e.finding(Finding::new(Code::UnsupportedOnVersion, Severity::Error,
                    format!("ADD CONSTRAINT ... NOT NULL needs PostgreSQL 18 (target is {}); use SET NOT NULL with a validated CHECK", p.version)));
            }
            if k.not_valid || t.column(column).is_some_and(|c| c.not_null) {
                e.time(Some(cost.catalog_seconds));
            } else {
                e.work(
                    t,
                    Work::Scan,
                    cost,
                    Code::AddNotNullConstraintScan,
                    format!(
                        "ADD CONSTRAINT ... NOT NULL {column} scans {n} under ACCESS EXCLUSIVE"
                    ),
                    "add it NOT VALID, then VALIDATE CONSTRAINT in a separate transaction",
                );
            }
        }
    }
    Ok(())
}
