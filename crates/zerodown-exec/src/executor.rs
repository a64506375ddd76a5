//! Runs a plan step by step, recording every step before and after it runs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;
use zerodown_core::history::HistoryPlan;
use zerodown_core::lock::LockMode;
use zerodown_core::mysql::online::Online;
use zerodown_core::plan::{Plan, Step, StepKind};

use crate::backoff::Backoff;
use crate::driver::*;
use crate::events::{ms, Event, EventSink, RetryReason};

/// How long a blocker must have been idle in its transaction before the kill policy
/// ends it.
const MIN_IDLE_SECS: f64 = 1.0;

/// Executor settings (the plan's steps carry their own timeouts and retry policies).
#[derive(Debug, Clone)]
pub struct Options {
    /// Terminate blockers that are idle in a transaction (never active queries).
    pub kill_idle_blockers: bool,
    /// Pause backfills while a replica lags more than this.
    pub max_replica_lag: Duration,
    /// Backfills wait while more sessions than this run statements (None: no limit).
    pub max_busy_sessions: Option<u32>,
    /// How long backfills and copies wait for a replica whose lag cannot be read
    /// (disconnected, unreachable) before the run stops cleanly, resumable.
    pub max_lag_unknown: Duration,
    /// Pause after each batch for this fraction of its duration: headroom for the
    /// application's own writes (0.5: the backfill uses at most 2/3 of one session).
    /// None by default: batches are short transactions that other sessions interleave
    /// with anyway, and on 1M rows under load a pause cost wall time without keeping
    /// more of the clients' throughput (BENCHMARKS.md).
    pub batch_pause_ratio: f64,
    pub min_batch: u32,
    pub max_batch: u32,
    /// How often paused runs re-read the controls.
    pub poll: Duration,
    /// Seed of the retry jitter.
    pub seed: u64,
    /// Set from outside (Ctrl-C): stop cleanly at the next step or batch, resumable.
    pub interrupt: Arc<AtomicBool>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            kill_idle_blockers: false,
            max_replica_lag: Duration::from_secs(10),
            max_busy_sessions: None,
            max_lag_unknown: Duration::from_secs(300),
            batch_pause_ratio: 0.0,
            min_batch: 100,
            max_batch: 20_000,
            poll: Duration::from_millis(500),
            seed: 0x5eed,
            interrupt: Arc::default(),
        }
    }
}

/// Why a run stopped before the end. `step` counts from 0; messages count from 1, as the
/// run report and `status` do.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("step {} ({description}) could not get its lock within its retry budget ({attempts} attempts in {waited_ms} ms); blocked by: {}", .step + 1, describe(.blockers))]
    Blocked {
        step: usize,
        description: String,
        attempts: u32,
        waited_ms: u64,
        blockers: Vec<Blocker>,
    },
    #[error("step {} ({description}) failed: {error}", .step + 1)]
    Failed {
        step: usize,
        description: String,
        error: DriverError,
    },
    #[error("aborted on request before step {}", .step + 1)]
    Aborted { step: usize },
    #[error("interrupted before step {}", .step + 1)]
    Interrupted { step: usize },
    #[error("step {} ({description}) stopped: the replicas' lag could not be read for {} s ({why}); nothing races ahead of a replica it cannot see: resume once it is back", .step + 1, .waited_ms / 1000)]
    LagUnknown {
        step: usize,
        description: String,
        waited_ms: u64,
        why: String,
    },
    #[error("recording migration state failed: {0}")]
    State(DriverError),
}

fn describe(blockers: &[Blocker]) -> String {
    if blockers.is_empty() {
        return "no session named (the lock holder finished meanwhile)".to_owned();
    }
    blockers
        .iter()
        .map(|b| {
            let age = b
                .transaction_seconds
                .map(|s| format!(", transaction {s:.0} s"))
                .unwrap_or_default();
            format!(
                "pid {} ({}{age}): {}",
                b.pid,
                b.state,
                b.query.chars().take(100).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    pub step: usize,
    pub description: String,
    pub lock: Option<LockMode>,
    /// MySQL/MariaDB: the ALGORITHM and LOCK the step's ALTER TABLE asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub online: Option<Online>,
    pub kind: StepKind,
    pub attempts: u32,
    pub elapsed_ms: u64,
    /// Duration of the attempt that succeeded: how long the step held its locks.
    pub held_ms: u64,
    pub rows: u64,
    pub skipped: bool,
}

/// What the run did.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct RunReport {
    pub steps: Vec<StepReport>,
    pub retries: u32,
    pub rows_backfilled: u64,
    /// The longest a blocking-lock attempt of the migration waited or held (ms).
    pub worst_lock_wait_ms: u64,
    pub elapsed_ms: u64,
}

/// Runs plans against a database that also keeps the state.
pub struct Executor<'a, D: Database + StateStore> {
    pub(crate) db: &'a mut D,
    pub(crate) sink: &'a mut dyn EventSink,
    pub(crate) opts: Options,
    pub(crate) migration: String,
    pub(crate) report: RunReport,
    seed: u64,
    /// The migration tool's rows to write as steps are done (from the plan).
    history: Option<HistoryPlan>,
    started: Instant,
}

/// What a finished step reports back.
impl StepReport {
    /// Step `n`'s line as the plan describes it, with nothing run yet.
    fn of(n: usize, step: &Step) -> Self {
        StepReport {
            step: n,
            description: step.description.clone(),
            lock: step.lock,
            online: step.online.as_deref().copied(),
            kind: step.kind,
            attempts: 0,
            elapsed_ms: 0,
            held_ms: 0,
            rows: 0,
            skipped: false,
        }
    }
}

pub(crate) struct Done {
    pub attempts: u32,
    pub held: Duration,
    pub rows: u64,
}

impl<'a, D: Database + StateStore> Executor<'a, D> {
    pub fn new(db: &'a mut D, sink: &'a mut dyn EventSink, migration: &str, opts: Options) -> Self {
        let seed = opts.seed;
        Executor {
            db,
            sink,
            opts,
            migration: migration.to_owned(),
            report: RunReport::default(),
            seed,
            history: None,
            started: Instant::now(),
        }
    }

    pub(crate) fn next_seed(&mut self) -> u64 {
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.seed
    }

    /// Runs the steps not yet done, in order. `state` is the migration's recorded state.
    pub async fn run(
        mut self,
        plan: &Plan,
        state: &MigrationState,
    ) -> Result<RunReport, ExecError> {
        let started = Instant::now();
        let steps: Vec<&Step> = plan.steps().collect();
        let total = steps.len();
        for orphan in self.db.end_orphans().await.map_err(ExecError::State)? {
            self.sink.emit(&Event::OrphanEnded {
                pid: orphan.pid,
                query: orphan.query,
            });
        }
        // Validate what can be validated before the first DDL: the privileges the steps
        // and options need, and every backfill that is still to run must have a key.
        let first = state
            .steps
            .iter()
            .position(|s| s.status != StepStatus::Done)
            .unwrap_or(0);
        let pending: Vec<&Step> = steps
            .iter()
            .enumerate()
            .filter(|(n, _)| {
                state
                    .steps
                    .get(*n)
                    .is_none_or(|s| s.status != StepStatus::Done)
            })
            .map(|(_, s)| *s)
            .collect();
        if let Err(error) = self.db.preflight(&pending, &self.opts).await {
            let msg = format!("{error} (checked before running anything; nothing was changed)");
            self.db
                .set_status(&self.migration, MigrationStatus::Failed, Some(&msg))
                .await
                .map_err(ExecError::State)?;
            self.sink.emit(&Event::StepFailed {
                step: first,
                error: msg,
            });
            return Err(ExecError::Failed {
                step: first,
                description: "checking privileges".into(),
                error,
            });
        }
        for (n, step) in steps.iter().enumerate() {
            let pending = state
                .steps
                .get(n)
                .is_none_or(|s| s.status != StepStatus::Done);
            if let (StepKind::Backfill, Some(spec), true) = (step.kind, &step.backfill, pending) {
                if let Err(error) = self.db.backfill_key(spec).await {
                    let e = ExecError::Failed {
                        step: n,
                        description: step.description.clone(),
                        error,
                    };
                    let msg = format!("{e} (checked before running anything; nothing was changed)");
                    self.db
                        .set_status(&self.migration, MigrationStatus::Failed, Some(&msg))
                        .await
                        .map_err(ExecError::State)?;
                    self.sink.emit(&Event::StepFailed {
                        step: n,
                        error: msg,
                    });
                    return Err(e);
                }
            }
        }
        self.history = plan.history.clone();
        self.history_setup(state).await?;
        for (n, step) in steps.iter().enumerate() {
            let st = state.steps.get(n).cloned().unwrap_or_default();
            if st.status == StepStatus::Done {
                continue;
            }
            self.controls(n).await?;
            // After a crash a step may have finished without being recorded.
            if matches!(st.status, StepStatus::Running | StepStatus::Failed)
                && step.kind != StepKind::Backfill
            {
                if let Some(check) = &step.done_check {
                    if self.db.query_bool(check).await.unwrap_or(false) {
                        self.record(n, StepStatus::Done, &StepUpdate::default())
                            .await?;
                        self.sink.emit(&Event::StepAlreadyDone { step: n });
                        self.report.steps.push(StepReport {
                            skipped: true,
                            ..StepReport::of(n, step)
                        });
                        continue;
                    }
                }
            }
            self.sink.emit(&Event::StepStarted {
                step: n,
                total,
                description: step.description.clone(),
            });
            self.record(
                n,
                StepStatus::Running,
                &StepUpdate {
                    attempts: st.attempts,
                    ..StepUpdate::default()
                },
            )
            .await?;
            let t0 = Instant::now();
            let result = match step.kind {
                StepKind::Backfill => self.backfill(n, step, &st).await,
                StepKind::CreateIndexConcurrently
                | StepKind::ReindexConcurrently
                | StepKind::DropIndexConcurrently => self.index_step(n, step).await,
                _ => self.ddl_step(n, step).await,
            };
            let elapsed = t0.elapsed();
            match result {
                Ok(done) => {
                    let update = StepUpdate {
                        attempts: done.attempts,
                        elapsed,
                        held: done.held,
                        rows: done.rows,
                        error: None,
                        history: Vec::new(),
                    };
                    self.record(n, StepStatus::Done, &update).await?;
                    self.sink.emit(&Event::StepDone {
                        step: n,
                        attempts: done.attempts,
                        elapsed_ms: ms(elapsed),
                        rows: done.rows,
                    });
                    self.report.rows_backfilled += if step.kind == StepKind::Backfill {
                        done.rows
                    } else {
                        0
                    };
                    self.report.steps.push(StepReport {
                        attempts: done.attempts,
                        elapsed_ms: ms(elapsed),
                        held_ms: ms(done.held),
                        rows: done.rows,
                        ..StepReport::of(n, step)
                    });
                }
                Err(e) => {
                    let (status, mstatus) = match &e {
                        ExecError::Blocked { .. }
                        | ExecError::Aborted { .. }
                        | ExecError::Interrupted { .. }
                        | ExecError::LagUnknown { .. } => {
                            (StepStatus::Failed, MigrationStatus::Stopped)
                        }
                        _ => (StepStatus::Failed, MigrationStatus::Failed),
                    };
                    let msg = e.to_string();
                    let update = StepUpdate {
                        elapsed,
                        error: Some(msg.clone()),
                        ..StepUpdate::default()
                    };
                    self.record(n, status, &update).await?;
                    self.db
                        .set_status(&self.migration, mstatus, Some(&msg))
                        .await
                        .map_err(ExecError::State)?;
                    self.sink.emit(&Event::StepFailed {
                        step: n,
                        error: msg,
                    });
                    return Err(e);
                }
            }
        }
        self.db
            .set_status(&self.migration, MigrationStatus::Completed, None)
            .await
            .map_err(ExecError::State)?;
        self.report.elapsed_ms = ms(started.elapsed());
        self.sink.emit(&Event::Finished {
            steps: total,
            elapsed_ms: self.report.elapsed_ms,
        });
        Ok(self.report)
    }

    /// The operator's controls before step `n` (or a batch of it): stops the run when an
    /// abort was requested or it was interrupted.
    pub(crate) async fn controls(&mut self, n: usize) -> Result<Control, ExecError> {
        let control = self
            .db
            .control(&self.migration)
            .await
            .map_err(ExecError::State)?;
        if control.abort_requested {
            return Err(ExecError::Aborted { step: n });
        }
        self.check_interrupt(n)?;
        Ok(control)
    }

    /// Stops cleanly when the run was interrupted from outside.
    pub(crate) fn check_interrupt(&self, n: usize) -> Result<(), ExecError> {
        if self.opts.interrupt.load(Ordering::Relaxed) {
            return Err(ExecError::Interrupted { step: n });
        }
        Ok(())
    }

    pub(crate) async fn record(
        &mut self,
        n: usize,
        status: StepStatus,
        update: &StepUpdate,
    ) -> Result<(), ExecError> {
        let history = match (&self.history, status) {
            (Some(h), StepStatus::Done) => h
                .records
                .iter()
                .filter(|r| r.after_step == Some(n))
                .flat_map(|r| r.record.iter())
                .map(|b| self.resolved(b))
                .collect(),
            _ => Vec::new(),
        };
        let with_history;
        let update = if history.is_empty() {
            update
        } else {
            with_history = StepUpdate {
                history,
                ..update.clone()
            };
            &with_history
        };
        self.db
            .set_step(&self.migration, n, status, update)
            .await
            .map_err(ExecError::State)
    }

    /// Before a migration's first step: the tool's history table as the tool makes it,
    /// golang-migrate's dirty mark, and the files with nothing to run. Not again once a
    /// step is done: the rows written since would be set back.
    async fn history_setup(&mut self, state: &MigrationState) -> Result<(), ExecError> {
        let Some(h) = &self.history else {
            return Ok(());
        };
        if state.steps.iter().any(|s| s.status == StepStatus::Done) {
            return Ok(());
        }
        let setup: Vec<Bound> = h.setup.iter().map(|b| self.resolved(b)).collect();
        self.db.run_history(&setup).await.map_err(ExecError::State)
    }

    /// A history statement with the run's time filled in.
    fn resolved(&self, b: &Bound) -> Bound {
        let elapsed = self.started.elapsed();
        let params = b
            .params
            .iter()
            .map(|v| match v {
                HistoryValue::ElapsedMs => HistoryValue::Text(elapsed.as_millis().to_string()),
                HistoryValue::ElapsedNanos => HistoryValue::Text(elapsed.as_nanos().to_string()),
                other => other.clone(),
            })
            .collect();
        Bound {
            sql: b.sql.clone(),
            params,
        }
    }

    /// Before a retry: name the blockers of the step's lock, and end idle-in-transaction
    /// ones if allowed.
    pub(crate) async fn handle_blockers(&mut self, n: usize, step: &Step) -> Vec<Blocker> {
        let Some(table) = &step.table else {
            return Vec::new();
        };
        let lock = step.lock.unwrap_or(LockMode::AccessExclusive);
        let blockers = self.db.blockers(table, lock).await.unwrap_or_default();
        if self.opts.kill_idle_blockers {
            // A session idle for a moment is likely an application between two
            // statements of its transaction: it is named, and ended only once it stays.
            let ended = |b: &&Blocker| {
                b.idle_in_transaction() && b.idle_seconds.is_none_or(|s| s >= MIN_IDLE_SECS)
            };
            for b in blockers.iter().filter(ended) {
                if self.db.terminate(b.pid).await.unwrap_or(false) {
                    self.sink.emit(&Event::BlockerTerminated {
                        step: n,
                        pid: b.pid,
                    });
                }
            }
        }
        blockers
    }

    /// A step in one transaction (or one non-transactional statement) with retries.
    async fn ddl_step(&mut self, n: usize, step: &Step) -> Result<Done, ExecError> {
        let mut backoff = Backoff::new(&step.retry, self.next_seed())
            .with_attempt_cost(Duration::from_millis(step.lock_timeout_ms));
        let blocking = step
            .lock
            .is_some_and(|l| l.blocks_reads() || l.blocks_writes());
        loop {
            let t0 = Instant::now();
            let result = if step.kind == StepKind::OnlineRebuild {
                let at = Checkpoint {
                    migration: &self.migration,
                    step: n,
                };
                self.db.online_rebuild(&at, step, &mut *self.sink).await
            } else {
                self.db
                    .run_step(step)
                    .await
                    .map(|held| Rebuilt { held, rows: 0 })
            };
            match result {
                Ok(Rebuilt { held, rows }) => {
                    if blocking {
                        self.report.worst_lock_wait_ms =
                            self.report.worst_lock_wait_ms.max(ms(t0.elapsed()));
                    }
                    return Ok(Done {
                        attempts: backoff.attempts() + 1,
                        held,
                        rows,
                    });
                }
                Err(e) if e.class.retryable() => {
                    if blocking {
                        self.report.worst_lock_wait_ms =
                            self.report.worst_lock_wait_ms.max(ms(t0.elapsed()));
                    }
                    self.retry_or_stop(n, step, &mut backoff, RetryReason::from_class(e.class))
                        .await?;
                }
                Err(error) => {
                    return Err(ExecError::Failed {
                        step: n,
                        description: step.description.clone(),
                        error,
                    })
                }
            }
        }
    }

    /// Waits for the next attempt, or stops cleanly with the blockers named.
    pub(crate) async fn retry_or_stop(
        &mut self,
        n: usize,
        step: &Step,
        backoff: &mut Backoff,
        reason: RetryReason,
    ) -> Result<(), ExecError> {
        let blockers = if reason == RetryReason::ConnectionLost {
            Vec::new()
        } else {
            self.handle_blockers(n, step).await
        };
        match backoff.next_delay() {
            Some(delay) => {
                self.report.retries += 1;
                self.sink.emit(&Event::Retry {
                    step: n,
                    attempt: backoff.attempts(),
                    reason,
                    delay_ms: ms(delay),
                    blockers,
                });
                tokio::time::sleep(delay).await;
                self.check_interrupt(n)
            }
            None => Err(ExecError::Blocked {
                step: n,
                description: step.description.clone(),
                attempts: backoff.attempts(),
                waited_ms: ms(backoff.elapsed()),
                blockers,
            }),
        }
    }

    /// CREATE/REINDEX/DROP INDEX CONCURRENTLY: outside a transaction; an invalid
    /// leftover of a failed build is dropped before each attempt, and the result is
    /// checked valid afterwards.
    async fn index_step(&mut self, n: usize, step: &Step) -> Result<Done, ExecError> {
        let mut backoff = Backoff::new(&step.retry, self.next_seed());
        loop {
            if step.kind != StepKind::DropIndexConcurrently {
                if let Some(index) = &step.index {
                    let lock_timeout = Duration::from_millis(step.lock_timeout_ms);
                    match self.db.drop_invalid_index(index, lock_timeout).await {
                        Ok(true) => self.sink.emit(&Event::InvalidIndexDropped {
                            step: n,
                            index: index.clone(),
                        }),
                        Ok(false) => {}
                        // The drop waits for the table's other transactions like the
                        // build does: the same retries and budget.
                        Err(e) if e.class.retryable() => {
                            let reason = RetryReason::from_class(e.class);
                            self.retry_or_stop(n, step, &mut backoff, reason).await?;
                            continue;
                        }
                        Err(error) => {
                            return Err(ExecError::Failed {
                                step: n,
                                description: step.description.clone(),
                                error,
                            })
                        }
                    }
                }
            }
            let result = self.db.run_step(step).await;
            let valid = match (&result, &step.done_check) {
                (Ok(_), Some(check)) => self.db.query_bool(check).await.unwrap_or(false),
                (Ok(_), None) => true,
                _ => false,
            };
            match result {
                Ok(held) if valid => {
                    return Ok(Done {
                        attempts: backoff.attempts() + 1,
                        held,
                        rows: 0,
                    })
                }
                // Built but invalid: dropped and built again.
                Ok(_) => {
                    self.retry_or_stop(n, step, &mut backoff, RetryReason::InvalidIndex)
                        .await?
                }
                Err(e) if e.class.retryable() || e.class == ErrorClass::StatementTimeout => {
                    self.retry_or_stop(n, step, &mut backoff, RetryReason::from_class(e.class))
                        .await?
                }
                Err(error) => {
                    return Err(ExecError::Failed {
                        step: n,
                        description: step.description.clone(),
                        error,
                    })
                }
            }
        }
    }
}
