//! `apply` and `resume`: a plan run against the live database under the run lock, its
//! progress recorded in the database so that any stop can be resumed.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use zerodown_core::migrations::{identity, source_names, SourceFile};
use zerodown_core::plan::{lock_label, Plan};
use zerodown_exec::{
    Database, EventSink, ExecError, Executor, MigrationStatus, Options, RunReport, StateAdmin,
    StateStore,
};
use zerodown_mysql::MyDriver;
use zerodown_pg::PgDriver;

use crate::control::find_on;
use crate::plan::Planned;
use crate::{Error, Notify};

/// How a run behaves, for apply and resume.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// End sessions that block a step while idle in a transaction (never active
    /// queries).
    pub kill_idle_blockers: bool,
    /// Backfills and online copies wait while a replica lags more than this.
    pub max_replica_lag: Duration,
    /// MySQL/MariaDB replicas whose lag holds copies back (`mysql://` or `mariadb://`).
    /// PostgreSQL's are read from pg_stat_replication on the primary.
    pub replicas: Vec<String>,
    /// Backfills wait while more sessions than this run statements.
    pub max_threads_running: Option<u32>,
    /// How long backfills and copies wait for a replica whose lag cannot be read
    /// before the run stops cleanly.
    pub max_lag_unknown: Duration,
    /// After each batch, pause for this fraction of its duration.
    pub batch_pause_ratio: f64,
    /// Cap backfills at this many rows per second from the start.
    pub max_rows_per_sec: Option<i32>,
    /// MySQL/MariaDB online rebuilds copy and keep in sync, but wait for
    /// [`crate::control::cutover`] before swapping their tables in.
    pub postpone_cutover: bool,
    /// Set from outside (Ctrl-C): stop cleanly at the next step or batch, resumable.
    pub interrupt: Arc<AtomicBool>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            kill_idle_blockers: false,
            max_replica_lag: Duration::from_secs(10),
            replicas: Vec::new(),
            max_threads_running: None,
            max_lag_unknown: Duration::from_secs(300),
            batch_pause_ratio: 0.0,
            max_rows_per_sec: None,
            postpone_cutover: false,
            interrupt: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl RunOptions {
    fn executor_options(&self) -> Options {
        Options {
            kill_idle_blockers: self.kill_idle_blockers,
            max_replica_lag: self.max_replica_lag,
            max_busy_sessions: self.max_threads_running,
            max_lag_unknown: self.max_lag_unknown,
            batch_pause_ratio: self.batch_pause_ratio.max(0.0),
            interrupt: self.interrupt.clone(),
            ..Options::default()
        }
    }
}

/// How a run ended, when it did not fail.
#[derive(Debug, Clone)]
pub enum RunEnd {
    /// Every step ran (or had run before a resume).
    Done(RunReport),
    /// The migration was already recorded as applied: nothing ran.
    AlreadyApplied,
}

/// Runs a live plan: records it in the database and runs its steps. A plan that keeps
/// traffic-blocking steps is the caller's to accept before (`Plan::safe`).
pub async fn apply(
    planned: &Planned,
    opts: &RunOptions,
    sink: &mut dyn EventSink,
    notify: &mut dyn Notify,
) -> Result<RunEnd, Error> {
    let Some(url) = &planned.database_url else {
        return Err(Error::Input(
            "apply needs a database: give --database-url (or DATABASE_URL / PG* variables)".into(),
        ));
    };
    if let Some(h) = planned.meta.history.as_ref().filter(|h| h.pending == 0) {
        // The team's tool has applied every file: nothing to record or run.
        notify.notice(&format!(
            "nothing to apply: {} has applied every file ({})",
            h.chosen.tool.name(),
            h.chosen.table
        ));
        return Ok(RunEnd::AlreadyApplied);
    }
    let (id, checksum) = identity(&planned.sources);
    let source = source_names(&planned.sources);
    let plan = &planned.outcome.plan;
    let plan_json = serde_json::to_value(plan).map_err(|e| Error::Internal(e.to_string()))?;
    let new = NewMigration {
        checksum: &checksum,
        source: &source,
        plan_json: &plan_json,
    };
    execute(url, Which::New(&id, plan, new), opts, sink, notify).await
}

/// Continues migration `id` (default: the latest unfinished one) from its last
/// checkpoint, with the plan stored when it was applied.
pub async fn resume(
    database_url: &str,
    id: Option<&str>,
    opts: &RunOptions,
    sink: &mut dyn EventSink,
    notify: &mut dyn Notify,
) -> Result<RunEnd, Error> {
    execute(database_url, Which::Stored(id), opts, sink, notify).await
}

/// The end-of-run report for people.
pub fn render_report(r: &RunReport) -> String {
    let mut out =
        String::from("\nstep  lock                     attempts  held ms    rows  description\n");
    for s in &r.steps {
        out.push_str(&format!(
            "{:>4}  {:<24} {:>8} {:>8} {:>7}  {}{}\n",
            s.step + 1,
            lock_label(s.lock, s.online, s.kind).unwrap_or_else(|| "-".into()),
            s.attempts,
            s.held_ms,
            s.rows,
            s.description,
            if s.skipped { " (already done)" } else { "" }
        ));
    }
    out.push_str(&format!(
        "retries: {}, rows backfilled: {}, worst lock wait of the migration: {} ms, total {:.1} s\n",
        r.retries,
        r.rows_backfilled,
        r.worst_lock_wait_ms,
        r.elapsed_ms as f64 / 1000.0
    ));
    out
}

/// What a new migration records with its plan.
#[derive(Clone, Copy)]
struct NewMigration<'a> {
    checksum: &'a str,
    source: &'a str,
    plan_json: &'a serde_json::Value,
}

/// The migration a run is for: a new one with its plan, or one recorded before.
#[derive(Clone, Copy)]
enum Which<'a> {
    New(&'a str, &'a Plan, NewMigration<'a>),
    Stored(Option<&'a str>),
}

/// What a run needs of a driver beyond the executor's traits.
trait RunDriver: Database + StateStore + StateAdmin {
    /// Who holds the run lock, for the message when it is taken (may be empty).
    async fn lock_holder(&mut self) -> String;
    async fn set_rate(&mut self, id: &str, rate: i32) -> Result<(), Error>;
}

impl RunDriver for PgDriver {
    async fn lock_holder(&mut self) -> String {
        let Ok(c) = self.client().await else {
            return String::new();
        };
        match zerodown_pg::state::run_lock_holder(c).await {
            Ok(Some((pid, app, since))) => {
                format!(" (pid {pid}, {app}, connected since {since})")
            }
            _ => String::new(),
        }
    }

    async fn set_rate(&mut self, id: &str, rate: i32) -> Result<(), Error> {
        let c = self.client().await.map_err(Error::database)?;
        zerodown_pg::state::set_rate(c, id, Some(rate))
            .await
            .map_err(Error::database)
    }
}

impl RunDriver for MyDriver {
    async fn lock_holder(&mut self) -> String {
        match self.run_lock_holder().await {
            Ok(Some(id)) => format!(" (session {id})"),
            _ => String::new(),
        }
    }

    async fn set_rate(&mut self, id: &str, rate: i32) -> Result<(), Error> {
        MyDriver::set_rate(self, id, u32::try_from(rate).ok())
            .await
            .map_err(Error::database)
    }
}

/// Runs (or resumes) a migration on the driver of `url`'s engine.
async fn execute(
    url: &str,
    which: Which<'_>,
    opts: &RunOptions,
    sink: &mut dyn EventSink,
    notify: &mut dyn Notify,
) -> Result<RunEnd, Error> {
    let mysql = zerodown_mysql::is_mysql_url(url);
    if !mysql && !opts.replicas.is_empty() {
        return Err(Error::Input(
            "--replica is for MySQL/MariaDB: PostgreSQL's replicas are read from pg_stat_replication on the primary".into(),
        ));
    }
    if let Some(bad) = opts
        .replicas
        .iter()
        .find(|u| !zerodown_mysql::is_mysql_url(u))
    {
        return Err(Error::Input(format!(
            "--replica {}: a replica URL starts with mysql:// or mariadb://",
            zerodown_exec::redact(bad)
        )));
    }
    if !mysql {
        crate::route::own_session(url).await?;
        return execute_on(&mut PgDriver::new(url), which, opts, sink, notify).await;
    }
    let mut db = MyDriver::new(url).map_err(|e| Error::Input(e.to_string()))?;
    db.set_throttle(
        opts.replicas.clone(),
        opts.max_replica_lag,
        opts.max_threads_running,
    );
    db.set_stops(opts.max_lag_unknown, opts.interrupt.clone());
    execute_on(&mut db, which, opts, sink, notify).await
}

/// The migration these sources are recorded as in the database, with the same content:
/// its id, status and stored plan. None when there is none (or no state to read).
pub(crate) async fn recorded(
    url: &str,
    sources: &[SourceFile],
) -> Option<(String, MigrationStatus, Plan)> {
    let (id, checksum) = identity(sources);
    if zerodown_mysql::is_mysql_url(url) {
        recorded_on(&mut MyDriver::new(url).ok()?, &id, &checksum).await
    } else {
        recorded_on(&mut PgDriver::new(url), &id, &checksum).await
    }
}

async fn recorded_on<D: RunDriver>(
    db: &mut D,
    id: &str,
    checksum: &str,
) -> Option<(String, MigrationStatus, Plan)> {
    let st = db.load(id).await.ok()??;
    if st.checksum != checksum {
        return None;
    }
    let (_, plan) = find_on(db, Some(id), false).await.ok()?;
    Some((id.to_owned(), st.status, plan))
}

/// For a migration recorded as completed: a step whose done-check now fails, if any (the
/// record is then not to be believed: on MariaDB the state is server-wide, and outlives
/// a database dropped and made again). Only the last step on each table is checked, and
/// only when it has a check: an earlier step's result may be undone by a later one (a
/// temporary constraint dropped, a column renamed).
async fn result_missing<D: RunDriver>(db: &mut D, id: &str) -> Result<Option<String>, Error> {
    let (_, plan) = find_on(db, Some(id), false).await?;
    let steps: Vec<_> = plan.steps().collect();
    let mut seen = std::collections::BTreeSet::new();
    for (n, step) in steps.iter().enumerate().rev() {
        let Some(table) = &step.table else { continue };
        if !seen.insert(table.clone()) {
            continue;
        }
        if let Some(check) = &step.done_check {
            if !db.query_bool(check).await.map_err(Error::database)? {
                return Ok(Some(format!("step {}, {}", n + 1, step.description)));
            }
        }
    }
    Ok(None)
}

async fn execute_on<D: RunDriver>(
    db: &mut D,
    which: Which<'_>,
    opts: &RunOptions,
    sink: &mut dyn EventSink,
    notify: &mut dyn Notify,
) -> Result<RunEnd, Error> {
    let (id, mut plan, new) = match which {
        Which::New(id, plan, new) => (id.to_owned(), plan.clone(), Some(new)),
        Which::Stored(id) => {
            let (id, plan) = find_on(db, id, true).await?;
            (id, plan, None)
        }
    };
    let id = id.as_str();
    if !db.try_lock_run(id).await.map_err(Error::database)? {
        let who = db.lock_holder().await;
        return Err(Error::Busy(format!(
            "another zerodown run holds the run lock on this database{who}; wait for it, or see zerodown status"
        )));
    }
    let state = match (db.load(id).await.map_err(Error::database)?, new) {
        (Some(st), Some(new)) if st.checksum != new.checksum => {
            return Err(Error::Input(format!(
                "migration {id} is recorded with other content; nothing was run"
            )))
        }
        (Some(st), _) if st.status == MigrationStatus::Completed => {
            if let Some(missing) = result_missing(db, id).await? {
                return Err(Error::Input(format!(
                    "migration {id} is recorded as applied, but the database does not show its result ({missing}): was it reset or restored since? Nothing was run; to apply the file again, remove the migration's record from zerodown's state (zerodown status lists it)"
                )));
            }
            notify.notice(&format!(
                "migration {id} is already applied (zerodown status shows it)"
            ));
            return Ok(RunEnd::AlreadyApplied);
        }
        (Some(st), _) if st.status == MigrationStatus::Aborted => {
            return Err(Error::Input(format!(
                "migration {id} was aborted; nothing was run"
            )));
        }
        (Some(st), new) => {
            notify.notice(&format!("resuming migration {id}"));
            if new.is_some() {
                // Planned again from a half-migrated schema: what ran so far is the
                // stored plan's, and so is what remains.
                plan = find_on(db, Some(id), true).await?.1;
            }
            st
        }
        (None, Some(new)) => {
            let steps: Vec<_> = plan.steps().cloned().collect();
            db.create(id, new.checksum, new.source, new.plan_json, &steps)
                .await
                .map_err(Error::database)?;
            notify.notice(&format!("applying migration {id} ({} steps)", steps.len()));
            db.load(id)
                .await
                .map_err(Error::database)?
                .ok_or_else(|| Error::Database("state not recorded".into()))?
        }
        (None, None) => {
            return Err(Error::Input(format!(
                "no migration {id} recorded in this database"
            )))
        }
    };
    db.set_status(id, MigrationStatus::Running, None)
        .await
        .map_err(Error::database)?;
    if let Some(rate) = opts.max_rows_per_sec {
        db.set_rate(id, rate).await?;
    }
    if opts.postpone_cutover {
        db.postpone_cutover(id, true)
            .await
            .map_err(|e| Error::Input(e.to_string()))?;
        notify.notice(&format!(
            "online rebuilds wait for `zerodown cutover {id}` before swapping tables"
        ));
    }
    let result = Executor::new(db, sink, id, opts.executor_options())
        .run(&plan, &state)
        .await;
    match result {
        Ok(report) => Ok(RunEnd::Done(report)),
        Err(
            e @ (ExecError::Blocked { .. }
            | ExecError::Aborted { .. }
            | ExecError::Interrupted { .. }
            | ExecError::LagUnknown { .. }),
        ) => Err(Error::Stopped(format!("{e}; resume with: zerodown resume"))),
        Err(e @ ExecError::Failed { .. }) => Err(Error::StepFailed(e.to_string())),
        Err(e @ ExecError::State(_)) => Err(Error::Database(e.to_string())),
    }
}
