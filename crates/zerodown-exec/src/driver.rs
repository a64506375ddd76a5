//! The I/O seam: what the executor needs from a database, engine-neutral.

use std::time::Duration;
use zerodown_core::lock::LockMode;

use async_trait::async_trait;
use serde::Serialize;
use zerodown_core::plan::{BackfillSpec, Step};

pub use zerodown_core::history::{Bound, Value as HistoryValue};

use crate::events::EventSink;

/// Errors classified the same way on every engine (PostgreSQL SQLSTATE, MySQL codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The lock was not granted within lock_timeout (PG 55P03, MySQL 1205/3572).
    LockTimeout,
    /// statement_timeout fired (PG 57014).
    StatementTimeout,
    /// Chosen as a deadlock victim (PG 40P01, MySQL 1213).
    Deadlock,
    /// Serialization failure (PG 40001).
    SerializationFailure,
    /// The connection was lost: reconnect, then retry.
    ConnectionLost,
    /// Anything else: retrying will not help.
    Permanent,
}

impl ErrorClass {
    /// Whether waiting and trying again can succeed.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorClass::LockTimeout
                | ErrorClass::Deadlock
                | ErrorClass::SerializationFailure
                | ErrorClass::ConnectionLost
        )
    }
}

/// A database error, classified. The message never contains a password.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{message}")]
pub struct DriverError {
    pub class: ErrorClass,
    pub message: String,
    pub code: Option<String>,
}

impl DriverError {
    pub fn permanent(message: impl Into<String>) -> Self {
        DriverError {
            class: ErrorClass::Permanent,
            message: message.into(),
            code: None,
        }
    }

    pub fn connection_lost(message: impl Into<String>) -> Self {
        DriverError {
            class: ErrorClass::ConnectionLost,
            message: message.into(),
            code: None,
        }
    }
}

/// A session that blocks a step: named before every retry and when the budget is spent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Blocker {
    /// The server's id of the session: a PostgreSQL pid, a MySQL connection id (up to
    /// 2^64; clamped to i32, one named another session).
    pub pid: u64,
    pub state: String,
    /// Seconds since its transaction began, when it has one.
    pub transaction_seconds: Option<f64>,
    pub query: String,
    /// Seconds since it went idle, when it is idle and the server says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_seconds: Option<f64>,
}

impl Blocker {
    pub fn idle_in_transaction(&self) -> bool {
        self.state.starts_with("idle in transaction")
    }
}

/// The key a backfill walks: unique and NOT NULL, with each column's SQL type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackfillKey {
    pub columns: Vec<String>,
    pub types: Vec<String>,
    /// Rows in the table per the planner statistics, for progress and ETA.
    pub estimated_rows: Option<u64>,
}

/// Where a backfill's checkpoint lives: committed in the same transaction as the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint<'a> {
    pub migration: &'a str,
    pub step: usize,
}

/// What one batch did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchOutcome {
    /// Rows in the key range (0: the table is done).
    pub scanned: u64,
    /// Rows changed (those that still needed it).
    pub updated: u64,
    /// Last key of the range, as text, to start the next batch after.
    pub last_key: Option<Vec<String>>,
}

/// What an online rebuild did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rebuilt {
    /// The longest the tables were locked.
    pub held: Duration,
    /// Rows copied, over every run of the step.
    pub rows: u64,
}

/// Work against the target database.
/// What is known of the replicas' lag.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplicaLag {
    /// No replica to wait for.
    None,
    /// The worst replica's lag.
    Worst(Duration),
    /// A replica that was there cannot be measured (disconnected from the primary,
    /// unreachable, its figures hidden from this role): waited for like a lagging one,
    /// never taken for one that keeps up.
    Unknown(String),
}

#[async_trait]
pub trait Database: Send {
    /// Runs the step's statements with its lock and statement timeouts: in one
    /// transaction when the step is transactional. Returns how long it took.
    async fn run_step(&mut self, step: &Step) -> Result<Duration, DriverError>;
    /// Runs an online rebuild step (MySQL/MariaDB: a shadow table, a chunked copy, changes
    /// from the binary log, a cut-over), resuming from what it recorded for `at`, and
    /// reporting its phases and chunks to `events`.
    async fn online_rebuild(
        &mut self,
        _at: &Checkpoint<'_>,
        _step: &Step,
        _events: &mut dyn EventSink,
    ) -> Result<Rebuilt, DriverError> {
        Err(DriverError::permanent(
            "this database has no online rebuild: the step cannot run here",
        ))
    }
    /// Undoes an online rebuild step that has not swapped its tables: removes what its
    /// recorded state says it made, and nothing chosen by name alone.
    async fn undo_online_rebuild(
        &mut self,
        _at: &Checkpoint<'_>,
        _step: &Step,
    ) -> Result<(), DriverError> {
        Err(DriverError::permanent(
            "this database has no online rebuild: the step cannot be undone here",
        ))
    }
    /// Runs a query returning one boolean (done-checks).
    async fn query_bool(&mut self, sql: &str) -> Result<bool, DriverError>;
    /// Sessions holding locks that a step on `table` waits for.
    /// Sessions holding a lock on `table` that conflicts with `lock`, the step's own.
    async fn blockers(&mut self, table: &str, lock: LockMode) -> Result<Vec<Blocker>, DriverError>;
    /// Ends a session (the idle-in-transaction kill policy).
    async fn terminate(&mut self, pid: u64) -> Result<bool, DriverError>;
    /// Drops `index` if a failed concurrent build left it invalid.
    async fn drop_invalid_index(
        &mut self,
        index: &str,
        lock_timeout: Duration,
    ) -> Result<bool, DriverError>;
    /// The key to walk for a backfill (the spec's, or the primary key).
    async fn backfill_key(&mut self, spec: &BackfillSpec) -> Result<BackfillKey, DriverError>;
    /// One batch of `limit` keys after `after`, and the checkpoint, in one transaction.
    #[allow(clippy::too_many_arguments)]
    async fn backfill_batch(
        &mut self,
        at: &Checkpoint<'_>,
        spec: &BackfillSpec,
        key: &BackfillKey,
        after: Option<&[String]>,
        limit: u32,
        lock_timeout: Duration,
        statement_timeout: Option<Duration>,
    ) -> Result<BatchOutcome, DriverError>;
    /// Sessions running a statement on the server right now (MySQL's `Threads_running`,
    /// without ours), None where the engine does not say: backfills wait while it is
    /// above `Options::max_busy_sessions`.
    async fn busy_sessions(&mut self) -> Result<Option<u32>, DriverError> {
        Ok(None)
    }
    /// What is known of the replicas' lag.
    async fn replica_lag(&mut self) -> Result<ReplicaLag, DriverError>;
    /// Checks, before the first step runs, that this session may do what `steps` and
    /// `opts` ask (own the tables it alters, read the figures its throttles need, end
    /// other sessions): an error names each missing privilege and how to grant it.
    async fn preflight(
        &mut self,
        _steps: &[&Step],
        _opts: &crate::executor::Options,
    ) -> Result<(), DriverError> {
        Ok(())
    }
    /// Ends the sessions of runs that died while a statement of theirs was still running
    /// on the server (a killed client's CREATE INDEX CONCURRENTLY goes on, and would
    /// deadlock with the resumed run's). Called under the run lock; returns them.
    async fn end_orphans(&mut self) -> Result<Vec<Blocker>, DriverError>;
}

/// State of a migration as stored in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MigrationStatus {
    Running,
    /// Stopped cleanly: a lock budget was spent, or the run was interrupted. Resumable.
    Stopped,
    Failed,
    Completed,
    Aborted,
}

impl MigrationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MigrationStatus::Running => "running",
            MigrationStatus::Stopped => "stopped",
            MigrationStatus::Failed => "failed",
            MigrationStatus::Completed => "completed",
            MigrationStatus::Aborted => "aborted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => MigrationStatus::Running,
            "stopped" => MigrationStatus::Stopped,
            "failed" => MigrationStatus::Failed,
            "completed" => MigrationStatus::Completed,
            "aborted" => MigrationStatus::Aborted,
            _ => return None,
        })
    }
}

/// State of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    /// Started and not recorded as finished: after a crash, check before re-running.
    Running,
    Done,
    Failed,
    Undone,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "pending",
            StepStatus::Running => "running",
            StepStatus::Done => "done",
            StepStatus::Failed => "failed",
            StepStatus::Undone => "undone",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => StepStatus::Pending,
            "running" => StepStatus::Running,
            "done" => StepStatus::Done,
            "failed" => StepStatus::Failed,
            "undone" => StepStatus::Undone,
            _ => return None,
        })
    }
}

/// A step's recorded progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepState {
    pub status: StepStatus,
    pub attempts: u32,
    pub rows: u64,
    pub last_key: Option<Vec<String>>,
    pub batch_size: Option<u32>,
}

impl Default for StepState {
    fn default() -> Self {
        StepState {
            status: StepStatus::Pending,
            attempts: 0,
            rows: 0,
            last_key: None,
            batch_size: None,
        }
    }
}

/// A migration's recorded state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationState {
    pub id: String,
    pub checksum: String,
    pub status: MigrationStatus,
    pub steps: Vec<StepState>,
}

/// Operator controls, changeable from another terminal while the migration runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Control {
    pub paused: bool,
    pub abort_requested: bool,
    /// Backfill rate limit in rows per second (None: only the batch-time target).
    pub max_rows_per_sec: Option<u32>,
}

/// Per-step facts recorded when a step finishes or fails.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StepUpdate {
    pub attempts: u32,
    pub elapsed: Duration,
    pub held: Duration,
    pub rows: u64,
    pub error: Option<String>,
    /// Rows for the team's migration tool (files this step completes), written in the
    /// same transaction as the step's done mark; their values are all text.
    pub history: Vec<Bound>,
}

/// Where migration state is kept (in the target database itself).
#[async_trait]
pub trait StateStore: Send {
    /// The run lock: false when another runner holds it.
    async fn try_lock_run(&mut self, migration: &str) -> Result<bool, DriverError>;
    async fn load(&mut self, migration: &str) -> Result<Option<MigrationState>, DriverError>;
    async fn create(
        &mut self,
        migration: &str,
        checksum: &str,
        source: &str,
        plan: &serde_json::Value,
        steps: &[Step],
    ) -> Result<(), DriverError>;
    async fn set_status(
        &mut self,
        migration: &str,
        status: MigrationStatus,
        error: Option<&str>,
    ) -> Result<(), DriverError>;
    /// Records a step's status; with `update.history`, in one transaction with those rows.
    async fn set_step(
        &mut self,
        migration: &str,
        step: usize,
        status: StepStatus,
        update: &StepUpdate,
    ) -> Result<(), DriverError>;
    async fn control(&mut self, migration: &str) -> Result<Control, DriverError>;
    /// Runs statements on the team's migration tool's history table (its setup, or
    /// abort's undo) in one transaction; their values are all text.
    async fn run_history(&mut self, statements: &[Bound]) -> Result<(), DriverError>;
}
