//! ALTER COLUMN TYPE: in place when PostgreSQL does not rewrite; otherwise a new
//! column kept in sync by a trigger, backfilled in batches, its indexes built
//! concurrently, then swapped in one short transaction, so writes never fail.

use super::{
    constraint,
    update::{backfill_step, verify_last_backfill},
    Ctx,
};
use crate::lock::LockMode;
use crate::pg::catalog::{ConstraintType, Index, Table};
use crate::pg::ir::{Expr, QualName, TypeRef};
use crate::pg::parse::rewrite::{rename_column_in_expr, retarget_index, uses_column};
use crate::pg::render::{alter_table, short_name, valid_index_exists};
use crate::pg::types::{type_change, TypeChange};
use crate::plan::step::{Assignment, Phase, StepKind};
use crate::sql::quote::{ident, literal, qual, regclass};

pub(crate) fn plan(
    ctx: &mut Ctx,
    t: &Table,
    column: &str,
    new_type: &TypeRef,
    using: Option<&Expr>,
    brief: &mut Vec<String>,
) {
    let old = t.column(column).cloned();
    let change = match &old {
        Some(c) if using.is_none() => type_change(&c.ty, new_type, ctx.p),
        _ => TypeChange::Rewrite,
    };
    let in_place = match change {
        TypeChange::NoOp | TypeChange::InPlace => true,
        TypeChange::InPlaceIndexRebuild => t.indexes_on(column).is_empty(),
        TypeChange::Rewrite => false,
    };
    if in_place {
        let using_sql = using
            .map(|u| format!(" USING {}", u.sql))
            .unwrap_or_default();
        brief.push(format!(
            "ALTER COLUMN {} TYPE {}{using_sql}",
            ident(column),
            new_type.sql
        ));
        return;
    }
    if old.as_ref().is_some_and(|c| c.identity) {
        ctx.note(format!(
            "{}.{column} is an identity column: its type change is not automated (the identity sequence must follow); do it in a maintenance window or recreate the identity",
            t.name
        ));
    }
    let tmp = short_name(&format!("{column}_zd_new"));
    let func = QualName {
        schema: t.name.schema.clone(),
        name: short_name(&format!("zd_sync_{}_{column}", t.name.name)),
    };
    let trigger = short_name(&format!("zd_sync_{column}"));
    let (c, n) = (ident(column), ident(&tmp));
    // The conversion for a row in UPDATE (bare column names) and in the trigger (NEW).
    let (row_expr, new_expr) = match using {
        Some(u) => (
            u.sql.clone(),
            format!("(SELECT {} FROM (SELECT NEW.*) AS zd_row)", u.sql),
        ),
        None => (
            format!("CAST({c} AS {})", new_type.sql),
            format!("CAST(NEW.{c} AS {})", new_type.sql),
        ),
    };
    let tag = if new_expr.contains("$zd$") {
        "$zd_sync$"
    } else {
        "$zd$"
    };
    let mut expand = vec![
        alter_table(&t.name, &format!("ADD COLUMN {n} {}", new_type.sql)),
        format!(
            "CREATE OR REPLACE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS {tag} BEGIN NEW.{n} := {new_expr}; RETURN NEW; END {tag}",
            qual(&func)
        ),
        format!("DROP TRIGGER IF EXISTS {} ON {}", ident(&trigger), qual(&t.name)),
        format!(
            "CREATE TRIGGER {} BEFORE INSERT OR UPDATE ON {} FOR EACH ROW EXECUTE FUNCTION {}()",
            ident(&trigger),
            qual(&t.name),
            qual(&func)
        ),
    ];
    let carried = carry_constraints(ctx, t, column, &tmp);
    expand.extend(carried.iter().map(|c| c.add.clone()));
    let step = ctx.step(
        Phase::Expand,
        StepKind::Ddl,
        Some(t),
        format!(
            "add column {tmp} {} kept in sync with {column} by trigger {trigger}",
            new_type.sql
        ),
        expand,
        Some(LockMode::AccessExclusive),
    );
    step.done_check = Some(crate::pg::render::column_exists(&t.name, &tmp));
    step.undo = vec![
        format!(
            "DROP TRIGGER IF EXISTS {} ON {}",
            ident(&trigger),
            qual(&t.name)
        ),
        format!("DROP FUNCTION IF EXISTS {}()", qual(&func)),
        alter_table(&t.name, &format!("DROP COLUMN IF EXISTS {n}")),
    ];
    backfill_step(
        ctx,
        t,
        vec![Assignment {
            column: tmp.clone(),
            expr: row_expr,
        }],
        Some(format!("{n} IS NULL AND {c} IS NOT NULL")),
        format!("backfill {}.{tmp} from {column} in batches", t.name),
    );
    verify_last_backfill(ctx);
    if old.as_ref().is_some_and(|c| c.not_null) {
        constraint::not_null_steps(ctx, t, &tmp);
    }
    let mut swap_tail = Vec::new();
    for c in &carried {
        if c.validate {
            constraint::validate(ctx, t, &c.new_name);
        }
        swap_tail.push(alter_table(
            &t.name,
            &format!(
                "RENAME CONSTRAINT {} TO {}",
                ident(&c.new_name),
                ident(&c.old_name)
            ),
        ));
    }
    for ix in t.indexes_on(column) {
        rebuild_index(ctx, t, ix, column, &tmp, &mut swap_tail);
    }
    if references_from_other_tables(ctx, t, column) {
        ctx.note(format!(
            "foreign keys in other tables reference {}.{column}: they must be dropped and re-added (NOT VALID + VALIDATE) around the swap; not automated yet",
            t.name
        ));
    }
    let mut swap = vec![
        format!(
            "DROP TRIGGER IF EXISTS {} ON {}",
            ident(&trigger),
            qual(&t.name)
        ),
        format!("DROP FUNCTION IF EXISTS {}()", qual(&func)),
    ];
    if let Some(d) = old.as_ref().and_then(|o| o.default.clone()) {
        swap.push(alter_table(
            &t.name,
            &format!("ALTER COLUMN {n} SET DEFAULT {d}"),
        ));
        if let Some(seq) = nextval_sequence(&d) {
            // The sequence is owned by the old column: move it, or DROP COLUMN drops it.
            swap.push(format!(
                "ALTER SEQUENCE {seq} OWNED BY {}.{n}",
                qual(&t.name)
            ));
        }
    }
    swap.push(alter_table(&t.name, &format!("DROP COLUMN {c}")));
    swap.push(alter_table(&t.name, &format!("RENAME COLUMN {n} TO {c}")));
    swap.extend(swap_tail);
    let step = ctx.step(
        Phase::Contract,
        StepKind::Swap,
        Some(t),
        format!(
            "swap {tmp} in as {column} ({}) in one short transaction",
            new_type.sql
        ),
        swap,
        Some(LockMode::AccessExclusive),
    );
    step.reversible = false;
    step.done_check = Some(format!(
        "SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = {} AND attname = {} AND NOT attisdropped)",
        regclass(&t.name),
        literal(&tmp)
    ));
}

/// A CHECK or FOREIGN KEY of the old column, re-created on the new one.
struct Carried {
    /// `ALTER TABLE ... ADD CONSTRAINT <new> ... NOT VALID` (in the expand step).
    add: String,
    new_name: String,
    old_name: String,
    /// The old constraint was validated: validate the new one before the swap.
    validate: bool,
}

/// CHECK and outgoing FOREIGN KEY constraints that use the column: dropping the old
/// column drops them, so they are added NOT VALID on the new column, validated, and
/// renamed back in the swap. Ones that cannot be rewritten are named in a note.
fn carry_constraints(ctx: &mut Ctx, t: &Table, column: &str, tmp: &str) -> Vec<Carried> {
    let mut out = Vec::new();
    for c in &t.constraints {
        let Some(def) = c.definition.as_deref().or(c.check_expr.as_deref()) else {
            continue;
        };
        let body = def.trim_end().trim_end_matches("NOT VALID").trim_end();
        let rewritten = match c.kind {
            ConstraintType::Check => {
                let expr = body.strip_prefix("CHECK ").unwrap_or(body);
                if !(c.columns.iter().any(|x| x == column) || uses_column(expr, column)) {
                    continue;
                }
                rename_column_in_expr(expr, column, tmp).map(|e| format!("CHECK {e}"))
            }
            ConstraintType::ForeignKey => {
                if !c.columns.iter().any(|x| x == column) {
                    continue;
                }
                body.strip_prefix("FOREIGN KEY (")
                    .and_then(|rest| rest.split_once(')'))
                    .and_then(|(cols, tail)| {
                        rename_column_in_expr(cols, column, tmp)
                            .map(|cols| format!("FOREIGN KEY ({cols}){tail}"))
                    })
            }
            _ => continue,
        };
        match rewritten {
            Some(body) => {
                let new_name = short_name(&format!("{}_zd_new", c.name));
                out.push(Carried {
                    add: alter_table(&t.name, &format!("ADD CONSTRAINT {} {body} NOT VALID", ident(&new_name))),
                    new_name,
                    old_name: c.name.clone(),
                    validate: c.validated,
                });
            }
            None => ctx.note(format!(
                "constraint {} uses {}.{column} in a form zerodown does not rewrite: the swap would drop it; re-create it by hand",
                c.name, t.name
            )),
        }
    }
    out
}

/// Builds the replacement of an index on the old column concurrently; the swap renames
/// it (or attaches it to its constraint) after the old column is dropped.
fn rebuild_index(
    ctx: &mut Ctx,
    t: &Table,
    ix: &Index,
    column: &str,
    tmp: &str,
    swap_tail: &mut Vec<String>,
) {
    let new_name = short_name(&format!("{}_zd_new", ix.name));
    let Some(def) = ix
        .definition
        .as_deref()
        .and_then(|d| retarget_index(d, &new_name, column, tmp))
    else {
        ctx.note(format!(
            "index {} uses {}.{column} in a way zerodown does not rewrite (expression, predicate, or definition unknown offline): the swap would drop it; recreate it by hand",
            ix.name, t.name
        ));
        return;
    };
    let step = ctx.step(
        Phase::Contract,
        StepKind::CreateIndexConcurrently,
        Some(t),
        format!(
            "build {new_name} on {tmp} concurrently, to replace {}",
            ix.name
        ),
        vec![def],
        Some(LockMode::ShareUpdateExclusive),
    );
    step.done_check = Some(valid_index_exists(&t.name, &new_name));
    step.index = Some(super::index::index_in_schema(t, &new_name));
    step.undo = vec![format!(
        "DROP INDEX CONCURRENTLY IF EXISTS {}",
        super::index::index_in_schema(t, &new_name)
    )];
    match (&ix.constraint, ix.primary) {
        (Some(con), primary) => swap_tail.push(alter_table(
            &t.name,
            &format!(
                "ADD CONSTRAINT {} {} USING INDEX {}",
                ident(con),
                if primary { "PRIMARY KEY" } else { "UNIQUE" },
                ident(&new_name)
            ),
        )),
        (None, _) => swap_tail.push(format!(
            "ALTER INDEX {} RENAME TO {}",
            super::index::index_in_schema(t, &new_name),
            ident(&ix.name)
        )),
    }
}

/// Whether foreign keys elsewhere point at a unique key that contains the column.
fn references_from_other_tables(ctx: &Ctx, t: &Table, column: &str) -> bool {
    let is_key = t.indexes_on(column).iter().any(|i| i.unique);
    let from_catalog = ctx.cat.tables.values().any(|o| {
        o.name != t.name
            && o.constraints
                .iter()
                .any(|c| c.ref_table.as_ref().map(QualName::resolved) == Some(t.name.resolved()))
    });
    is_key && (from_catalog || !t.referenced_by.is_empty())
}

/// The sequence of a `nextval('name'::regclass)` default, quoted for SQL.
fn nextval_sequence(default: &str) -> Option<String> {
    let rest = default.split("nextval('").nth(1)?;
    let name = rest.split('\'').next()?;
    crate::pg::parse::names::parse_relation_name(name).map(|q| qual(&q))
}
