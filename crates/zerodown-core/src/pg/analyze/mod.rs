//! PostgreSQL analysis: the impact of every statement on the real (or described) server.
//!
//! Walks the statements in order, advancing the catalog and the transaction state, and
//! for each one says which locks it takes, whether it rewrites or scans, how long, and
//! a verdict. Pure: same inputs, same output.

mod alter;
mod estimate;
mod statement;
mod txn;

use crate::analysis::{Impact, StatementAnalysis, TableLock, Verdict};
use crate::engine::ServerProfile;
use crate::estimate::CostModel;
use crate::findings::Severity;
use crate::lock::LockMode;
use crate::pg::catalog::{simulate, Catalog};
use crate::pg::ir::{DdlOp, Statement, TxnControl};
use crate::pg::parse::ParsedFile;
use crate::sql::source::Diagnostic;

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
    cat.index_owners_from_tables();
    let mut out = Vec::with_capacity(files.iter().map(|f| f.statements.len()).sum());
    let mut diagnostics = Vec::new();
    for file in files {
        let mut txn = txn::TxnState::new(file.source.implicit_transaction);
        // A DO block's statements run in one transaction (its own, or the file's).
        let (begin, commit) = (
            DdlOp::Transaction(TxnControl::Begin),
            DdlOp::Transaction(TxnControl::Commit),
        );
        let mut block_opened = false;
        for (n, stmt) in file.statements.iter().enumerate() {
            let same_block = |other: Option<&Statement>| {
                stmt.block.is_some() && other.is_some_and(|o| o.block == stmt.block)
            };
            if stmt.block.is_some()
                && !same_block(n.checked_sub(1).map(|p| &file.statements[p]))
                && !txn.active()
            {
                txn.before(&begin);
                block_opened = true;
            }
            txn.before(&stmt.op);
            let in_transaction = txn.active();
            match statement::effect(&stmt.op, &cat, profile, cost, in_transaction) {
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
            if block_opened && !same_block(file.statements.get(n + 1)) {
                txn.after(&commit);
                block_opened = false;
            }
        }
        simulate::end_of_file(&mut cat);
    }
    Analysis {
        statements: out,
        diagnostics,
    }
}

fn finish(
    stmt: &Statement,
    in_transaction: bool,
    mut effect: statement::Effect,
) -> StatementAnalysis {
    // Kept for the whole run: a one-lock statement's vector grew to room for four.
    effect.locks.shrink_to_fit();
    effect.findings.shrink_to_fit();
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
    statement::effect(op, cat, profile, &CostModel::default(), false)
        .ok()
        .map(|e| (e.locks, e.new_tables, e.rewrites, e.scans))
}

pub(crate) use alter::{add_column_rewrite as pg_add_column_rewrite, inline_constraint};
