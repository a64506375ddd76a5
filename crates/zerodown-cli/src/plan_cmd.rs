//! `zerodown plan`: impact of each statement and the safe phased plan.

use std::io::IsTerminal;

use zerodown::core::analysis::Verdict;
use zerodown::core::engine::{ServerProfile, TargetParseError};
use zerodown::core::pg::ir::QualName;
use zerodown::core::plan::PlanOptions;
use zerodown::{PlanRequest, Planned, DEFAULT_OFFLINE_TARGET};

use crate::exit::{self, Failure};
use crate::input::{read_sources, FileTransaction, HistoryArgs, OfflineSession};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Where the migration comes from and what it runs against (shared by plan and apply).
#[derive(clap::Args, Debug)]
pub struct Source {
    /// A .sql file, a folder of migrations (Flyway, sqlx, dbmate, golang-migrate, goose,
    /// diesel, Prisma), or - for stdin.
    pub input: String,
    /// URL of the live database: postgres://, mysql:// or mariadb://. Also read from
    /// DATABASE_URL, then (PostgreSQL) from libpq's PG* variables.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// A connection straight to the server, for when --database-url goes through a
    /// pooler in transaction mode (PgBouncer, Supavisor, RDS Proxy): zerodown reads and
    /// runs on this one. Also read from DIRECT_URL.
    #[arg(long, env = "DIRECT_URL", hide_env_values = true)]
    pub direct_url: Option<String>,
    /// Plan for this version: postgres:11 .. postgres:18, mysql:8.0 (a current 8.0;
    /// mysql:8.0.28 names the patch) .. mysql:8.4, mariadb:10.3 .. mariadb:11.8. Offline
    /// unless a database is given; with one, the live catalog is used and this overrides
    /// the version.
    #[arg(long)]
    pub target: Option<String>,
    /// Ignore DATABASE_URL and PG* variables: plan offline.
    #[arg(long)]
    pub offline: bool,
    /// Size hint TABLE=ROWS (repeatable): plan for a table of that many rows.
    #[arg(long = "rows", value_name = "TABLE=ROWS")]
    pub rows: Vec<String>,
    /// Whether each file runs in one transaction (auto: as Flyway, sqlx, dbmate and
    /// diesel do).
    #[arg(long, value_enum, default_value_t = FileTransaction::Auto)]
    pub file_transaction: FileTransaction,
    #[command(flatten)]
    pub session: OfflineSession,
    #[command(flatten)]
    pub history: HistoryArgs,
    #[command(flatten)]
    pub tuning: Tuning,
}

/// How the plan's steps wait for locks and size their batches (shared by plan, apply
/// and rehearse).
#[derive(clap::Args, Debug, Clone)]
pub struct Tuning {
    /// lock_timeout of steps that block traffic, in milliseconds (MySQL/MariaDB's
    /// lock_wait_timeout is whole seconds: rounded up, at least 1 s).
    #[arg(long, default_value_t = 100)]
    pub lock_timeout_ms: u64,
    /// lock_timeout of steps that block no reads or writes (VALIDATE, CONCURRENTLY): how
    /// long they wait for older transactions before retrying, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    pub nonblocking_lock_timeout_ms: u64,
    /// Rows per backfill batch (the executor adapts it to the target batch time).
    #[arg(long, default_value_t = 1000)]
    pub batch_size: u32,
    /// Target duration of one backfill batch in milliseconds: rows a batch updates stay
    /// locked until it commits, so this bounds how long a client can wait on one.
    #[arg(long, default_value_t = 10)]
    pub batch_target_ms: u32,
    /// Total time a step may spend retrying its lock before the run stops (resumable).
    #[arg(long, default_value_t = 300)]
    pub retry_budget_secs: u64,
}

impl Tuning {
    pub fn plan_options(&self) -> PlanOptions {
        let mut opts = PlanOptions {
            lock_timeout_ms: self.lock_timeout_ms,
            nonblocking_lock_timeout_ms: self.nonblocking_lock_timeout_ms,
            batch_size: self.batch_size,
            target_batch_ms: self.batch_target_ms,
            ..PlanOptions::default()
        };
        opts.retry.budget_ms = self.retry_budget_secs.saturating_mul(1000);
        opts
    }
}

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub source: Source,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn parse_rows(hints: &[String]) -> Result<Vec<(QualName, f64)>, Failure> {
    hints
        .iter()
        .map(|h| {
            let (t, n) = h.split_once('=').ok_or_else(|| {
                Failure::bad_input(format!(
                    "--rows {h}: expected TABLE=ROWS, e.g. --rows users=5000000"
                ))
            })?;
            let rows: f64 = n.replace('_', "").parse().map_err(|_| {
                Failure::bad_input(format!("--rows {h}: {n} is not a number of rows"))
            })?;
            let name = match t.split_once('.') {
                Some((s, t)) => QualName::new(Some(s), t),
                None => QualName::new(None, t),
            };
            Ok((name, rows))
        })
        .collect()
}

/// The database URL to work on: --direct-url, --database-url or DATABASE_URL, else
/// (for PostgreSQL targets) libpq's PG* variables.
pub fn connection_string(args: &Source, target: Option<&ServerProfile>) -> Option<String> {
    if args.offline {
        return None;
    }
    args.direct_url
        .clone()
        .or(args.database_url.clone())
        .or_else(|| {
            if target.is_some_and(|t| !t.is_postgres()) {
                None
            } else {
                zerodown::input::from_pg_env(|k| std::env::var(k).ok())
            }
        })
}

/// Reads and plans the migration of `args`: one call into the library, which parses,
/// reads the live catalog when there is a database, and plans.
pub fn prepare(args: &Source) -> Result<Planned, Failure> {
    let target = args
        .target
        .as_deref()
        .map(|t| {
            t.parse::<ServerProfile>()
                .map_err(|e| Failure::bad_input(e.to_string()))
        })
        .transpose()?;
    let database_url = connection_string(args, target.as_ref());
    // Offline settings the user states go with the target (default or named).
    let target = match (args.session.is_given(), &database_url) {
        (true, None) => {
            let mut t = match target {
                Some(t) => t,
                None => DEFAULT_OFFLINE_TARGET
                    .parse()
                    .map_err(|e: TargetParseError| Failure::bad_input(e.to_string()))?,
            };
            args.session.apply_to(&mut t);
            Some(t)
        }
        _ => target,
    };
    let request = PlanRequest {
        database_url,
        target,
        sources: read_sources(&args.input, args.file_transaction)?,
        rows: parse_rows(&args.rows)?,
        options: args.tuning.plan_options(),
        history: args.history.request(&args.input)?,
    };
    Ok(runtime()?.block_on(zerodown::plan(request))?)
}

/// Prints the plan report on stdout as it is written.
pub fn print_text(p: &Planned) -> Result<(), Failure> {
    match p.print_text(std::io::stdout().lock()) {
        // A reader that stopped reading (`| head`) wants no more, and no error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure {
            code: exit::INTERNAL,
            message: format!("cannot write the report: {e}"),
        }),
        Ok(()) => Ok(()),
    }
}

pub fn run(args: PlanArgs) -> Result<u8, Failure> {
    let p = prepare(&args.source)?;
    match args.format {
        Format::Json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&p.json()).map_err(|e| Failure {
                    code: exit::INTERNAL,
                    message: e.to_string()
                })?
            );
        }
        Format::Text => {
            print_text(&p)?;
            if p.meta.source == "offline"
                && args.source.target.is_none()
                && std::io::stdout().is_terminal()
            {
                eprintln!("(offline: planned for {DEFAULT_OFFLINE_TARGET}; name the version with --target, or give --database-url)");
            }
        }
    }
    Ok(if p.verdict() == Verdict::Unsafe {
        exit::UNSAFE
    } else {
        exit::OK
    })
}

/// A tokio runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure {
            code: exit::INTERNAL,
            message: format!("cannot start the async runtime: {e}"),
        })
}
