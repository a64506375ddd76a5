//! `zerodown apply` and `zerodown resume`: run a plan against the live database.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zerodown_core::migrations::{identity, source_names};
use zerodown_core::plan::{lock_label, Plan};
use zerodown_core::report;
use zerodown_exec::{
    Database, ExecError, Executor, MigrationStatus, Options, RunReport, StateAdmin, StateStore,
};
use zerodown_mysql::MyDriver;
use zerodown_pg::PgDriver;

use crate::control_cmd::{find_migration, Target};
use crate::exit::{self, Failure};
use crate::plan_cmd::{prepare, runtime, Source};
use crate::progress::{unix_ms, LogFormat, Sink};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KillPolicy {
    /// Terminate sessions that block a step while idle in a transaction (never active queries).
    IdleInTransaction,
}

/// How a run behaves, shared by apply and resume.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// End blockers that hold the lock while doing nothing.
    #[arg(long, value_enum)]
    pub kill_blockers: Option<KillPolicy>,
    /// Pause backfills while a replica lags more than this many seconds.
    #[arg(long, default_value_t = 10)]
    pub max_replica_lag_secs: u64,
    /// (MySQL/MariaDB) A replica whose lag holds backfills and online copies back
    /// (repeatable; a heartbeat row in `_zerodown.heartbeat` measures it). PostgreSQL's
    /// replicas are read from pg_stat_replication on the primary.
    #[arg(long = "replica", value_name = "URL")]
    pub replicas: Vec<String>,
    /// Pause backfills while more than this many sessions run statements (MySQL/MariaDB
    /// `Threads_running`, without zerodown's own).
    #[arg(long)]
    pub max_threads_running: Option<u32>,
    /// After each batch, pause for this fraction of its duration (headroom for the application).
    #[arg(long, default_value_t = 0.0)]
    pub batch_pause_ratio: f64,
    /// Cap backfills at this many rows per second from the start (zerodown rate changes
    /// it while running).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    pub max_rows_per_sec: Option<i32>,
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// (MySQL/MariaDB) Copy and keep online rebuilds in sync, but wait for
    /// `zerodown cutover` before swapping the tables in.
    #[arg(long)]
    pub postpone_cutover: bool,
}

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub source: Source,
    #[command(flatten)]
    pub run: RunArgs,
    /// Print the plan that would run, and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask before running a plan that keeps traffic-blocking steps.
    #[arg(long)]
    pub yes: bool,
}

fn options(run: &RunArgs) -> Options {
    Options {
        kill_idle_blockers: run.kill_blockers.is_some(),
        max_replica_lag: Duration::from_secs(run.max_replica_lag_secs),
        max_busy_sessions: run.max_threads_running,
        batch_pause_ratio: run.batch_pause_ratio.max(0.0),
        ..Options::default()
    }
}

/// First Ctrl-C: stop cleanly at the next batch or step (resumable). Second: quit now,
/// which is as safe as a crash (the state is always resumable) but leaves it `running`.
async fn stop_on_ctrl_c(interrupt: Arc<AtomicBool>) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    interrupt.store(true, Ordering::Relaxed);
    eprintln!("zerodown: stopping after the current batch or step (Ctrl-C again to quit at once)");
    if tokio::signal::ctrl_c().await.is_ok() {
        eprintln!("zerodown: quitting; zerodown resume continues");
        std::process::exit(i32::from(exit::STOPPED));
    }
}

fn confirm(plan: &Plan) -> bool {
    eprintln!("This plan still has steps that block traffic while they work:");
    for n in &plan.notes {
        eprintln!("  - {n}");
    }
    eprint!("Run it anyway? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).is_ok()
        && matches!(answer.trim(), "y" | "Y" | "yes")
}

pub fn apply(args: ApplyArgs) -> Result<u8, Failure> {
    let p = prepare(&args.source)?;
    let Some(conn) = p.conn.clone() else {
        return Err(Failure::bad_input(
            "apply needs a database: give --database-url (or DATABASE_URL / PG* variables)",
        ));
    };
    if args.dry_run {
        print!("{}", report::render_text(&p.profile, &p.meta, &p.outcome));
        return Ok(exit::OK);
    }
    let plan = p.outcome.plan.clone();
    let confirmed = || std::io::stdin().is_terminal() && confirm(&plan);
    if !plan.safe && !args.yes && !confirmed() {
        return Err(Failure {
            code: exit::STOPPED,
            message: "the plan keeps steps that block traffic (see zerodown plan); nothing was run. Re-run with --yes to accept them".into(),
        });
    }
    let (id, checksum) = identity(&p.sources);
    let source = source_names(&p.sources);
    let plan_json = serde_json::to_value(&plan).map_err(|e| Failure {
        code: exit::INTERNAL,
        message: e.to_string(),
    })?;
    runtime()?.block_on(execute(
        &conn,
        &id,
        &plan,
        Some((&checksum, &source, &plan_json)),
        &args.run,
    ))
}

/// `zerodown resume`: which migration, and how the run behaves (as `apply` takes it).
#[derive(clap::Args, Debug)]
pub struct ResumeArgs {
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn resume(args: ResumeArgs) -> Result<u8, Failure> {
    let conn = args.target.connection()?;
    runtime()?.block_on(async {
        let (id, plan) = find_migration(&conn, args.target.id.as_deref(), true).await?;
        execute(&conn, &id, &plan, None, &args.run).await
    })
}

/// Who holds the run lock, for the refusal message.
async fn lock_holder(db: &mut PgDriver) -> String {
    let Ok(c) = db.client().await else {
        return String::new();
    };
    match zerodown_pg::state::run_lock_holder(c).await {
        Ok(Some((pid, app, since))) => format!(" (pid {pid}, {app}, connected since {since})"),
        _ => String::new(),
    }
}

/// What a run needs of a driver beyond the executor's traits.
trait RunDriver: Database + StateStore + StateAdmin {
    /// Who holds the run lock, for the message when it is taken (may be empty).
    async fn lock_holder(&mut self) -> String;
    async fn set_rate(&mut self, id: &str, rate: i32) -> Result<(), Failure>;
}

impl RunDriver for PgDriver {
    async fn lock_holder(&mut self) -> String {
        lock_holder(self).await
    }

    async fn set_rate(&mut self, id: &str, rate: i32) -> Result<(), Failure> {
        let c = self
            .client()
            .await
            .map_err(|e| Failure::database(e.to_string()))?;
        zerodown_pg::state::set_rate(c, id, Some(rate))
            .await
            .map_err(|e| Failure::database(e.to_string()))
    }
}

impl RunDriver for MyDriver {
    async fn lock_holder(&mut self) -> String {
        match self.run_lock_holder().await {
            Ok(Some(id)) => format!(" (session {id})"),
            _ => String::new(),
        }
    }

    async fn set_rate(&mut self, id: &str, rate: i32) -> Result<(), Failure> {
        MyDriver::set_rate(self, id, u32::try_from(rate).ok())
            .await
            .map_err(|e| Failure::database(e.to_string()))
    }
}

/// Runs (or resumes) migration `id` under the run lock.
pub async fn execute(
    conn: &str,
    id: &str,
    plan: &Plan,
    new: Option<(&str, &str, &serde_json::Value)>,
    run: &RunArgs,
) -> Result<u8, Failure> {
    if !zerodown_mysql::is_mysql_url(conn) {
        if !run.replicas.is_empty() {
            return Err(Failure::bad_input(
                "--replica is for MySQL/MariaDB: PostgreSQL's replicas are read from pg_stat_replication on the primary",
            ));
        }
        return execute_on(&mut PgDriver::new(conn), id, plan, new, run).await;
    }
    if let Some(bad) = run
        .replicas
        .iter()
        .find(|u| !zerodown_mysql::is_mysql_url(u))
    {
        return Err(Failure::bad_input(format!(
            "--replica {}: a replica URL starts with mysql:// or mariadb://",
            zerodown_exec::redact(bad)
        )));
    }
    let mut db = MyDriver::new(conn).map_err(|e| Failure::bad_input(e.to_string()))?;
    db.set_throttle(
        run.replicas.clone(),
        Duration::from_secs(run.max_replica_lag_secs),
        run.max_threads_running,
    );
    execute_on(&mut db, id, plan, new, run).await
}

async fn execute_on<D: RunDriver>(
    db: &mut D,
    id: &str,
    plan: &Plan,
    new: Option<(&str, &str, &serde_json::Value)>,
    run: &RunArgs,
) -> Result<u8, Failure> {
    let db_err = |e: zerodown_exec::DriverError| Failure::database(format!("{e}"));
    if !db.try_lock_run(id).await.map_err(db_err)? {
        let who = db.lock_holder().await;
        return Err(Failure {
            code: exit::BUSY,
            message: format!("another zerodown run holds the run lock on this database{who}; wait for it, or see zerodown status"),
        });
    }
    let state = match (db.load(id).await.map_err(db_err)?, new) {
        (Some(st), Some((checksum, _, _))) if st.checksum != checksum => {
            return Err(Failure::bad_input(format!(
                "migration {id} is recorded with other content; nothing was run"
            )))
        }
        (Some(st), _) if st.status == MigrationStatus::Completed => {
            eprintln!("migration {id} is already applied (zerodown status shows it)");
            return Ok(exit::OK);
        }
        (Some(st), _) if st.status == MigrationStatus::Aborted => {
            return Err(Failure::bad_input(format!(
                "migration {id} was aborted; nothing was run"
            )));
        }
        (Some(st), _) => {
            eprintln!("resuming migration {id}");
            st
        }
        (None, Some((checksum, source, plan_json))) => {
            let steps: Vec<_> = plan.steps().cloned().collect();
            db.create(id, checksum, source, plan_json, &steps)
                .await
                .map_err(db_err)?;
            eprintln!("applying migration {id} ({} steps)", steps.len());
            db.load(id)
                .await
                .map_err(db_err)?
                .ok_or_else(|| Failure::database("state not recorded"))?
        }
        (None, None) => {
            return Err(Failure::bad_input(format!(
                "no migration {id} recorded in this database"
            )))
        }
    };
    db.set_status(id, MigrationStatus::Running, None)
        .await
        .map_err(db_err)?;
    if let Some(rate) = run.max_rows_per_sec {
        db.set_rate(id, rate).await?;
    }
    if run.postpone_cutover {
        db.postpone_cutover(id, true)
            .await
            .map_err(|e| Failure::bad_input(e.to_string()))?;
        eprintln!("online rebuilds wait for `zerodown cutover {id}` before swapping tables");
    }
    let mut sink = Sink::new(run.log_format);
    let opts = options(run);
    let interrupts = tokio::spawn(stop_on_ctrl_c(opts.interrupt.clone()));
    let result = Executor::new(db, &mut sink, id, opts)
        .run(plan, &state)
        .await;
    interrupts.abort();
    match result {
        Ok(report) => {
            if run.log_format == LogFormat::Text {
                eprint!("{}", render_report(&report));
            } else {
                println!(
                    "{}",
                    serde_json::json!({ "event": "report", "report": report, "ts": unix_ms() })
                );
            }
            Ok(exit::OK)
        }
        Err(e) => {
            let code = match &e {
                ExecError::Blocked { .. }
                | ExecError::Aborted { .. }
                | ExecError::Interrupted { .. } => exit::STOPPED,
                ExecError::Failed { .. } => exit::STEP_FAILED,
                ExecError::State(_) => exit::DATABASE,
            };
            let hint = if code == exit::STOPPED {
                "; resume with: zerodown resume"
            } else {
                ""
            };
            Err(Failure {
                code,
                message: format!("{e}{hint}"),
            })
        }
    }
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
