//! Rules only a reviewer needs, on top of the analysis: a blocking statement with no
//! lock timeout set before it in its file (the migration tool runs it as written, and a
//! lock queue forms behind it), json instead of jsonb, a 32-bit key on a new table.

use std::collections::{BTreeMap, BTreeSet};

use super::{Level, Problem};
use crate::analysis::StatementAnalysis;
use crate::mysql::catalog::MyCatalog;
use crate::mysql::parse::{MyKind, MyStatement};
use crate::pg::ir::{ColumnDef, ConstraintDef, ConstraintKind, DdlOp, Span};
use crate::pg::parse::ParsedFile;

fn problem(span: &Span, sql: &str, rule: &'static str, message: String, hint: &str) -> Problem {
    Problem {
        file: span.file.to_string(),
        line: span.line,
        column: span.column,
        rule,
        severity: Level::Warning,
        message,
        hint: Some(hint.to_owned()),
        sql: sql.to_owned(),
    }
}

const LOCK_TIMEOUT_HINT: &str = "start the file with SET lock_timeout = '2s' (MySQL/MariaDB: SET SESSION lock_wait_timeout = 2), or run it with zerodown apply, which sets a short timeout per step and retries";

/// PostgreSQL: the lints over the parsed files, with the analysis of each statement.
pub fn postgres(files: &[ParsedFile], analysed: &[StatementAnalysis]) -> Vec<Problem> {
    let by_place: BTreeMap<(&str, u32, u32), &StatementAnalysis> = analysed
        .iter()
        .map(|a| ((&*a.file, a.line, a.column), a))
        .collect();
    let mut out = Vec::new();
    for f in files {
        let mut timeout_set = false;
        for s in &f.statements {
            match &s.op {
                DdlOp::Set { name, .. } if name.eq_ignore_ascii_case("lock_timeout") => {
                    timeout_set = true;
                }
                DdlOp::CreateTable {
                    columns,
                    constraints,
                    table,
                    ..
                } => {
                    for c in columns.iter().filter(|c| c.ty.name == "json") {
                        out.push(json_column(&s.span, &s.sql, &c.name));
                    }
                    if let Some(key) = narrow_pg_key(columns, constraints) {
                        out.push(problem(&s.span, &s.sql, "prefer-bigint-key",
                            format!("{table}.{key} is a 32-bit key: it runs out at 2,147,483,647, and widening it later rewrites the table and every table that references it"),
                            "use bigint (bigserial, or bigint GENERATED ALWAYS AS IDENTITY) for keys"));
                    }
                }
                DdlOp::AlterTable { actions, .. } => {
                    for a in actions {
                        if let crate::pg::ir::AlterAction::AddColumn { column, .. } = a {
                            if column.ty.name == "json" {
                                out.push(json_column(&s.span, &s.sql, &column.name));
                            }
                        }
                    }
                }
                _ => {}
            }
            let blocking = by_place
                .get(&(&*s.span.file, s.span.line, s.span.column))
                .is_some_and(|a| a.impact.blocks_reads || a.impact.blocks_writes);
            if blocking && !timeout_set {
                out.push(problem(&s.span, &s.sql, "missing-lock-timeout",
                    "this statement waits for its lock as long as it takes, and every query on the table queues behind it: no lock_timeout is set before it in this file".into(),
                    LOCK_TIMEOUT_HINT));
            }
        }
    }
    once_per_file(out)
}

/// One missing-lock-timeout per file, at the first statement that needs a timeout, saying
/// how many more do: one setting at the top of the file covers them all.
fn once_per_file(problems: Vec<Problem>) -> Vec<Problem> {
    let mut more: BTreeMap<String, usize> = BTreeMap::new();
    let mut out: Vec<Problem> = Vec::with_capacity(problems.len());
    for p in problems {
        if p.rule == "missing-lock-timeout" {
            let n = more.entry(p.file.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                continue;
            }
        }
        out.push(p);
    }
    for p in out.iter_mut().filter(|p| p.rule == "missing-lock-timeout") {
        match more.get(&p.file).map_or(0, |n| n - 1) {
            0 => {}
            1 => p
                .message
                .push_str(" (nor before 1 more statement after it that needs one)"),
            n => p.message.push_str(&format!(
                " (nor before {n} more statements after it that need one)"
            )),
        }
    }
    out
}

fn json_column(span: &Span, sql: &str, column: &str) -> Problem {
    problem(span, sql, "prefer-jsonb",
        format!("{column} is json: it stores the text as written, cannot be indexed with GIN, and has no equality operator"),
        "use jsonb")
}

/// The single-column primary key of a new table, when it is a 16- or 32-bit integer.
fn narrow_pg_key<'a>(
    columns: &'a [ColumnDef],
    constraints: &'a [ConstraintDef],
) -> Option<&'a str> {
    let inline = columns.iter().find(|c| {
        c.constraints
            .iter()
            .any(|k| matches!(k.kind, ConstraintKind::PrimaryKey { .. }))
    });
    let key = match inline {
        Some(c) => c,
        None => {
            let cols = constraints.iter().find_map(|k| match &k.kind {
                ConstraintKind::PrimaryKey { columns, .. } => Some(columns),
                _ => None,
            })?;
            let [one] = cols.as_slice() else { return None };
            columns.iter().find(|c| &c.name == one)?
        }
    };
    matches!(
        key.ty.name.as_str(),
        "int4" | "int2" | "integer" | "smallint" | "serial" | "smallserial"
    )
    .then_some(key.name.as_str())
}

/// MySQL/MariaDB: the lints over the statements.
pub fn mysql(statements: &[MyStatement]) -> Vec<Problem> {
    let mut out = Vec::new();
    // Tables created earlier in the same file (new and empty); per file, as the
    // analysis sees them.
    let mut created: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut timeout_set: BTreeSet<&str> = BTreeSet::new();
    for s in statements {
        let file = &*s.span.file;
        match &s.kind {
            MyKind::SetVariable { name, .. } if name.eq_ignore_ascii_case("lock_wait_timeout") => {
                timeout_set.insert(file);
            }
            MyKind::CreateTable { table, .. } => {
                created.insert((file, table.as_str()));
                let mut cat = MyCatalog::default();
                cat.apply(&s.kind);
                let key = cat.tables.get(table).and_then(|t| {
                    let [k] = t.primary_key()? else { return None };
                    let ty = &t.info.columns.get(k)?.column_type;
                    ["int", "smallint", "mediumint", "tinyint"]
                        .iter()
                        .any(|n| ty.starts_with(n))
                        .then(|| k.clone())
                });
                if let Some(k) = key {
                    out.push(problem(&s.span, &s.sql, "prefer-bigint-key",
                        format!("{table}.{k} is a 32-bit (or smaller) key: INT runs out at 2,147,483,647 (4,294,967,295 unsigned), and widening it later copies the table"),
                        "use BIGINT for keys"));
                }
            }
            MyKind::AlterTable { table, .. }
                if !created.contains(&(file, table.as_str())) && !timeout_set.contains(file) =>
            {
                out.push(problem(&s.span, &s.sql, "missing-lock-timeout",
                    format!("no lock_wait_timeout is set before this statement in this file: the server's default is a year, and every query on {table} queues behind a DDL that waits for its metadata lock"),
                    LOCK_TIMEOUT_HINT));
            }
            _ => {}
        }
    }
    once_per_file(out)
}
