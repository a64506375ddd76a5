//! A plan step declares what it expects: SQL, lock, rewrite/scan, transaction,
//! timeouts, retry policy, backfill spec, undo, and how to tell it is already done.

use serde::{Deserialize, Serialize};

use crate::lock::LockMode;
use crate::mysql::online::{DdlLock, Online};

/// The phases of an expand/contract migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Backward-compatible additions: old and new application versions both work.
    Expand,
    /// Batched data changes, throttled, resumable; then indexes on the columns they fill.
    Backfill,
    /// Enforce constraints, swap, drop: after this only the new application works.
    Contract,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Expand => "expand",
            Phase::Backfill => "backfill",
            Phase::Contract => "contract",
        }
    }
}

/// What kind of work a step is (the executor dispatches on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// DDL in one short transaction with lock_timeout.
    Ddl,
    /// CREATE INDEX CONCURRENTLY: outside a transaction; check `indisvalid` after,
    /// drop an invalid leftover before a retry.
    CreateIndexConcurrently,
    /// DROP INDEX CONCURRENTLY: outside a transaction.
    DropIndexConcurrently,
    /// REINDEX ... CONCURRENTLY: outside a transaction; a failure leaves an invalid
    /// `<name>_ccnew` index to drop before retrying.
    ReindexConcurrently,
    /// VALIDATE CONSTRAINT: its own transaction, long statement timeout.
    ValidateConstraint,
    /// Batched keyset backfill described by [`BackfillSpec`].
    Backfill,
    /// The short transaction that swaps a synced column in.
    Swap,
    /// ANALYZE after the contract phase, so the planner sees the new data.
    Analyze,
    /// A statement kept as written (no safer form exists, or none is needed).
    AsWritten,
    /// MySQL/MariaDB: a change the server can only COPY, done online instead: a shadow
    /// table with the new definition (`statements` hold the ALTER TABLE to apply to it),
    /// a chunked copy by primary key, concurrent changes caught up from the binlog, chunk
    /// checksums, then an atomic cut-over.
    OnlineRebuild,
}

/// How to retry a step that hit its lock timeout (or a deadlock / serialization error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub initial_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// Total time budget for all attempts; when spent, stop cleanly and resumable.
    pub budget_ms: u64,
    /// Full jitter on each backoff, so several runners never retry in lockstep.
    pub jitter: bool,
}

/// A column assignment in a backfill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub column: String,
    /// SQL expression, evaluated per row.
    pub expr: String,
}

/// A batched backfill, as data: the executor builds each batch's SQL from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillSpec {
    /// Schema-qualified table.
    pub table: String,
    /// Key for keyset pagination (unique, NOT NULL); empty: the primary key, resolved at apply.
    pub key: Vec<String>,
    pub set: Vec<Assignment>,
    /// Rows that still need the change (`c IS NULL`), so a re-run and rows written
    /// meanwhile by the application are right; None: every row in the range.
    pub filter: Option<String>,
    pub batch_size: u32,
    /// The executor adapts the batch size to keep each batch near this duration.
    pub target_batch_ms: u32,
    /// A query true when no row still needs the change, run once the walk over the keys
    /// is done: a row it missed fails the step instead of being left behind. Only where
    /// `filter` names exactly the rows that need it (a backfill zerodown made itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<String>,
}

/// Which source statement a step comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepSource {
    pub file: std::sync::Arc<str>,
    pub line: u32,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub phase: Phase,
    pub kind: StepKind,
    pub description: String,
    /// Schema-qualified table the step works on, if any.
    pub table: Option<String>,
    /// Statements run in order (in one transaction when `transactional`).
    pub statements: Vec<String>,
    /// Strongest table lock the step takes, as PostgreSQL names it.
    pub lock: Option<LockMode>,
    pub rewrites_table: bool,
    pub scans_table: bool,
    pub transactional: bool,
    pub lock_timeout_ms: u64,
    /// None: no statement timeout (non-blocking long work such as VALIDATE).
    pub statement_timeout_ms: Option<u64>,
    pub retry: RetryPolicy,
    /// Boxed, as `online`: most steps have none, and a long file has many steps.
    pub backfill: Option<Box<BackfillSpec>>,
    /// SQL that reverses the step (empty: nothing to undo, or not reversible).
    pub undo: Vec<String>,
    /// Whether `abort` may run `undo` (false after data or names are gone).
    pub reversible: bool,
    /// A query returning one boolean, true when the step's effect is already in place:
    /// what makes `resume` after a crash safe for steps that are not idempotent.
    pub done_check: Option<String>,
    /// The table is new in this migration or known empty: its locks block no one.
    pub table_is_new: bool,
    /// The index an index step builds, rebuilds or drops (schema-qualified SQL name):
    /// what the executor checks for validity and drops when a build left it invalid.
    pub index: Option<String>,
    /// MySQL/MariaDB: the ALGORITHM and LOCK the step's ALTER TABLE asks for (the server
    /// refuses rather than falls back) and whether it rebuilds the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<Box<Online>>,
    /// A statement zerodown does not model: lock, rewrite and scan are unknown.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unmodeled: bool,
    pub source: StepSource,
}

/// The lock of a step as reports show it: PostgreSQL's lock name, the `ALGORITHM` and
/// `LOCK` a MySQL/MariaDB ALTER TABLE asks for, or an online rebuild's (it locks the
/// table only for its cut-over).
pub fn lock_label(
    lock: Option<LockMode>,
    online: Option<Online>,
    kind: StepKind,
) -> Option<String> {
    match (lock, online, kind) {
        (Some(l), ..) => Some(l.pg_name().to_owned()),
        (None, Some(o), _) => Some(format!("{} LOCK={}", o.algorithm.name(), o.lock.name())),
        (None, None, StepKind::OnlineRebuild) => Some("cut-over only".to_owned()),
        (None, None, _) => None,
    }
}

impl Step {
    /// A step with only what every step must say: its phase, kind, description, how
    /// long it waits for its lock, how it retries, and where it comes from. It runs
    /// nothing yet, takes no lock, neither rewrites nor scans, runs in a transaction
    /// without a statement timeout, and is reversible with nothing to undo; planners set
    /// the rest, usually with struct-update syntax over this.
    pub fn new(
        phase: Phase,
        kind: StepKind,
        description: impl Into<String>,
        lock_timeout_ms: u64,
        retry: &RetryPolicy,
        source: &StepSource,
    ) -> Step {
        Step {
            phase,
            kind,
            description: description.into(),
            table: None,
            statements: Vec::new(),
            lock: None,
            rewrites_table: false,
            scans_table: false,
            transactional: true,
            lock_timeout_ms,
            statement_timeout_ms: None,
            retry: retry.clone(),
            backfill: None,
            undo: Vec::new(),
            reversible: true,
            done_check: None,
            table_is_new: false,
            index: None,
            online: None,
            unmodeled: false,
            source: source.clone(),
        }
    }

    /// Whether the step holds a lock that blocks traffic while it rewrites or scans an
    /// existing table: what a safe plan never does.
    pub fn blocks_traffic_while_working(&self) -> bool {
        let blocking = match self.online.as_deref() {
            Some(o) => o.lock != DdlLock::None,
            None => self
                .lock
                .is_some_and(|l| l.blocks_reads() || l.blocks_writes()),
        };
        !self.table_is_new && (self.rewrites_table || self.scans_table) && blocking
    }
}

#[cfg(test)]
mod tests {
    use crate::lock::LockMode;

    #[test]
    fn lock_modes_round_trip_through_json() {
        for m in LockMode::ALL {
            let json = serde_json::to_string(&m).expect("ser");
            assert_eq!(serde_json::from_str::<LockMode>(&json).expect("de"), m);
        }
        assert!(serde_json::from_str::<LockMode>("\"EXCLUSIVE-ISH\"").is_err());
    }
}
