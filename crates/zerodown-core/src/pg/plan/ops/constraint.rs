//! Constraints: CHECK / FOREIGN KEY NOT VALID then VALIDATE in its own transaction;
//! UNIQUE / PRIMARY KEY through a concurrent unique index; NOT NULL without a long
//! lock (validated CHECK on 12..17, native NOT NULL NOT VALID on 18).

use super::Ctx;
use crate::capabilities as cap;
use crate::lock::LockMode;
use crate::pg::catalog::simulate::{constraint_name, default_name};
use crate::pg::catalog::Table;
use crate::pg::ir::{ConstraintDef, ConstraintKind};
use crate::pg::render::{
    alter_table, column_not_null, constraint, constraint_exists, short_name, valid_index_exists,
};
use crate::plan::step::{Phase, StepKind};
use crate::sql::quote::{ident, ident_list, qual};

/// ADD CONSTRAINT (or an inline column constraint of ADD COLUMN).
pub(crate) fn add(ctx: &mut Ctx, t: &Table, k: &ConstraintDef, brief: &mut Vec<String>) {
    let name = constraint_name(&t.name, k);
    match &k.kind {
        ConstraintKind::Check { .. }
        | ConstraintKind::ForeignKey { .. }
        | ConstraintKind::NotNull { .. } => {
            let is_fk = matches!(k.kind, ConstraintKind::ForeignKey { .. });
            if k.not_valid {
                brief.push(format!("ADD {}", constraint(&name, k, true)));
                return;
            }
            if is_fk && t.partitioned && !cap::fk_not_valid_on_partitioned(ctx.p) {
                ctx.note(format!(
                    "foreign key {name} on partitioned table {}: NOT VALID is not available before PostgreSQL 18, so it is validated under SHARE ROW EXCLUSIVE; add it per partition instead",
                    t.name
                ));
                let step = ctx.step(
                    Phase::Expand,
                    StepKind::AsWritten,
                    Some(t),
                    format!("add foreign key {name} (validates under lock)"),
                    vec![alter_table(
                        &t.name,
                        &format!("ADD {}", constraint(&name, k, false)),
                    )],
                    Some(LockMode::ShareRowExclusive),
                );
                step.scans_table = true;
                return;
            }
            let lock = if is_fk {
                LockMode::ShareRowExclusive
            } else {
                LockMode::AccessExclusive
            };
            let step = ctx.step(
                Phase::Expand,
                StepKind::Ddl,
                Some(t),
                format!(
                    "add constraint {name} NOT VALID (new rows checked, existing rows not yet)"
                ),
                vec![alter_table(
                    &t.name,
                    &format!("ADD {}", constraint(&name, k, true)),
                )],
                Some(lock),
            );
            step.done_check = Some(constraint_exists(&t.name, &name, false));
            step.undo = vec![alter_table(
                &t.name,
                &format!("DROP CONSTRAINT IF EXISTS {}", ident(&name)),
            )];
            validate(ctx, t, &name);
        }
        ConstraintKind::Unique {
            columns,
            using_index,
            nulls_not_distinct,
        } => unique_or_pk(
            ctx,
            t,
            k,
            &name,
            columns,
            using_index.as_deref(),
            *nulls_not_distinct,
            false,
        ),
        ConstraintKind::PrimaryKey {
            columns,
            using_index,
        } => unique_or_pk(
            ctx,
            t,
            k,
            &name,
            columns,
            using_index.as_deref(),
            false,
            true,
        ),
        ConstraintKind::Exclude => {
            ctx.note(format!(
                "exclusion constraint {name} on {}: built under ACCESS EXCLUSIVE, PostgreSQL has no NOT VALID or concurrent form",
                t.name
            ));
            let step = ctx.step(
                Phase::Expand,
                StepKind::AsWritten,
                Some(t),
                format!("add exclusion constraint {name} (builds its index under lock)"),
                vec![ctx.source_sql.clone()],
                Some(LockMode::AccessExclusive),
            );
            step.scans_table = true;
            step.reversible = false;
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn unique_or_pk(
    ctx: &mut Ctx,
    t: &Table,
    k: &ConstraintDef,
    name: &str,
    columns: &[String],
    using_index: Option<&str>,
    nulls_not_distinct: bool,
    primary: bool,
) {
    let index = match using_index {
        Some(ix) => ix.to_owned(),
        None => {
            let nnd = if nulls_not_distinct {
                " NULLS NOT DISTINCT"
            } else {
                ""
            };
            let ix_name = super::index::index_in_schema(t, name);
            let step = ctx.step(
                Phase::Expand,
                StepKind::CreateIndexConcurrently,
                Some(t),
                format!("build unique index {name} concurrently (reads and writes go on)"),
                vec![format!(
                    "CREATE UNIQUE INDEX CONCURRENTLY {} ON {} ({}){nnd}",
                    ident(name),
                    qual(&t.name),
                    ident_list(columns)
                )],
                Some(LockMode::ShareUpdateExclusive),
            );
            step.done_check = Some(valid_index_exists(&t.name, name));
            step.index = Some(ix_name.clone());
            step.undo = vec![format!("DROP INDEX CONCURRENTLY IF EXISTS {ix_name}")];
            name.to_owned()
        }
    };
    if primary {
        for c in columns {
            let known_not_null = t.column(c).is_some_and(|x| x.not_null);
            if !known_not_null {
                not_null_steps(ctx, t, c);
            }
        }
    }
    let with_index = ConstraintDef {
        name: Some(name.to_owned()),
        kind: if primary {
            ConstraintKind::PrimaryKey {
                columns: columns.to_vec(),
                using_index: Some(index.clone()),
            }
        } else {
            ConstraintKind::Unique {
                columns: columns.to_vec(),
                using_index: Some(index),
                nulls_not_distinct,
            }
        },
        not_valid: false,
        deferrable: k.deferrable,
    };
    let step = ctx.step(
        Phase::Contract,
        StepKind::Ddl,
        Some(t),
        format!(
            "attach {} constraint {name} to its index (brief lock)",
            if primary { "primary key" } else { "unique" }
        ),
        vec![alter_table(
            &t.name,
            &format!("ADD {}", constraint(name, &with_index, false)),
        )],
        Some(LockMode::AccessExclusive),
    );
    step.done_check = Some(constraint_exists(&t.name, name, false));
    step.undo = vec![alter_table(
        &t.name,
        &format!("DROP CONSTRAINT IF EXISTS {}", ident(name)),
    )];
}

/// VALIDATE CONSTRAINT in its own transaction (SHARE UPDATE EXCLUSIVE: traffic goes on).
pub(crate) fn validate(ctx: &mut Ctx, t: &Table, name: &str) {
    let fk_target = t.constraint(name).and_then(|c| c.ref_table.clone());
    let step = ctx.step(
        Phase::Contract,
        StepKind::ValidateConstraint,
        Some(t),
        format!("validate constraint {name} (scans without blocking reads or writes)"),
        vec![alter_table(
            &t.name,
            &format!("VALIDATE CONSTRAINT {}", ident(name)),
        )],
        Some(LockMode::ShareUpdateExclusive),
    );
    step.done_check = Some(constraint_exists(&t.name, name, true));
    if let Some(r) = fk_target {
        step.description.push_str(&format!("; ROW SHARE on {r}"));
    }
}

/// SET NOT NULL as written when it is free, else the scan-free ladder.
pub(crate) fn set_not_null(ctx: &mut Ctx, t: &Table, column: &str, brief: &mut Vec<String>) {
    if let Some(frac) = t
        .column(column)
        .and_then(|c| c.null_frac)
        .filter(|f| *f > 0.0)
    {
        ctx.note(format!(
            "{}.{column} has NULLs (about {:.1}% per statistics): the validation step will fail until they are backfilled",
            t.name,
            frac * 100.0
        ));
    }
    let proven = cap::set_not_null_uses_valid_check(ctx.p) && t.has_valid_not_null_check(column);
    if t.column(column).is_some_and(|c| c.not_null) || proven {
        brief.push(format!("ALTER COLUMN {} SET NOT NULL", ident(column)));
    } else {
        not_null_steps(ctx, t, column);
    }
}

/// Makes `column` NOT NULL without scanning under ACCESS EXCLUSIVE (contract phase:
/// from here on the application must not write NULLs).
pub(crate) fn not_null_steps(ctx: &mut Ctx, t: &Table, column: &str) {
    let c = ident(column);
    if cap::not_null_not_valid(ctx.p) {
        let name = default_name(&t.name.name, &[column.to_owned()], "not_null");
        let step = ctx.step(
            Phase::Contract,
            StepKind::Ddl,
            Some(t),
            format!("add NOT NULL {column} NOT VALID (enforced for new rows)"),
            vec![alter_table(
                &t.name,
                &format!("ADD CONSTRAINT {} NOT NULL {c} NOT VALID", ident(&name)),
            )],
            Some(LockMode::AccessExclusive),
        );
        step.done_check = Some(constraint_exists(&t.name, &name, false));
        step.undo = vec![alter_table(
            &t.name,
            &format!("DROP CONSTRAINT IF EXISTS {}", ident(&name)),
        )];
        validate(ctx, t, &name);
        return;
    }
    let check = short_name(&format!("zd_nn_{}_{}", t.name.name, column));
    let step = ctx.step(
        Phase::Contract,
        StepKind::Ddl,
        Some(t),
        format!("add CHECK ({column} IS NOT NULL) NOT VALID (enforced for new rows)"),
        vec![alter_table(
            &t.name,
            &format!(
                "ADD CONSTRAINT {} CHECK ({c} IS NOT NULL) NOT VALID",
                ident(&check)
            ),
        )],
        Some(LockMode::AccessExclusive),
    );
    step.done_check = Some(constraint_exists(&t.name, &check, false));
    step.undo = vec![alter_table(
        &t.name,
        &format!("DROP CONSTRAINT IF EXISTS {}", ident(&check)),
    )];
    validate(ctx, t, &check);
    if cap::set_not_null_uses_valid_check(ctx.p) {
        let step = ctx.step(
            Phase::Contract,
            StepKind::Ddl,
            Some(t),
            format!(
                "SET NOT NULL {column} (no scan: the validated check proves it), drop the check"
            ),
            vec![
                alter_table(&t.name, &format!("ALTER COLUMN {c} SET NOT NULL")),
                alter_table(
                    &t.name,
                    &format!("DROP CONSTRAINT IF EXISTS {}", ident(&check)),
                ),
            ],
            Some(LockMode::AccessExclusive),
        );
        step.done_check = Some(column_not_null(&t.name, column));
        step.undo = vec![alter_table(
            &t.name,
            &format!("ALTER COLUMN {c} DROP NOT NULL"),
        )];
    } else {
        ctx.note(format!(
            "PostgreSQL {}: SET NOT NULL always scans under ACCESS EXCLUSIVE, so {}.{column} stays enforced by the validated CHECK {check}",
            ctx.p.version, t.name
        ));
    }
}
