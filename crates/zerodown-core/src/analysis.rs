//! What analysis says of each statement as written, on either engine: the locks it
//! takes, whether it rewrites or scans, how long, its findings and a verdict. Each
//! engine's analyser (`pg::analyze`, `mysql::analyze`) fills it in.

use serde::Serialize;

use crate::findings::Finding;
use crate::lock::LockMode;
use crate::mysql::online;

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
    pub online: Option<online::Online>,
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
    pub file: std::sync::Arc<str>,
    pub line: u32,
    pub column: u32,
    pub sql: String,
    /// Runs inside a transaction block (explicit, or the migration tool's per-file one).
    pub in_transaction: bool,
    pub impact: Impact,
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
}
