//! The MySQL/MariaDB plan ladder. Each `ALTER TABLE` is split so that its instant part
//! runs alone (mixing degrades the whole statement), each index is built as its own
//! step, in-place rebuilds are grouped into one, and what the server could only COPY
//! becomes an online rebuild; every ALTER names `ALGORITHM=…, LOCK=…`, so the server
//! refuses rather than silently falls back to something that blocks. A whole-table
//! UPDATE becomes a batched backfill. Statement order is kept; phases never go back.

use crate::engine::ServerProfile;
use crate::mysql::analyze::{alter_actions, builds_index};
use crate::mysql::catalog::{MyCatalog, MyTable};
use crate::mysql::online::{self, Action, Algorithm, DdlLock, Online};
use crate::mysql::parse::{AlterOp, MyKind, MyStatement, OpKind};
use crate::plan::Assignment;
use crate::plan::{BackfillSpec, Phase, PhaseSteps, Plan, PlanOptions, Step, StepKind, StepSource};
use crate::sql::quote::{mysql_ident, mysql_literal, mysql_table};

/// MySQL's `lock_wait_timeout` is whole seconds, at least 1.
pub fn lock_wait_ms(requested_ms: u64) -> u64 {
    requested_ms.div_ceil(1000).max(1) * 1000
}

/// Builds the plan of a MySQL/MariaDB migration.
pub fn plan(
    statements: &[MyStatement],
    catalog: &MyCatalog,
    p: &ServerProfile,
    opts: &PlanOptions,
) -> Plan {
    let mut cat = catalog.clone();
    // Phases follow the statements' order and never go back: each step joins the
    // current phase's run (no list of all steps first: a long file's steps are much of
    // the memory).
    let mut phases: Vec<PhaseSteps> = Vec::new();
    let mut current = Phase::Expand;
    let mut notes = Vec::new();
    let mut file: Option<&str> = None;
    for s in statements {
        if file.is_some_and(|f| *f != *s.span.file) {
            cat.end_of_file();
        }
        file = Some(&s.span.file);
        let source = StepSource {
            file: s.span.file.clone(),
            line: s.span.line,
        };
        let mut b = Builder {
            p,
            opts,
            source,
            steps: Vec::new(),
        };
        match &s.kind {
            MyKind::AlterTable { table, ops, .. } => match cat.table(table) {
                Some(t) => match alter_actions(ops, &t, cat.foreign_key_checks) {
                    Ok(per_op) => b.alter(table, &t, ops, &per_op, cat.foreign_key_checks),
                    Err(_) => b.as_written(s, Some(table), true),
                },
                None => b.as_written(s, Some(table), true),
            },
            MyKind::Update { table, set, filter } => match cat.table(table) {
                Some(t) if !t.is_empty() => b.backfill(table, set, filter.as_deref()),
                _ => b.as_written(s, Some(table), false),
            },
            MyKind::CreateTable { table, .. } => {
                b.as_written(s, Some(table), false);
                if let Some(step) = b.steps.last_mut() {
                    step.phase = Phase::Expand;
                    step.table_is_new = true;
                }
            }
            MyKind::SetVariable { name, .. }
                if name.trim_start_matches("session.") == "foreign_key_checks" => {}
            MyKind::SetVariable { name, value } => notes.push(format!(
                "{}:{}: SET {name} = {value} is not carried to the plan's sessions: put it in the server's configuration, or say if a step needs it",
                s.span.file, s.span.line
            )),
            MyKind::DropTable { .. } | MyKind::RenameTable { .. } => {
                b.as_written(s, None, false)
            }
            // In the statements' order, as written: batching it is the user's to write.
            // With the expand, as on PostgreSQL: seed rows are for the schema it makes.
            MyKind::DataChange { table, .. } => {
                b.as_written(s, Some(table), false);
                if let Some(step) = b.steps.last_mut() {
                    step.phase = Phase::Expand;
                }
            }
            MyKind::Other => b.as_written(s, None, true),
        }
        for mut step in b.steps {
            current = current.max(step.phase);
            step.phase = current;
            match phases.last_mut() {
                Some(ph) if ph.name == current => ph.steps.push(step),
                _ => phases.push(PhaseSteps {
                    name: current,
                    steps: vec![step],
                }),
            }
        }
        cat.apply(&s.kind);
    }
    for ph in &mut phases {
        ph.steps.shrink_to_fit();
    }
    let blocking: Vec<String> = phases
        .iter()
        .flat_map(|ph| ph.steps.iter())
        .filter(|s| s.blocks_traffic_while_working())
        .map(|s| format!("{}:{}: {}", s.source.file, s.source.line, s.description))
        .collect();
    notes.extend(
        blocking
            .iter()
            .map(|b| format!("still blocks traffic while it works (no online form): {b}")),
    );
    Plan {
        phases,
        safe: blocking.is_empty(),
        notes,
        history: None,
    }
}

/// Which step an operation goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Instant,
    /// In place, no rebuild, no index build (drop index, metadata changes).
    InPlace,
    /// One index build per step.
    Index(usize),
    /// In place with a rebuild: all together, one rebuild.
    Rebuild,
    /// Only a COPY: the online rebuild (it takes the rebuilds too).
    Copy,
}

struct Builder<'a> {
    p: &'a ServerProfile,
    opts: &'a PlanOptions,
    source: StepSource,
    steps: Vec<Step>,
}

impl Builder<'_> {
    fn step(
        &mut self,
        phase: Phase,
        kind: StepKind,
        description: String,
        table: Option<&str>,
    ) -> &mut Step {
        self.steps.push(Step {
            table: table.map(str::to_owned),
            // MySQL commits every DDL on its own.
            transactional: false,
            ..Step::new(
                phase,
                kind,
                description,
                lock_wait_ms(self.opts.lock_timeout_ms),
                &self.opts.retry,
                &self.source,
            )
        });
        let last = self.steps.len() - 1;
        &mut self.steps[last]
    }

    fn as_written(&mut self, s: &MyStatement, table: Option<&str>, unmodeled: bool) {
        let step = self.step(
            Phase::Contract,
            StepKind::AsWritten,
            format!("as written: {}", one_line(&s.sql)),
            table,
        );
        step.statements = vec![s.sql.clone()];
        step.unmodeled = unmodeled;
        step.reversible = false;
    }

    fn backfill(&mut self, table: &str, set: &[(String, String)], filter: Option<&str>) {
        let (batch_size, target_batch_ms) = (self.opts.batch_size, self.opts.target_batch_ms);
        let columns: Vec<&str> = set.iter().map(|(c, _)| c.as_str()).collect();
        let step = self.step(
            Phase::Backfill,
            StepKind::Backfill,
            format!("backfill {table} ({}) in batches", columns.join(", ")),
            Some(table),
        );
        step.backfill = Some(Box::new(BackfillSpec {
            table: table.to_owned(),
            key: Vec::new(),
            set: set
                .iter()
                .map(|(column, expr)| Assignment {
                    column: column.clone(),
                    expr: expr.clone(),
                })
                .collect(),
            filter: filter.map(str::to_owned),
            batch_size,
            target_batch_ms,
            // A user's UPDATE: its WHERE does not say which rows still need it.
            verify: None,
        }));
    }

    fn alter(
        &mut self,
        table: &str,
        t: &MyTable,
        ops: &[AlterOp],
        per_op: &[Vec<Action>],
        foreign_key_checks: bool,
    ) {
        // Work that blocks writes (a copy, or an in-place build under LOCK=SHARED such as
        // a FULLTEXT index) goes to the online rebuild when the table allows it.
        let blocks = |o: Online| o.algorithm == Algorithm::Copy || o.lock != DdlLock::None;
        let copy = per_op
            .iter()
            .any(|acts| blocks(online::statement(self.p, acts)));
        let mut groups: Vec<(Group, Vec<usize>)> = Vec::new();
        for (i, acts) in per_op.iter().enumerate() {
            let o = online::statement(self.p, acts);
            let group = if t.is_empty() {
                Group::InPlace
            } else if blocks(o) || (copy && o.rebuilds) {
                Group::Copy
            } else if o.algorithm == Algorithm::Instant {
                Group::Instant
            } else if o.rebuilds {
                Group::Rebuild
            } else if acts.iter().any(|a| builds_index(*a)) {
                Group::Index(i)
            } else {
                Group::InPlace
            };
            match groups.iter_mut().find(|(g, _)| *g == group) {
                Some((_, members)) => members.push(i),
                None => groups.push((group, vec![i])),
            }
        }
        groups.sort_by_key(|(g, _)| *g);
        for (group, members) in groups {
            let acts: Vec<Action> = members.iter().flat_map(|&i| per_op[i].clone()).collect();
            let clause_ops: Vec<String> = members.iter().map(|&i| ops[i].to_string()).collect();
            let checks: Option<Vec<String>> = members
                .iter()
                .map(|&i| done_check(table, &ops[i]))
                .collect();
            let unchecked_fk = !foreign_key_checks
                && acts
                    .iter()
                    .any(|a| matches!(a, Action::AddForeignKey { .. }));
            let alter = format!(
                "ALTER TABLE {} {}",
                mysql_table(table),
                clause_ops.join(", ")
            );
            let obstacle = t.online_rebuild_obstacle();
            if group == Group::Copy && obstacle.is_none() {
                let step = self.step(
                    Phase::Contract,
                    StepKind::OnlineRebuild,
                    format!("online rebuild of {table}: {}", clause_ops.join(", ")),
                    Some(table),
                );
                step.statements = vec![alter];
                step.rewrites_table = true;
                // Until its cut-over the table is untouched: abort drops the shadow.
                let (db, t) = crate::sql::name::split_shown(table);
                let shadow = crate::sql::name::QualName::new(db.as_deref(), &format!("{t}_zdnew"))
                    .to_string();
                step.undo = vec![format!("DROP TABLE IF EXISTS {}", mysql_table(&shadow))];
                step.done_check = checks.map(|c| format!("SELECT {}", c.join(" AND ")));
                continue;
            }
            let o = online::statement(self.p, &acts);
            let phase = match group {
                Group::Instant | Group::Index(_) => Phase::Expand,
                _ if acts.iter().all(|a| matches!(a, Action::AddColumn { .. })) => Phase::Expand,
                _ => Phase::Contract,
            };
            let what = match group {
                Group::Instant => "instant",
                Group::InPlace => "in place",
                Group::Index(_) => "index build, reads and writes go on",
                Group::Rebuild => "in-place rebuild, reads and writes go on",
                // The online rebuild cannot take the table: the copy as the server does
                // it, with its lock stated (a blocking step: apply asks for --yes).
                Group::Copy => "table copy, writes wait: no online rebuild for this table",
            };
            let clause = online::clause(self.p, o);
            let p = self.p;
            let step = self.step(
                phase,
                StepKind::Ddl,
                format!("{table}: {} ({what})", clause_ops.join(", ")),
                Some(table),
            );
            step.statements = if unchecked_fk {
                vec![
                    "SET SESSION foreign_key_checks = 0".into(),
                    format!("{alter}, {clause}"),
                    "SET SESSION foreign_key_checks = 1".into(),
                ]
            } else {
                vec![format!("{alter}, {clause}")]
            };
            step.online = Some(Box::new(Online {
                lock: if t.is_empty() { DdlLock::None } else { o.lock },
                ..o
            }));
            step.rewrites_table = o.rebuilds;
            step.scans_table = acts.iter().any(|a| builds_index(*a));
            step.table_is_new = t.is_empty();
            step.done_check = checks.map(|c| format!("SELECT {}", c.join(" AND ")));
            let undo: Option<Vec<String>> = members.iter().map(|&i| undo_op(&ops[i])).collect();
            match undo {
                // In place, a drop rebuilds the table: not an undo to run on a busy one;
                // on an empty table it is instant work.
                Some(parts)
                    if t.is_empty() || (group != Group::Rebuild && group != Group::InPlace) =>
                {
                    // Dropping what was added: instant where the server can, else in place.
                    let drops: Vec<Action> = parts
                        .iter()
                        .map(|p| {
                            if p.starts_with("DROP COLUMN") {
                                Action::DropColumn { indexed: false }
                            } else {
                                Action::DropIndex
                            }
                        })
                        .collect();
                    let o = online::statement(p, &drops);
                    step.undo = vec![format!(
                        "ALTER TABLE {} {}, {}",
                        mysql_table(table),
                        parts.join(", "),
                        online::clause(p, o)
                    )];
                }
                _ => step.reversible = false,
            }
        }
    }
}

/// The operation that takes back an added column or named index; None for anything else.
fn undo_op(op: &AlterOp) -> Option<String> {
    use sqlparser::ast::{AlterTableOperation as Op, TableConstraint};
    match &op.kind {
        OpKind::Parsed(Op::AddColumn { column_def, .. }) => Some(format!(
            "DROP COLUMN {}",
            mysql_ident(&column_def.name.value)
        )),
        OpKind::Parsed(Op::AddConstraint {
            constraint:
                TableConstraint::Index { name: Some(n), .. }
                | TableConstraint::Unique { name: Some(n), .. },
            ..
        }) => Some(format!("DROP INDEX {}", mysql_ident(&n.value))),
        _ => None,
    }
}

fn one_line(sql: &str) -> String {
    let s = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > 90 {
        format!("{}...", s.chars().take(90).collect::<String>())
    } else {
        s
    }
}

/// The schema and table conditions of an information_schema query.
fn where_table(table: &str) -> String {
    match table.split_once('.') {
        Some((db, t)) => format!(
            "TABLE_SCHEMA = {} AND TABLE_NAME = {}",
            mysql_literal(db),
            mysql_literal(t)
        ),
        None => format!(
            "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = {}",
            mysql_literal(table)
        ),
    }
}

/// A query true when the operation's effect is already in place (after a crash, an
/// ALTER may have committed without the run recording it), for the operations whose
/// repetition would fail or do harm; None: repeating it is harmless.
fn done_check(table: &str, op: &AlterOp) -> Option<String> {
    use sqlparser::ast::{AlterTableOperation as Op, TableConstraint};
    let column = |name: &str, present: bool| {
        format!(
            "({} EXISTS (SELECT 1 FROM information_schema.COLUMNS WHERE {} AND COLUMN_NAME = {}))",
            if present { "" } else { "NOT" },
            where_table(table),
            mysql_literal(name)
        )
    };
    let index = |name: &str, present: bool| {
        format!(
            "({} EXISTS (SELECT 1 FROM information_schema.STATISTICS WHERE {} AND INDEX_NAME = {}))",
            if present { "" } else { "NOT" },
            where_table(table),
            mysql_literal(name)
        )
    };
    let fk = |name: &str, present: bool| {
        let schema = match table.split_once('.') {
            Some((db, _)) => mysql_literal(db),
            None => "DATABASE()".into(),
        };
        format!(
            "({} EXISTS (SELECT 1 FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = {schema} AND CONSTRAINT_NAME = {} AND CONSTRAINT_TYPE = 'FOREIGN KEY'))",
            if present { "" } else { "NOT" },
            mysql_literal(name)
        )
    };
    match &op.kind {
        OpKind::Parsed(Op::AddColumn { column_def, .. }) => {
            Some(column(&column_def.name.value, true))
        }
        OpKind::Parsed(Op::DropColumn { column_names, .. }) => Some(
            column_names
                .iter()
                .map(|c| column(&c.value, false))
                .collect::<Vec<_>>()
                .join(" AND "),
        ),
        OpKind::Parsed(Op::RenameColumn {
            new_column_name, ..
        }) => Some(column(&new_column_name.value, true)),
        OpKind::Parsed(Op::AddConstraint {
            constraint:
                TableConstraint::Index { name: Some(n), .. }
                | TableConstraint::Unique { name: Some(n), .. },
            ..
        }) => Some(index(&n.value, true)),
        OpKind::Parsed(Op::AddConstraint {
            constraint: TableConstraint::ForeignKey { name: Some(n), .. },
            ..
        }) => Some(fk(&n.value, true)),
        OpKind::Parsed(Op::DropIndex { name }) => Some(index(&name.value, false)),
        OpKind::Parsed(Op::DropForeignKey { name, .. }) => Some(fk(&name.value, false)),
        OpKind::Extra(crate::mysql::ExtraOp::RenameIndex { to, .. }) => Some(index(to, true)),
        _ => None,
    }
    .map(|c| c.replace("( EXISTS", "(EXISTS"))
}
