//! One file per operation: how each is done safely. `plan_statement` dispatches.

mod add_column;
mod alter_column_type;
mod constraint;
mod index;
mod update;

use super::{as_written_effect, table_or_assumed};
use crate::capabilities as cap;
use crate::engine::ServerProfile;
use crate::lock::LockMode;
use crate::pg::catalog::{Catalog, Table};
use crate::pg::ir::{AlterAction, DdlOp, DoBlock, QualName, Statement};
use crate::pg::render::alter_table;
use crate::plan::*;
use crate::sql::quote::qual;

/// What an operation planner works with, and what it produces.
pub(crate) struct Ctx<'a> {
    pub cat: &'a Catalog,
    pub p: &'a ServerProfile,
    pub opts: &'a PlanOptions,
    pub source: StepSource,
    /// The statement as written, for forms kept as they are.
    pub source_sql: String,
    pub steps: Vec<Step>,
    pub notes: Vec<String>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        cat: &'a Catalog,
        p: &'a ServerProfile,
        opts: &'a PlanOptions,
        stmt: &Statement,
    ) -> Self {
        Ctx {
            cat,
            p,
            opts,
            source: StepSource {
                file: stmt.span.file.clone(),
                line: stmt.span.line,
            },
            source_sql: stmt.sql.clone(),
            steps: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Adds a step with the defaults of its kind; returns it for adjustments.
    pub fn step(
        &mut self,
        phase: Phase,
        kind: StepKind,
        table: Option<&Table>,
        description: impl Into<String>,
        sql: Vec<String>,
        lock: Option<LockMode>,
    ) -> &mut Step {
        let blocking = lock.is_some_and(|l| l.blocks_reads() || l.blocks_writes());
        let (transactional, statement_timeout_ms) = match kind {
            StepKind::CreateIndexConcurrently
            | StepKind::DropIndexConcurrently
            | StepKind::ReindexConcurrently
            | StepKind::OnlineRebuild => (false, None),
            StepKind::ValidateConstraint | StepKind::Analyze => (true, None),
            StepKind::Backfill => (true, Some(self.opts.batch_statement_timeout_ms)),
            StepKind::Ddl | StepKind::Swap | StepKind::AsWritten => {
                (true, blocking.then_some(self.opts.ddl_statement_timeout_ms))
            }
        };
        let lock_timeout_ms =
            if blocking || matches!(kind, StepKind::Backfill | StepKind::AsWritten) {
                self.opts.lock_timeout_ms
            } else {
                self.opts.nonblocking_lock_timeout_ms
            };
        self.steps.push(Step {
            table: table.map(|t| t.name.to_string()),
            statements: sql,
            lock,
            // ANALYZE reads a sample (300 x statistics target rows), not the whole table.
            scans_table: matches!(
                kind,
                StepKind::CreateIndexConcurrently
                    | StepKind::ReindexConcurrently
                    | StepKind::ValidateConstraint
            ),
            transactional,
            statement_timeout_ms,
            table_is_new: table.is_some_and(Table::is_empty),
            ..Step::new(
                phase,
                kind,
                description,
                lock_timeout_ms,
                &self.opts.retry,
                &self.source,
            )
        });
        let last = self.steps.len() - 1;
        &mut self.steps[last]
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(format!(
            "{}:{}: {}",
            self.source.file,
            self.source.line,
            note.into()
        ));
    }

    /// The statement as written, one step, with the lock/rewrite/scan analysis found.
    pub fn as_written(&mut self, stmt: &Statement, phase: Phase, description: &str) {
        let (lock, table, rewrites, scans, all_new) = as_written_effect(stmt, self.cat, self.p);
        let transactional = !is_non_transactional(&stmt.op, self.p);
        let t = table.and_then(|name| self.cat.table_shown_as(&name).cloned());
        let step = self.step(
            phase,
            StepKind::AsWritten,
            t.as_ref(),
            description,
            vec![stmt.sql.clone()],
            lock,
        );
        step.rewrites_table = rewrites;
        step.scans_table = scans;
        step.transactional = transactional;
        step.table_is_new = all_new || (lock.is_none() && !rewrites && !scans);
        step.reversible = false;
        if !transactional {
            step.statement_timeout_ms = None;
        }
    }
}

/// What `as_written_effect` found of one statement: strongest lock and its table,
/// rewrites, scans, and whether every lock is on a table new in the migration.
pub(crate) type WrittenEffect = (Option<LockMode>, Option<String>, bool, bool, bool);

/// A `DO` block of plain SQL runs as one transaction: one step, as written, that holds
/// the strongest lock of its statements until its end and rewrites or scans where any of
/// them does. Phasing its statements apart would commit them apart.
pub(crate) fn do_block(ctx: &mut Ctx, block: &DoBlock, effects: &[WrittenEffect]) {
    ctx.source = StepSource {
        file: block.span.file.clone(),
        line: block.span.line,
    };
    let strongest = effects.iter().filter(|e| e.0.is_some()).max_by_key(|e| e.0);
    let lock = strongest.and_then(|e| e.0);
    let table = strongest
        .and_then(|e| e.1.as_deref())
        .and_then(|name| ctx.cat.table_shown_as(name).cloned());
    let rewrites = effects.iter().any(|e| e.2);
    let scans = effects.iter().any(|e| e.3);
    let all_new = effects.iter().all(|e| e.4);
    ctx.note(format!(
        "the DO block ({} statements) runs as one transaction, so it is one step as written; written outside a DO block, zerodown could phase them",
        effects.len()
    ));
    let step = ctx.step(
        Phase::Expand,
        StepKind::AsWritten,
        table.as_ref(),
        format!("DO block of {} statements, as written", effects.len()),
        vec![block.sql.clone()],
        lock,
    );
    step.rewrites_table = rewrites;
    step.scans_table = scans;
    step.table_is_new = all_new || (lock.is_none() && !rewrites && !scans);
    step.reversible = false;
}

fn is_non_transactional(op: &DdlOp, p: &ServerProfile) -> bool {
    match op {
        DdlOp::AddEnumValue { .. } => !cap::enum_add_value_in_transaction(p),
        other => never_in_transaction(other),
    }
}

/// Statements PostgreSQL runs only outside a transaction block, on every version.
pub(crate) fn never_in_transaction(op: &DdlOp) -> bool {
    match op {
        DdlOp::CreateIndex(ix) => ix.concurrently,
        DdlOp::DropIndex { concurrently, .. } | DdlOp::Reindex { concurrently, .. } => {
            *concurrently
        }
        DdlOp::AlterTable { actions, .. } => actions.iter().any(|a| {
            matches!(
                a,
                AlterAction::DetachPartition {
                    concurrently: true,
                    ..
                }
            )
        }),
        DdlOp::Opaque { what } => what.starts_with("VACUUM"),
        _ => false,
    }
}

/// Plans one statement.
pub(crate) fn plan_statement(ctx: &mut Ctx, stmt: &Statement) {
    match &stmt.op {
        DdlOp::Transaction(_) | DdlOp::Set { .. } => {
            // Each step runs in its own short transaction with its own timeouts.
        }
        DdlOp::CreateDomain { name, .. } => {
            ctx.as_written(stmt, Phase::Expand, &format!("create domain {name}"))
        }
        DdlOp::Reindex { name, table, concurrently } => index::reindex(ctx, stmt, name, *table, *concurrently),
        DdlOp::LockTable { .. } => ctx.note(
            "LOCK TABLE is left out: every step takes the locks it needs, in its own short transaction",
        ),
        DdlOp::CatalogOnly { what } => ctx.as_written(stmt, Phase::Expand, what),
        DdlOp::CreateTableAs { table, .. } => {
            ctx.as_written(stmt, Phase::Expand, &format!("create table {table} from a query"))
        }
        // In the statements' order, as written: batching it is the user's to write.
        DdlOp::DataChange { verb, table, .. } => {
            ctx.as_written(stmt, Phase::Expand, &format!("{} on {table}", verb.sql()))
        }
        DdlOp::Opaque { what } => {
            ctx.note(format!(
                "{what} is kept as written; zerodown does not model its locks"
            ));
            ctx.as_written(stmt, Phase::Expand, what);
        }
        DdlOp::CreateTable { table, .. } => {
            ctx.as_written(stmt, Phase::Expand, &format!("create table {table}"))
        }
        DdlOp::AlterTable { table, actions } => alter_table_stmt(ctx, stmt, table, actions),
        DdlOp::CreateIndex(ix) => index::create_index(ctx, stmt, ix),
        DdlOp::DropIndex {
            names,
            concurrently,
            ..
        } => index::drop_index(ctx, stmt, names, *concurrently),
        DdlOp::DropTable { names } => {
            let desc = format!(
                "drop table {}",
                names
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            breaking(ctx, stmt, &desc);
        }
        DdlOp::RenameTable { table, new_name } => {
            breaking(ctx, stmt, &format!("rename table {table} to {new_name}"))
        }
        // In the statements' order: what follows may rely on the tables being empty.
        DdlOp::Truncate { tables, .. } => {
            let names: Vec<String> = tables.iter().map(|n| n.to_string()).collect();
            ctx.as_written(stmt, Phase::Expand, &format!("truncate {}", names.join(", ")));
        }
        DdlOp::RenameColumn {
            table,
            column,
            new_name,
        } => breaking(
            ctx,
            stmt,
            &format!("rename column {table}.{column} to {new_name}"),
        ),
        DdlOp::AddEnumValue { type_name, value } => ctx.as_written(
            stmt,
            Phase::Expand,
            &format!("add value '{value}' to enum {type_name}"),
        ),
        DdlOp::CreateTrigger { table, name } => ctx.as_written(
            stmt,
            Phase::Expand,
            &format!("create trigger {name} on {table}"),
        ),
        DdlOp::DropTrigger { table, name } => ctx.as_written(
            stmt,
            Phase::Contract,
            &format!("drop trigger {name} on {table}"),
        ),
        DdlOp::Update {
            table,
            assignments,
            filter,
        } => update::plan(ctx, stmt, table, assignments, filter.as_ref()),
        DdlOp::TableRewrite { what, .. } => {
            ctx.note(format!("{what} rewrites the table under ACCESS EXCLUSIVE and has no online form here: use pg_repack"));
            ctx.as_written(stmt, Phase::Expand, what);
        }
    }
}

/// DROP / RENAME: kept as written, in the contract phase, after everything additive.
fn breaking(ctx: &mut Ctx, stmt: &Statement, desc: &str) {
    ctx.note(format!(
        "{desc}: breaks application versions that still use the old name; run this migration only after every running version has stopped using it"
    ));
    ctx.as_written(stmt, Phase::Contract, desc);
}

fn alter_table_stmt(ctx: &mut Ctx, stmt: &Statement, name: &QualName, actions: &[AlterAction]) {
    let t = table_or_assumed(ctx.cat, name);
    if t.is_empty() {
        ctx.as_written(stmt, Phase::Expand, &format!("alter new table {}", t.name));
        return;
    }
    // Brief catalog-only clauses are kept together in one short statement.
    let mut brief: Vec<String> = Vec::new();
    let mut brief_lock = None::<LockMode>;
    for a in actions {
        match a {
            AlterAction::AddColumn {
                column,
                if_not_exists,
            } => add_column::plan(ctx, &t, column, *if_not_exists, &mut brief),
            AlterAction::AlterColumnType {
                column,
                new_type,
                using,
            } => alter_column_type::plan(ctx, &t, column, new_type, using.as_ref(), &mut brief),
            AlterAction::SetNotNull { column } => {
                constraint::set_not_null(ctx, &t, column, &mut brief)
            }
            AlterAction::AddConstraint { constraint } => {
                constraint::add(ctx, &t, constraint, &mut brief)
            }
            AlterAction::ValidateConstraint { name } => constraint::validate(ctx, &t, name),
            AlterAction::DropColumn { column, .. } => {
                index::drop_indexes_on_column(ctx, &t, column);
                ctx.note(format!(
                    "drop column {}.{column}: breaks application versions that still use it; run only after they stopped",
                    t.name
                ));
                let step = ctx.step(
                    Phase::Contract,
                    StepKind::Ddl,
                    Some(&t),
                    format!("drop column {}.{column}", t.name),
                    vec![alter_table(&t.name, &stmt_clause(a))],
                    Some(LockMode::AccessExclusive),
                );
                step.reversible = false;
            }
            AlterAction::DetachPartition {
                partition,
                concurrently: false,
            } if cap::detach_partition_concurrently(ctx.p) => {
                let step = ctx.step(
                    Phase::Contract,
                    StepKind::AsWritten,
                    Some(&t),
                    format!("detach partition {partition} concurrently"),
                    vec![alter_table(
                        &t.name,
                        &format!("DETACH PARTITION {} CONCURRENTLY", qual(partition)),
                    )],
                    Some(LockMode::ShareUpdateExclusive),
                );
                step.transactional = false;
                step.statement_timeout_ms = None;
                step.reversible = false;
            }
            AlterAction::Rewrite { what, .. } => {
                ctx.note(format!("{what} rewrites {} under ACCESS EXCLUSIVE: no online form; use pg_repack or a maintenance window", t.name));
                let step = ctx.step(
                    Phase::Expand,
                    StepKind::AsWritten,
                    Some(&t),
                    format!("{what} on {}", t.name),
                    vec![alter_table(&t.name, &stmt_clause(a))],
                    Some(LockMode::AccessExclusive),
                );
                step.rewrites_table = true;
                step.reversible = false;
            }
            other => {
                // Catalog-only clause (defaults, DROP NOT NULL, metadata, constraints drops,
                // attach): keep as written in the brief statement.
                let (lock, scans) = brief_clause_effect(other);
                if scans {
                    // ATTACH PARTITION: scans the partition, kept as its own step.
                    let step = ctx.step(
                        Phase::Expand,
                        StepKind::AsWritten,
                        Some(&t),
                        format!("{} on {}", clause_name(other), t.name),
                        vec![alter_table(&t.name, &stmt_clause(other))],
                        Some(lock),
                    );
                    step.scans_table = true;
                    step.reversible = false;
                } else {
                    brief.push(stmt_clause(other));
                    brief_lock = Some(brief_lock.map_or(lock, |l| l.max(lock)));
                }
            }
        }
    }
    if !brief.is_empty() {
        let lock = brief_lock.unwrap_or(LockMode::AccessExclusive).max(
            // AddColumn / SetNotNull pieces pushed by the op planners take ACCESS EXCLUSIVE.
            if brief.iter().any(|c| {
                c.starts_with("ADD COLUMN")
                    || c.starts_with("ALTER COLUMN")
                    || c.starts_with("ADD CONSTRAINT")
            }) {
                LockMode::AccessExclusive
            } else {
                LockMode::AccessShare
            },
        );
        let desc = format!("{} on {}", brief.join(", "), t.name);
        let sql = vec![alter_table(&t.name, &brief.join(", "))];
        // Brief steps go first: they are the expand part other steps build on.
        let step = ctx.step(
            Phase::Expand,
            StepKind::Ddl,
            Some(&t),
            desc,
            sql,
            Some(lock),
        );
        step.reversible = false;
        let s = ctx.steps.pop();
        if let Some(s) = s {
            ctx.steps.insert(0, s);
        }
    }
}

fn clause_name(a: &AlterAction) -> &'static str {
    match a {
        AlterAction::AttachPartition { .. } => "attach partition",
        _ => "alter",
    }
}

/// The lock a catalog-only clause takes and whether it scans.
fn brief_clause_effect(a: &AlterAction) -> (LockMode, bool) {
    match a {
        AlterAction::Metadata { lock, .. } => (*lock, false),
        // The parent gets SHARE UPDATE EXCLUSIVE on 12+, but the partition is scanned
        // under ACCESS EXCLUSIVE: the step's strongest lock.
        AlterAction::AttachPartition { .. } => (LockMode::AccessExclusive, true),
        AlterAction::DetachPartition {
            concurrently: true, ..
        } => (LockMode::ShareUpdateExclusive, false),
        _ => (LockMode::AccessExclusive, false),
    }
}

/// Renders one ALTER TABLE clause from the IR (used for clauses kept as written).
fn stmt_clause(a: &AlterAction) -> String {
    use crate::sql::quote::ident;
    match a {
        AlterAction::DropColumn { column, if_exists } => {
            format!(
                "DROP COLUMN {}{}",
                if *if_exists { "IF EXISTS " } else { "" },
                ident(column)
            )
        }
        AlterAction::SetDefault { column, default } => {
            format!("ALTER COLUMN {} SET DEFAULT {}", ident(column), default.sql)
        }
        AlterAction::DropDefault { column } => {
            format!("ALTER COLUMN {} DROP DEFAULT", ident(column))
        }
        AlterAction::DropNotNull { column } => {
            format!("ALTER COLUMN {} DROP NOT NULL", ident(column))
        }
        AlterAction::DropConstraint { name, if_exists } => {
            format!(
                "DROP CONSTRAINT {}{}",
                if *if_exists { "IF EXISTS " } else { "" },
                ident(name)
            )
        }
        AlterAction::AttachPartition { sql, .. } => sql.clone(),
        AlterAction::DetachPartition {
            partition,
            concurrently,
        } => format!(
            "DETACH PARTITION {}{}",
            qual(partition),
            if *concurrently { " CONCURRENTLY" } else { "" }
        ),
        // Printed by the PostgreSQL deparser, clause by clause, at parse time.
        AlterAction::Rewrite { sql, .. } | AlterAction::Metadata { sql, .. } => sql.clone(),
        AlterAction::AddColumn { .. }
        | AlterAction::AlterColumnType { .. }
        | AlterAction::SetNotNull { .. }
        | AlterAction::AddConstraint { .. }
        | AlterAction::ValidateConstraint { .. } => String::new(),
    }
}

/// ANALYZE, once per table that got a backfill or a swap, at the end of the contract phase.
pub(crate) fn analyze_steps(round: &[Step], opts: &PlanOptions) -> Vec<Step> {
    let mut out: Vec<Step> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for s in round {
        if !matches!(s.kind, StepKind::Backfill | StepKind::Swap) {
            continue;
        }
        let Some(table) = &s.table else { continue };
        if !seen.insert(table) {
            continue;
        }
        out.push(Step {
            table: Some(table.clone()),
            statements: vec![format!("ANALYZE {}", qualified_text(table))],
            lock: Some(LockMode::ShareUpdateExclusive),
            ..Step::new(
                Phase::Contract,
                StepKind::Analyze,
                format!("analyze {table}: fresh statistics for the new data"),
                opts.nonblocking_lock_timeout_ms,
                &opts.retry,
                &s.source,
            )
        });
    }
    out
}

/// Quotes a `schema.table` display name back into SQL.
pub(crate) fn qualified_text(name: &str) -> String {
    qual(&QualName::parse_shown(name))
}
