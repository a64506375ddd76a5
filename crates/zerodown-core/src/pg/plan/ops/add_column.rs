//! ADD COLUMN: catalog-only when the default is non-volatile (PostgreSQL 11+);
//! otherwise add the column bare, default for new rows, batched backfill, then NOT NULL.

use super::{
    constraint,
    update::{backfill_step, verify_last_backfill},
    Ctx,
};
use crate::findings::Code;
use crate::lock::LockMode;
use crate::pg::analyze::{inline_constraint, pg_add_column_rewrite};
use crate::pg::catalog::simulate::constraint_name;
use crate::pg::catalog::Table;
use crate::pg::ir::ColumnDef;
use crate::pg::ir::ConstraintKind;
use crate::pg::ir::QualName;
use crate::pg::render::{alter_table, column_def, column_exists, short_name};
use crate::pg::types::{is_serial, serial_base};
use crate::plan::step::{Assignment, Phase, StepKind};
use crate::sql::quote::{ident, ident_list, literal, qual};

pub(crate) fn plan(
    ctx: &mut Ctx,
    t: &Table,
    col: &ColumnDef,
    if_not_exists: bool,
    brief: &mut Vec<String>,
) {
    if if_not_exists && t.column(&col.name).is_some() {
        // The statement does nothing: no step may fill, constrain or drop the column,
        // which is the user's.
        ctx.note(format!(
            "ADD COLUMN IF NOT EXISTS {}: {} already has it, so nothing is planned for it",
            col.name, t.name
        ));
        return;
    }
    let ine = if if_not_exists { "IF NOT EXISTS " } else { "" };
    match pg_add_column_rewrite(col, ctx.cat, ctx.p).map(|(code, _)| code) {
        None => {
            brief.push(format!("ADD COLUMN {ine}{}", column_def(col, true, true)));
            if col.not_null && col.default.is_none() && col.generated.is_none() {
                ctx.note(format!(
                    "ADD COLUMN {} NOT NULL without a default fails as soon as {} has a row: give it a default, or add it nullable and backfill",
                    col.name, t.name
                ));
            }
        }
        Some(Code::AddColumnConstrainedDomain) => no_online_form(
            ctx,
            t,
            col,
            ine,
            "of a constrained domain",
            "a domain with constraints is checked row by row under ACCESS EXCLUSIVE (a rewrite) and has no online form; use the base type with a CHECK constraint (NOT VALID, then VALIDATE) instead",
        ),
        Some(Code::AddColumnStoredGenerated) => no_online_form(
            ctx,
            t,
            col,
            ine,
            "as a stored generated column",
            "PostgreSQL computes a stored generated column for every row under ACCESS EXCLUSIVE and it has no online form; on 18 a VIRTUAL column avoids the rewrite, otherwise keep a plain column maintained by a trigger",
        ),
        Some(Code::AddColumnIdentity) | Some(Code::AddColumnSerial) => sequence_path(ctx, t, col),
        Some(_) => default_path(ctx, t, col),
    }
    for k in &col.constraints {
        let k = inline_constraint(col, k);
        let add_clause = brief
            .iter()
            .rposition(|c| c.starts_with("ADD COLUMN") && c.contains(&ident(&col.name)));
        if let (
            true,
            ConstraintKind::ForeignKey {
                ref_table,
                ref_columns,
                actions_sql,
                ..
            },
            Some(i),
        ) = (k.not_valid, &k.kind, add_clause)
        {
            // Nothing to validate on an all-NULL new column, but PostgreSQL skips the
            // scan only for the inline column form (a separate ADD CONSTRAINT scans).
            let name = constraint_name(&t.name, &k);
            let refcols = if ref_columns.is_empty() {
                String::new()
            } else {
                format!(" ({})", ident_list(ref_columns))
            };
            brief[i].push_str(&format!(
                " CONSTRAINT {} REFERENCES {}{refcols}{actions_sql}",
                ident(&name),
                qual(&ref_table.resolved())
            ));
        } else {
            constraint::add(ctx, t, &k, brief);
        }
    }
}

/// A column whose addition rewrites the table and has no online form: kept as written,
/// with a note saying what to do instead.
fn no_online_form(ctx: &mut Ctx, t: &Table, col: &ColumnDef, ine: &str, what: &str, why: &str) {
    ctx.note(format!("{}.{}: {why}", t.name, col.name));
    let step = ctx.step(
        Phase::Expand,
        StepKind::AsWritten,
        Some(t),
        format!(
            "add column {}.{} {what} (rewrites the table)",
            t.name, col.name
        ),
        vec![alter_table(
            &t.name,
            &format!("ADD COLUMN {ine}{}", column_def(col, true, true)),
        )],
        Some(LockMode::AccessExclusive),
    );
    step.rewrites_table = true;
    step.reversible = false;
}

/// Volatile default: bare column + default for new rows in one short transaction,
/// then a batched backfill of the existing rows, then NOT NULL.
fn default_path(ctx: &mut Ctx, t: &Table, col: &ColumnDef) {
    let Some(default) = &col.default else { return };
    let c = ident(&col.name);
    let step = ctx.step(
        Phase::Expand,
        StepKind::Ddl,
        Some(t),
        format!(
            "add column {}.{} without default, then set the default for new rows",
            t.name, col.name
        ),
        vec![
            alter_table(
                &t.name,
                &format!("ADD COLUMN {}", column_def(col, false, false)),
            ),
            alter_table(
                &t.name,
                &format!("ALTER COLUMN {c} SET DEFAULT {}", default.sql),
            ),
        ],
        Some(LockMode::AccessExclusive),
    );
    step.done_check = Some(column_exists(&t.name, &col.name));
    step.undo = vec![alter_table(&t.name, &format!("DROP COLUMN IF EXISTS {c}"))];
    backfill_step(
        ctx,
        t,
        vec![Assignment {
            column: col.name.clone(),
            expr: default.sql.clone(),
        }],
        Some(format!("{c} IS NULL")),
        format!(
            "backfill {}.{} = {} in batches",
            t.name, col.name, default.sql
        ),
    );
    verify_last_backfill(ctx);
    if col.not_null {
        constraint::not_null_steps(ctx, t, &col.name);
    }
}

/// Identity / serial: a sequence default, a backfill from the sequence, NOT NULL, and
/// for identity the switch from the sequence default to the identity at the end.
fn sequence_path(ctx: &mut Ctx, t: &Table, col: &ColumnDef) {
    let base = if is_serial(&col.ty) {
        serial_base(&col.ty).to_owned()
    } else {
        col.ty.sql.clone()
    };
    let seq = QualName {
        schema: t.name.schema.clone(),
        name: short_name(&format!("{}_{}_seq", t.name.name, col.name)),
    };
    let c = ident(&col.name);
    let nextval = format!("nextval({}::regclass)", literal(&qual(&seq)));
    let step = ctx.step(
        Phase::Expand,
        StepKind::Ddl,
        Some(t),
        format!(
            "create sequence {seq}, add column {}.{} with its default for new rows",
            t.name, col.name
        ),
        vec![
            format!("CREATE SEQUENCE IF NOT EXISTS {} AS {base}", qual(&seq)),
            alter_table(&t.name, &format!("ADD COLUMN {c} {base}")),
            alter_table(&t.name, &format!("ALTER COLUMN {c} SET DEFAULT {nextval}")),
            format!(
                "ALTER SEQUENCE {} OWNED BY {}.{c}",
                qual(&seq),
                qual(&t.name)
            ),
        ],
        Some(LockMode::AccessExclusive),
    );
    step.done_check = Some(column_exists(&t.name, &col.name));
    step.undo = vec![
        alter_table(&t.name, &format!("DROP COLUMN IF EXISTS {c}")),
        format!("DROP SEQUENCE IF EXISTS {}", qual(&seq)),
    ];
    backfill_step(
        ctx,
        t,
        vec![Assignment {
            column: col.name.clone(),
            expr: nextval.clone(),
        }],
        Some(format!("{c} IS NULL")),
        format!(
            "backfill {}.{} from sequence {seq} in batches",
            t.name, col.name
        ),
    );
    verify_last_backfill(ctx);
    constraint::not_null_steps(ctx, t, &col.name);
    if let Some(kind) = &col.identity {
        let kind = if kind == "always" {
            "ALWAYS"
        } else {
            "BY DEFAULT"
        };
        let step = ctx.step(
            Phase::Contract,
            StepKind::Ddl,
            Some(t),
            format!("turn {}.{} into an identity column continuing the sequence", t.name, col.name),
            vec![
                alter_table(&t.name, &format!("ALTER COLUMN {c} DROP DEFAULT")),
                alter_table(&t.name, &format!("ALTER COLUMN {c} ADD GENERATED {kind} AS IDENTITY")),
                format!(
                    "SELECT setval(pg_catalog.pg_get_serial_sequence({}, {}), last_value, is_called) FROM {}",
                    literal(&qual(&t.name)),
                    literal(&col.name),
                    qual(&seq)
                ),
                format!("DROP SEQUENCE {}", qual(&seq)),
            ],
            Some(LockMode::AccessExclusive),
        );
        step.reversible = false;
        step.done_check = Some(format!(
            "SELECT COALESCE((SELECT attidentity <> '' FROM pg_catalog.pg_attribute WHERE attrelid = {} AND attname = {}), false)",
            crate::sql::quote::regclass(&t.name),
            literal(&col.name)
        ));
    }
}
