//! Analysis: the impact of every statement on the real (or described) server.
//!
//! Walks the statements in order, advancing the catalog and the transaction state, and
//! for each one says which locks it takes, whether it rewrites or scans, how long, and
//! a verdict. Pure: same inputs, same output.

pub mod estimate;
pub mod mysql;
pub mod mysql_actions;
pub mod mysql_online;
mod pg;
mod pg_alter;
mod txn;

use serde::Serialize;

use crate::catalog::{simulate, Catalog};
use crate::engine::ServerProfile;
use crate::findings::{Finding, Severity};
use crate::ir::{DdlOp, Statement};
use crate::lock::LockMode;
use crate::migrations::SourceFile;
use crate::sql::parse_pg::Diagnostic;
pub use estimate::CostModel;

/// A lock a statement takes (or keeps holding) on one table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TableLock {
    pub table: String,
    pub lock: LockMode,
    /// Taken by an earlier statement of the same transaction and still held.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub held_from_earlier_statement: bool,
}

/// What a statement does to the tables it touches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Impact {
    pub tables: Vec<TableLock>,
    /// The strongest lock of the statement, as PostgreSQL names lock modes.
    pub lock: Option<LockMode>,
    pub rewrites_table: bool,
    pub scans_table: bool,
    pub blocks_reads: bool,
    pub blocks_writes: bool,
    /// How long the statement runs (and so holds its locks); None when a size is unknown.
    pub estimated_seconds: Option<f64>,
    /// MySQL/MariaDB: the algorithm and lock the server gives the statement as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online: Option<mysql_online::Online>,
}

/// The verdict on one statement as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Safe,
    Caution,
    Unsafe,
}

/// One analysed statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatementAnalysis {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub sql: String,
    #[serde(skip)]
    pub op: DdlOp,
    /// Runs inside a transaction block (explicit, or the migration tool's per-file one).
    pub in_transaction: bool,
    pub impact: Impact,
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
}

/// A migration file after parsing.
#[derive(Debug, Clone)]
pub struct ParsedFile {
    pub source: SourceFile,
    pub statements: Vec<Statement>,
}

/// The result of analysing a whole migration.
#[derive(Debug, Clone)]
pub struct Analysis {
    pub statements: Vec<StatementAnalysis>,
    /// Bad input found while analysing (unknown table or column on a live database).
    pub diagnostics: Vec<Diagnostic>,
}

/// Analyses every statement of the files, in order, against the catalog and profile.
pub fn analyze(
    files: &[ParsedFile],
    catalog: &Catalog,
    profile: &ServerProfile,
    cost: &CostModel,
) -> Analysis {
    let mut cat = catalog.clone();
    let mut out = Vec::new();
    let mut diagnostics = Vec::new();
    for file in files {
        let mut txn = txn::TxnState::new(file.source.implicit_transaction);
        for stmt in &file.statements {
            txn.before(&stmt.op);
            let in_transaction = txn.active();
            match pg::effect(&stmt.op, &cat, profile, cost, in_transaction) {
                Ok(mut effect) => {
                    txn.account(&stmt.op, &cat, &mut effect);
                    effect.live_activity(&cat);
                    out.push(finish(stmt, in_transaction, effect));
                }
                Err(message) => diagnostics.push(Diagnostic {
                    span: stmt.span.clone(),
                    message,
                }),
            }
            simulate::apply(&mut cat, &stmt.op);
            txn.after(&stmt.op);
        }
        simulate::end_of_file(&mut cat);
    }
    Analysis {
        statements: out,
        diagnostics,
    }
}

fn finish(stmt: &Statement, in_transaction: bool, effect: pg::Effect) -> StatementAnalysis {
    let lock = effect.locks.iter().map(|l| l.lock).max();
    let blocking = |f: fn(LockMode) -> bool| {
        effect
            .locks
            .iter()
            .any(|l| f(l.lock) && !effect.new_tables.contains(&l.table))
    };
    let impact = Impact {
        blocks_reads: blocking(LockMode::blocks_reads),
        blocks_writes: blocking(LockMode::blocks_writes),
        tables: effect.locks,
        lock,
        rewrites_table: effect.rewrites,
        scans_table: effect.scans,
        estimated_seconds: effect.seconds.map(|s| (s * 1000.0).round() / 1000.0),
        online: None,
    };
    let verdict = match effect.findings.iter().map(|f| f.severity).max() {
        Some(Severity::Error) => Verdict::Unsafe,
        Some(Severity::Warning) => Verdict::Caution,
        _ => Verdict::Safe,
    };
    StatementAnalysis {
        file: stmt.span.file.clone(),
        line: stmt.span.line,
        column: stmt.span.column,
        sql: stmt.sql.clone(),
        op: stmt.op.clone(),
        in_transaction,
        impact,
        verdict,
        findings: effect.findings,
    }
}

/// The locks, rewrite and scan of one statement on its own (outside any transaction),
/// for the planner's as-written steps.
pub(crate) fn statement_effect(
    op: &DdlOp,
    cat: &Catalog,
    profile: &ServerProfile,
) -> Option<(Vec<TableLock>, Vec<String>, bool, bool)> {
    pg::effect(op, cat, profile, &CostModel::default(), false)
        .ok()
        .map(|e| (e.locks, e.new_tables, e.rewrites, e.scans))
}

pub(crate) use pg_alter::{add_column_rewrite as pg_add_column_rewrite, inline_constraint};
