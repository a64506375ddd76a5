//! The executor's logic against a scripted in-memory database, on tokio's paused clock.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use zerodown_core::history::{FileRecord, HistoryPlan, Tool};
use zerodown_core::lock::LockMode;
use zerodown_core::plan::{
    BackfillSpec, Phase, PhaseSteps, Plan, RetryPolicy, Step, StepKind, StepSource,
};
use zerodown_exec::events::Collect;
use zerodown_exec::*;

#[derive(Default)]
struct Fake {
    state: Option<MigrationState>,
    control: Control,
    /// Paused for this many control reads, then unpaused.
    paused_reads: u32,
    /// Lock timeouts to return before a step (by description) succeeds; u32::MAX: never.
    lock_failures: HashMap<String, u32>,
    runs: HashMap<String, u32>,
    done_checks: HashMap<String, bool>,
    /// Backfill table: key -> how many times the row was written.
    rows: BTreeMap<i64, u32>,
    /// Fail (like a crash before commit) on this batch number.
    fail_batch: Option<u32>,
    batches: u32,
    invalid_indexes: Vec<String>,
    terminated: Vec<u64>,
    blockers: Vec<Blocker>,
    /// What replica_lag answers, in turn; then `lag_after`.
    lags: std::collections::VecDeque<ReplicaLag>,
    lag_after: Option<ReplicaLag>,
    /// Abort is asked for from this control read on.
    abort_at_read: Option<u32>,
    control_reads: u32,
    /// History statements written: with the done mark of a step, or by run_history (None).
    history: Vec<(Option<usize>, Bound)>,
}

fn lock_timeout() -> DriverError {
    DriverError {
        class: ErrorClass::LockTimeout,
        message: "canceling statement due to lock timeout".into(),
        code: Some("55P03".into()),
    }
}

#[async_trait]
impl Database for Fake {
    async fn run_step(&mut self, step: &Step) -> Result<Duration, DriverError> {
        *self.runs.entry(step.description.clone()).or_default() += 1;
        let left = self
            .lock_failures
            .entry(step.description.clone())
            .or_default();
        if *left > 0 {
            *left = left.saturating_sub(if *left == u32::MAX { 0 } else { 1 });
            tokio::time::sleep(Duration::from_millis(step.lock_timeout_ms)).await;
            return Err(lock_timeout());
        }
        Ok(Duration::from_millis(2))
    }
    async fn query_bool(&mut self, sql: &str) -> Result<bool, DriverError> {
        Ok(*self.done_checks.get(sql).unwrap_or(&false))
    }
    async fn blockers(
        &mut self,
        _table: &str,
        _lock: zerodown_core::lock::LockMode,
    ) -> Result<Vec<Blocker>, DriverError> {
        Ok(self.blockers.clone())
    }
    async fn terminate(&mut self, pid: u64) -> Result<bool, DriverError> {
        self.terminated.push(pid);
        self.blockers.retain(|b| b.pid != pid);
        Ok(true)
    }
    async fn drop_invalid_index(
        &mut self,
        index: &str,
        _lock_timeout: Duration,
    ) -> Result<bool, DriverError> {
        let had = self.invalid_indexes.iter().any(|i| i == index);
        self.invalid_indexes.retain(|i| i != index);
        Ok(had)
    }
    async fn backfill_key(&mut self, _spec: &BackfillSpec) -> Result<BackfillKey, DriverError> {
        Ok(BackfillKey {
            columns: vec!["id".into()],
            types: vec!["bigint".into()],
            estimated_rows: Some(self.rows.len() as u64),
        })
    }
    async fn backfill_batch(
        &mut self,
        at: &Checkpoint<'_>,
        _spec: &BackfillSpec,
        _key: &BackfillKey,
        after: Option<&[String]>,
        limit: u32,
        _lock_timeout: Duration,
        _statement_timeout: Option<Duration>,
    ) -> Result<BatchOutcome, DriverError> {
        self.batches += 1;
        if self.fail_batch == Some(self.batches) {
            return Err(DriverError::permanent(
                "server closed the connection unexpectedly",
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let from = after
            .and_then(|a| a.first())
            .map_or(i64::MIN, |k| k.parse().expect("key"));
        let keys: Vec<i64> = self
            .rows
            .range(from + 1..)
            .take(limit as usize)
            .map(|(k, _)| *k)
            .collect();
        for k in &keys {
            *self.rows.get_mut(k).expect("row") += 1;
        }
        let out = BatchOutcome {
            scanned: keys.len() as u64,
            updated: keys.len() as u64,
            last_key: keys.last().map(|k| vec![k.to_string()]),
        };
        // The checkpoint commits with the batch.
        if let Some(st) = self.state.as_mut().and_then(|s| s.steps.get_mut(at.step)) {
            st.rows += out.updated;
            st.last_key = out.last_key.clone().or(st.last_key.clone());
            st.batch_size = Some(limit);
        }
        Ok(out)
    }
    async fn replica_lag(&mut self) -> Result<ReplicaLag, DriverError> {
        Ok(self
            .lags
            .pop_front()
            .or_else(|| self.lag_after.clone())
            .unwrap_or(ReplicaLag::None))
    }

    async fn end_orphans(&mut self) -> Result<Vec<Blocker>, DriverError> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl StateStore for Fake {
    async fn try_lock_run(&mut self, _m: &str) -> Result<bool, DriverError> {
        Ok(true)
    }
    async fn load(&mut self, _m: &str) -> Result<Option<MigrationState>, DriverError> {
        Ok(self.state.clone())
    }
    async fn create(
        &mut self,
        m: &str,
        checksum: &str,
        _s: &str,
        _p: &serde_json::Value,
        steps: &[Step],
    ) -> Result<(), DriverError> {
        self.state = Some(MigrationState {
            id: m.into(),
            checksum: checksum.into(),
            status: MigrationStatus::Running,
            steps: steps.iter().map(|_| StepState::default()).collect(),
        });
        Ok(())
    }
    async fn set_status(
        &mut self,
        _m: &str,
        status: MigrationStatus,
        _e: Option<&str>,
    ) -> Result<(), DriverError> {
        if let Some(s) = self.state.as_mut() {
            s.status = status;
        }
        Ok(())
    }
    async fn set_step(
        &mut self,
        _m: &str,
        n: usize,
        status: StepStatus,
        u: &StepUpdate,
    ) -> Result<(), DriverError> {
        if let Some(st) = self.state.as_mut().and_then(|s| s.steps.get_mut(n)) {
            st.status = status;
            st.attempts = st.attempts.max(u.attempts);
        }
        self.history
            .extend(u.history.iter().map(|b| (Some(n), b.clone())));
        Ok(())
    }
    async fn run_history(&mut self, statements: &[Bound]) -> Result<(), DriverError> {
        self.history
            .extend(statements.iter().map(|b| (None, b.clone())));
        Ok(())
    }
    async fn control(&mut self, _m: &str) -> Result<Control, DriverError> {
        let mut c = self.control;
        self.control_reads += 1;
        if self
            .abort_at_read
            .is_some_and(|at| self.control_reads >= at)
        {
            c.abort_requested = true;
        }
        if self.paused_reads > 0 {
            self.paused_reads -= 1;
            c.paused = true;
        }
        Ok(c)
    }
}

fn step(kind: StepKind, description: &str, lock: LockMode) -> Step {
    let retry = RetryPolicy {
        max_attempts: 50,
        initial_backoff_ms: 100,
        max_backoff_ms: 2_000,
        budget_ms: 10_000,
        jitter: true,
    };
    let source = StepSource {
        file: "m.sql".into(),
        line: 1,
    };
    Step {
        table: Some("public.t".into()),
        statements: vec![format!("-- {description}")],
        lock: Some(lock),
        statement_timeout_ms: Some(5_000),
        done_check: Some(format!("done? {description}")),
        ..Step::new(Phase::Expand, kind, description, 100, &retry, &source)
    }
}

fn backfill_step() -> Step {
    let mut s = step(StepKind::Backfill, "backfill", LockMode::RowExclusive);
    s.phase = Phase::Backfill;
    s.done_check = None;
    s.backfill = Some(Box::new(BackfillSpec {
        table: "public.t".into(),
        key: Vec::new(),
        set: Vec::new(),
        filter: None,
        batch_size: 1_000,
        target_batch_ms: 200,
        verify: None,
    }));
    s
}

fn plan(steps: Vec<Step>) -> Plan {
    Plan {
        phases: vec![PhaseSteps {
            name: Phase::Expand,
            steps,
        }],
        safe: true,
        notes: Vec::new(),
        history: None,
    }
}

async fn start(db: &mut Fake, p: &Plan) -> MigrationState {
    let steps: Vec<Step> = p.steps().cloned().collect();
    db.create("m1", "sum", "m.sql", &serde_json::Value::Null, &steps)
        .await
        .expect("create");
    db.state.clone().expect("state")
}

fn blocker(pid: u64, state: &str) -> Blocker {
    Blocker {
        pid,
        state: state.into(),
        transaction_seconds: Some(42.0),
        query: "SELECT * FROM t".into(),
        idle_seconds: None,
    }
}

#[tokio::test(start_paused = true)]
async fn lock_timeouts_are_retried_with_blockers_named() {
    let mut db = Fake {
        blockers: vec![blocker(4242, "active")],
        ..Fake::default()
    };
    db.lock_failures.insert("add column".into(), 3);
    let p = plan(vec![step(
        StepKind::Ddl,
        "add column",
        LockMode::AccessExclusive,
    )]);
    let st = start(&mut db, &p).await;
    let mut events = Collect::default();
    let report = Executor::new(&mut db, &mut events, "m1", Options::default())
        .run(&p, &st)
        .await
        .expect("run");
    assert_eq!(report.retries, 3);
    assert_eq!(report.steps[0].attempts, 4);
    let retries: Vec<&Event> = events
        .0
        .iter()
        .filter(|e| matches!(e, Event::Retry { .. }))
        .collect();
    assert_eq!(retries.len(), 3);
    assert!(matches!(retries[0], Event::Retry { blockers, .. } if blockers[0].pid == 4242));
    // Each failed attempt waited its lock_timeout; that is the worst wait the migration saw.
    assert_eq!(report.worst_lock_wait_ms, 100);
    assert_eq!(
        db.state.as_ref().map(|s| s.status),
        Some(MigrationStatus::Completed)
    );
}

#[tokio::test(start_paused = true)]
async fn a_spent_budget_stops_cleanly_and_resumably() {
    let mut db = Fake {
        blockers: vec![blocker(7, "idle in transaction")],
        ..Fake::default()
    };
    db.lock_failures.insert("add column".into(), u32::MAX);
    let p = plan(vec![step(
        StepKind::Ddl,
        "add column",
        LockMode::AccessExclusive,
    )]);
    let st = start(&mut db, &p).await;
    let mut events = Collect::default();
    let t0 = tokio::time::Instant::now();
    let err = Executor::new(&mut db, &mut events, "m1", Options::default())
        .run(&p, &st)
        .await
        .expect_err("blocked");
    assert!(
        t0.elapsed() <= Duration::from_millis(10_000),
        "within the budget: {:?}",
        t0.elapsed()
    );
    match &err {
        ExecError::Blocked { blockers, .. } => assert_eq!(blockers[0].pid, 7),
        other => panic!("{other}"),
    }
    assert!(
        err.to_string()
            .contains("pid 7 (idle in transaction, transaction 42 s)"),
        "{err}"
    );
    let s = db.state.as_ref().expect("state");
    assert_eq!(s.status, MigrationStatus::Stopped);
    assert_eq!(s.steps[0].status, StepStatus::Failed);
    assert!(db.terminated.is_empty(), "never kills without the policy");
}

#[tokio::test(start_paused = true)]
async fn idle_blockers_are_terminated_only_under_the_policy() {
    let mut db = Fake {
        blockers: vec![blocker(7, "idle in transaction"), blocker(8, "active")],
        ..Fake::default()
    };
    db.lock_failures.insert("add column".into(), 1);
    let p = plan(vec![step(
        StepKind::Ddl,
        "add column",
        LockMode::AccessExclusive,
    )]);
    let st = start(&mut db, &p).await;
    let mut events = Collect::default();
    let opts = Options {
        kill_idle_blockers: true,
        ..Options::default()
    };
    Executor::new(&mut db, &mut events, "m1", opts)
        .run(&p, &st)
        .await
        .expect("run");
    assert_eq!(db.terminated, vec![7], "the active query is never killed");
}

#[tokio::test(start_paused = true)]
async fn backfill_resumes_from_its_checkpoint_writing_each_row_once() {
    let mut db = Fake {
        fail_batch: Some(4),
        ..Fake::default()
    };
    db.rows = (1..=10_000).map(|k| (k, 0)).collect();
    let p = plan(vec![backfill_step()]);
    let st = start(&mut db, &p).await;
    let mut events = Collect::default();
    let err = Executor::new(&mut db, &mut events, "m1", Options::default())
        .run(&p, &st)
        .await
        .expect_err("crash");
    assert!(matches!(err, ExecError::Failed { .. }), "{err}");
    // The batch size adapted to the 200 ms target (batches took 20 ms here).
    let sizes: Vec<u32> = events
        .0
        .iter()
        .filter_map(|e| match e {
            Event::Batch { batch_size, .. } => Some(*batch_size),
            _ => None,
        })
        .collect();
    assert_eq!(sizes, vec![1000, 2000, 4000], "doubling at most per batch");
    let written_before = db.rows.values().filter(|w| **w > 0).count();
    assert!(written_before > 0 && written_before < 10_000);
    // Resume: a new run over the recorded state.
    let st = db.state.clone().expect("state");
    assert_eq!(
        st.steps[0].rows as usize, written_before,
        "checkpoint matches what was committed"
    );
    let mut events = Collect::default();
    let report = Executor::new(&mut db, &mut events, "m1", Options::default())
        .run(&p, &st)
        .await
        .expect("resume");
    assert!(
        db.rows.values().all(|w| *w == 1),
        "every row written exactly once"
    );
    assert_eq!(report.rows_backfilled, 10_000);
}

#[tokio::test(start_paused = true)]
async fn a_step_done_before_a_crash_is_checked_not_rerun() {
    let mut db = Fake::default();
    let p = plan(vec![step(
        StepKind::Ddl,
        "add column",
        LockMode::AccessExclusive,
    )]);
    let mut st = start(&mut db, &p).await;
    st.steps[0].status = StepStatus::Running;
    db.done_checks.insert("done? add column".into(), true);
    let mut events = Collect::default();
    let report = Executor::new(&mut db, &mut events, "m1", Options::default())
        .run(&p, &st)
        .await
        .expect("run");
    assert!(report.steps[0].skipped);
    assert_eq!(db.runs.get("add column"), None);
    assert!(events.0.contains(&Event::StepAlreadyDone { step: 0 }));
}

#[tokio::test(start_paused = true)]
async fn pause_waits_and_abort_stops() {
    let mut db = Fake {
        paused_reads: 4,
        ..Fake::default()
    };
    db.rows = (1..=3_000).map(|k| (k, 0)).collect();
    let p = plan(vec![backfill_step()]);
    let st = start(&mut db, &p).await;
    let mut events = Collect::default();
    Executor::new(&mut db, &mut events, "m1", Options::default())
        .run(&p, &st)
        .await
        .expect("run");
    assert!(events.0.iter().any(|e| matches!(e, Event::Paused { .. })));
    assert!(events.0.iter().any(|e| matches!(e, Event::Resumed { .. })));

    let mut db = Fake {
        control: Control {
            abort_requested: true,
            ..Control::default()
        },
        ..Fake::default()
    };
    let p = plan(vec![step(
        StepKind::Ddl,
        "add column",
        LockMode::AccessExclusive,
    )]);
    let st = start(&mut db, &p).await;
    let mut events = Collect::default();
    let err = Executor::new(&mut db, &mut events, "m1", Options::default())
        .run(&p, &st)
        .await
        .expect_err("abort");
    assert!(matches!(err, ExecError::Aborted { step: 0 }));
    assert_eq!(db.runs.get("add column"), None);
}

#[tokio::test(start_paused = true)]
async fn an_invalid_index_is_dropped_and_the_build_retried() {
    let mut db = Fake::default();
    let mut s = step(
        StepKind::CreateIndexConcurrently,
        "build index",
        LockMode::ShareUpdateExclusive,
    );
    s.transactional = false;
    s.index = Some("\"public\".\"t_idx\"".into());
    db.invalid_indexes.push("\"public\".\"t_idx\"".into());
    // First build "succeeds" but leaves the index invalid; the second one is valid.
    db.done_checks.insert("done? build index".into(), false);
    let p = plan(vec![s]);
    let st = start(&mut db, &p).await;
    let mut events = Collect::default();
    let mut exec = Executor::new(&mut db, &mut events, "m1", Options::default());
    let _ = &mut exec;
    let err = exec
        .run(&p, &st)
        .await
        .expect_err("never valid within the budget");
    assert!(matches!(err, ExecError::Blocked { .. }), "{err}");
    assert!(events
        .0
        .iter()
        .any(|e| matches!(e, Event::InvalidIndexDropped { .. })));
    assert!(*db.runs.get("build index").expect("ran") > 1, "retried");
}

fn rows_written(db: &Fake) -> usize {
    db.rows.values().filter(|w| **w > 0).count()
}

#[tokio::test(start_paused = true)]
async fn a_replica_that_cannot_be_read_holds_the_backfill_then_stops_it_cleanly() {
    let mut db = Fake {
        lag_after: Some(ReplicaLag::Unknown(
            "standby 10.0.0.2 left pg_stat_replication".into(),
        )),
        ..Fake::default()
    };
    db.rows = (1..=3_000).map(|k| (k, 0)).collect();
    let p = plan(vec![backfill_step()]);
    let st = start(&mut db, &p).await;
    let mut events = Collect::default();
    let opts = Options {
        max_lag_unknown: Duration::from_secs(30),
        ..Options::default()
    };
    let t0 = tokio::time::Instant::now();
    let err = Executor::new(&mut db, &mut events, "m1", opts)
        .run(&p, &st)
        .await
        .expect_err("stops");
    assert!(
        matches!(err, ExecError::LagUnknown { step: 0, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("left pg_stat_replication"),
        "{err}"
    );
    let waited = t0.elapsed();
    assert!(
        waited >= Duration::from_secs(30) && waited < Duration::from_secs(40),
        "{waited:?}"
    );
    assert_eq!(
        rows_written(&db),
        0,
        "no batch raced ahead of the unseen replica"
    );
    assert_eq!(
        db.state.as_ref().map(|s| s.status),
        Some(MigrationStatus::Stopped),
        "resumable"
    );
    assert!(events.0.iter().any(|e| matches!(
        e,
        Event::Throttled { reason, .. } if reason.contains("replica lag unknown")
    )));
}

#[tokio::test(start_paused = true)]
async fn the_backfill_goes_on_once_the_replica_is_back() {
    let mut db = Fake {
        lags: std::iter::repeat_n(ReplicaLag::Unknown("unreachable".into()), 5).collect(),
        lag_after: Some(ReplicaLag::Worst(Duration::from_millis(10))),
        ..Fake::default()
    };
    db.rows = (1..=3_000).map(|k| (k, 0)).collect();
    let p = plan(vec![backfill_step()]);
    let st = start(&mut db, &p).await;
    let mut events = Collect::default();
    Executor::new(&mut db, &mut events, "m1", Options::default())
        .run(&p, &st)
        .await
        .expect("completes");
    assert_eq!(rows_written(&db), 3_000);
    assert!(db.rows.values().all(|w| *w == 1), "each row written once");
}

#[tokio::test(start_paused = true)]
async fn a_throttled_backfill_still_answers_abort_and_ctrl_c() {
    for by_interrupt in [false, true] {
        let mut db = Fake {
            lag_after: Some(ReplicaLag::Worst(Duration::from_secs(600))),
            abort_at_read: (!by_interrupt).then_some(6),
            ..Fake::default()
        };
        db.rows = (1..=3_000).map(|k| (k, 0)).collect();
        let p = plan(vec![backfill_step()]);
        let st = start(&mut db, &p).await;
        let mut events = Collect::default();
        let opts = Options::default();
        if by_interrupt {
            let flag = opts.interrupt.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(3)).await;
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            });
        }
        let t0 = tokio::time::Instant::now();
        let err = Executor::new(&mut db, &mut events, "m1", opts)
            .run(&p, &st)
            .await
            .expect_err("stops");
        if by_interrupt {
            assert!(matches!(err, ExecError::Interrupted { .. }), "{err}");
        } else {
            assert!(matches!(err, ExecError::Aborted { .. }), "{err}");
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "answered within a poll: {:?}",
            t0.elapsed()
        );
        assert_eq!(rows_written(&db), 0);
    }
}

fn history_plan(records: &[(&str, Option<usize>)]) -> HistoryPlan {
    let bound = |sql: &str| Bound {
        sql: sql.into(),
        params: vec![HistoryValue::ElapsedMs],
    };
    HistoryPlan {
        tool: Tool::Flyway,
        table: "flyway_schema_history".into(),
        setup: vec![Bound::plain("create table")],
        records: records
            .iter()
            .map(|(file, after_step)| FileRecord {
                file: (*file).into(),
                version: String::new(),
                after_step: *after_step,
                record: vec![bound(&format!("record {file}"))],
                undo: Vec::new(),
            })
            .collect(),
        undo_setup: Vec::new(),
    }
}

/// Each file's row is written with the done mark of the step that completes it, the
/// setup once before the first step, and neither again when a stopped run resumes.
#[tokio::test(start_paused = true)]
async fn history_rows_go_with_the_done_marks_and_the_setup_runs_once() {
    let mut db = Fake::default();
    db.lock_failures.insert("b".into(), u32::MAX);
    let mut p = plan(vec![
        step(StepKind::Ddl, "a", LockMode::AccessExclusive),
        step(StepKind::Ddl, "b", LockMode::AccessExclusive),
    ]);
    p.history = Some(history_plan(&[("1.sql", Some(0)), ("2.sql", Some(1))]));
    let st = start(&mut db, &p).await;
    let mut events = Collect::default();
    let first = Executor::new(&mut db, &mut events, "m1", Options::default())
        .run(&p, &st)
        .await;
    assert!(first.is_err(), "step b never gets its lock");
    let written: Vec<(Option<usize>, String)> = db
        .history
        .iter()
        .map(|(n, b)| (*n, b.sql.clone()))
        .collect();
    assert_eq!(
        written,
        vec![
            (None, "create table".into()),
            (Some(0), "record 1.sql".into())
        ]
    );
    assert!(
        db.history
            .iter()
            .all(|(_, b)| b.params.iter().all(|v| matches!(v, HistoryValue::Text(_)))),
        "the run's time is filled in"
    );
    db.lock_failures.clear();
    let st = db.state.clone().expect("state");
    Executor::new(&mut db, &mut events, "m1", Options::default())
        .run(&p, &st)
        .await
        .expect("resumed");
    let written: Vec<&str> = db.history.iter().map(|(_, b)| b.sql.as_str()).collect();
    assert_eq!(
        written,
        vec!["create table", "record 1.sql", "record 2.sql"]
    );
}
