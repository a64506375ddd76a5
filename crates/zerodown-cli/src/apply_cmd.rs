//! `zerodown apply` and `zerodown resume`: run a plan against the live database.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use zerodown::core::plan::Plan;
use zerodown::{render_report, RunEnd, RunOptions};

use crate::control_cmd::Target;
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
    /// How long backfills and online copies wait for a replica whose lag cannot be read
    /// (a standby gone from pg_stat_replication, an unreachable --replica) before the
    /// run stops cleanly (exit 5, resumable). Never taken for "no lag".
    #[arg(long, default_value_t = 300)]
    pub max_lag_unknown_secs: u64,
    /// Pause backfills while more than this many sessions run statements (MySQL/MariaDB
    /// `Threads_running`, PostgreSQL's active client sessions; zerodown's own not
    /// counted).
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

impl RunArgs {
    /// The library's run options; `interrupt` is what Ctrl-C sets.
    fn options(&self) -> RunOptions {
        RunOptions {
            kill_idle_blockers: self.kill_blockers.is_some(),
            max_replica_lag: Duration::from_secs(self.max_replica_lag_secs),
            replicas: self.replicas.clone(),
            max_threads_running: self.max_threads_running,
            max_lag_unknown: Duration::from_secs(self.max_lag_unknown_secs),
            batch_pause_ratio: self.batch_pause_ratio,
            max_rows_per_sec: self.max_rows_per_sec,
            postpone_cutover: self.postpone_cutover,
            ..RunOptions::default()
        }
    }
}

/// First Ctrl-C (or SIGTERM, SIGHUP): stop cleanly at the next batch or step
/// (resumable). Second: quit now, which is as safe as a crash (the state is always
/// resumable) but leaves it `running`.
async fn stop_on_ctrl_c(interrupt: Arc<AtomicBool>) {
    if !crate::signals::stop_requested().await {
        return;
    }
    interrupt.store(true, Ordering::Relaxed);
    eprintln!("zerodown: stopping after the current batch or step (Ctrl-C again to quit at once)");
    if crate::signals::stop_requested().await {
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
    if p.database_url.is_none() {
        return Err(Failure::bad_input(
            "apply needs a database: give --database-url (or DATABASE_URL / PG* variables)",
        ));
    }
    if args.dry_run {
        crate::plan_cmd::print_text(&p)?;
        return Ok(exit::OK);
    }
    let plan = &p.outcome.plan;
    let confirmed = || std::io::stdin().is_terminal() && confirm(plan);
    if !plan.safe && !args.yes && !confirmed() {
        return Err(Failure {
            code: exit::STOPPED,
            message: "the plan keeps steps that block traffic (see zerodown plan); nothing was run. Re-run with --yes to accept them".into(),
        });
    }
    run_and_report(&args.run, async |opts, sink| {
        zerodown::apply(&p, opts, sink, &mut say).await
    })
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
    let id = args.target.id.as_deref();
    run_and_report(&args.run, async |opts, sink| {
        zerodown::resume(&conn, id, opts, sink, &mut say).await
    })
}

/// Runs `go` (an apply or a resume) with the run's options and event sink, the first
/// Ctrl-C stopping it cleanly, and prints how it ended.
fn run_and_report(
    run: &RunArgs,
    go: impl AsyncFnOnce(&RunOptions, &mut Sink) -> Result<RunEnd, zerodown::Error>,
) -> Result<u8, Failure> {
    let opts = run.options();
    let mut sink = Sink::new(run.log_format);
    let ended = runtime()?.block_on(async {
        let interrupts = tokio::spawn(stop_on_ctrl_c(opts.interrupt.clone()));
        let ended = go(&opts, &mut sink).await;
        interrupts.abort();
        ended
    })?;
    Ok(finish(ended, run.log_format))
}

/// A message of the run for people, on stderr.
fn say(text: &str) {
    eprintln!("{text}");
}

/// Prints the end-of-run report (a JSON event line in a JSON log).
fn finish(ended: RunEnd, format: LogFormat) -> u8 {
    if let RunEnd::Done(report) = ended {
        if format == LogFormat::Text {
            eprint!("{}", render_report(&report));
        } else {
            println!(
                "{}",
                serde_json::json!({ "event": "report", "report": report, "ts": unix_ms() })
            );
        }
    }
    exit::OK
}
