//! Rehearsals: a migration run on synthetic rows at the real volume, under synthetic
//! traffic, on a throwaway server, measured from the clients' side (every operation's
//! latency) and the server's (pg_locks, pg_stat_statements), and reported.
//!
//! [`rehearse`] starts the server, recreates the schema, fills the tables, copies the
//! database for each run (the SQL as written, then zerodown's plan), runs each under
//! the same traffic, and returns a [`report::Report`]. Nothing is written to the source.

pub mod html;
mod mysql;
mod pg;
pub mod report;
mod runs;
mod setup;
mod watch;
pub mod workload;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use zerodown_core::migrations::SourceFile;
use zerodown_core::pg::ir::QualName;
use zerodown_core::pipeline;
use zerodown_core::plan::PlanOptions;
use zerodown_core::sql::source::Diagnostic;
use zerodown_exec::Event;

pub use report::{Mode, Report};
pub use watch::SAMPLE_EVERY;
pub use workload::Mix;

/// Where the rehearsal runs.
#[derive(Debug, Clone)]
pub enum Server {
    /// A cluster started for the rehearsal from the PostgreSQL binaries on this machine,
    /// removed at the end.
    Throwaway,
    /// A server where zerodown may create and drop its own databases (URL of any
    /// database on it).
    Scratch(String),
}

/// The database engine the rehearsal runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    /// PostgreSQL: a throwaway cluster from the binaries on this machine, or a scratch server.
    #[default]
    Postgres,
    /// MySQL or MariaDB: a throwaway MariaDB from the binaries on this machine, or a
    /// scratch server.
    MySql,
}

/// Where the schema comes from.
#[derive(Debug, Clone)]
pub enum Schema {
    /// The database the migration is meant for: its schema is copied (pg_dump
    /// --schema-only), its row estimates size the tables. Only read.
    From(String),
    /// SQL that creates the tables.
    Sql(String),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub family: Family,
    pub sources: Vec<SourceFile>,
    pub server: Server,
    pub schema: Schema,
    /// Rows per table, over the source's estimates.
    pub rows: Vec<(QualName, u64)>,
    /// Rows of a table with neither an estimate nor a `rows` entry.
    pub default_rows: u64,
    pub clients: usize,
    pub mix: Mix,
    /// Traffic before and after the migration, to compare with.
    pub settle: Duration,
    /// Also run the SQL as written, on its own copy of the data.
    pub compare_as_written: bool,
    pub plan: PlanOptions,
    /// A client waiting longer than this during the migration fails the verdict.
    pub max_stall_ms: f64,
    /// Set (e.g. by Ctrl-C) to stop the rehearsal early; the server is cleaned up.
    pub interrupt: Arc<AtomicBool>,
}

/// Receives what the rehearsal is doing, for a progress display.
pub trait Progress: Sync {
    fn stage(&self, what: &str);
    fn fill(&self, _done: u64, _total: u64) {}
    fn event(&self, _event: &Event) {}
}

#[derive(Debug, thiserror::Error)]
pub enum RehearseError {
    #[error("{} problem(s) in the migration:\n{}", .0.len(), .0.iter().map(|d| format!("{}:{}:{}: {}", d.span.file, d.span.line, d.span.column, d.message)).collect::<Vec<_>>().join("\n"))]
    Input(Vec<Diagnostic>),
    #[error("{0}")]
    Usage(String),
    #[error("setting up the rehearsal server: {0}")]
    Setup(String),
    #[error("{what}: {detail}")]
    Database { what: &'static str, detail: String },
    #[error("generating rows: {0}")]
    Synth(String),
    #[error("synthetic traffic: {0}")]
    Load(String),
    #[error("interrupted; the rehearsal's server and databases were removed")]
    Interrupted,
}

impl RehearseError {
    fn setup(e: impl std::fmt::Display) -> Self {
        RehearseError::Setup(e.to_string())
    }

    fn synth(e: impl std::fmt::Display) -> Self {
        RehearseError::Synth(e.to_string())
    }

    fn db(what: &'static str) -> impl Fn(tokio_postgres::Error) -> Self {
        move |e| RehearseError::Database {
            what,
            detail: e
                .as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_owned()),
        }
    }
}

/// Runs the rehearsal. The server (or the scratch databases) is removed whatever happens.
pub async fn rehearse(cfg: &Config, progress: &dyn Progress) -> Result<Report, RehearseError> {
    if cfg.family == Family::MySql {
        return mysql::rehearse(cfg, progress).await;
    }
    let (files, diagnostics) = pipeline::parse_sources(&cfg.sources);
    if !diagnostics.is_empty() {
        return Err(RehearseError::Input(diagnostics));
    }
    let mut host = setup::Host::open(&cfg.server, progress).await?;
    let result = pg::rehearse_on(&mut host, cfg, &files, progress).await;
    progress.stage("cleaning up");
    host.cleanup().await;
    drop(host);
    result
}

/// The runs of a rehearsal, in order: the SQL as written first when asked, then zerodown.
fn modes(cfg: &Config) -> Vec<Mode> {
    let mut modes = vec![Mode::Zerodown];
    if cfg.compare_as_written {
        modes.insert(0, Mode::AsWritten);
    }
    modes
}

/// The database of one run, beside the rehearsal's base database.
fn run_database(base: &str, mode: Mode) -> String {
    format!(
        "{base}_{}",
        if mode == Mode::Zerodown { "zd" } else { "sql" }
    )
}

/// The report of a finished rehearsal.
fn finish(
    cfg: &Config,
    server: report::ServerInfo,
    table: String,
    ops: &[zerodown_load::Op],
    rows: Vec<(String, u64)>,
    runs: Vec<report::Run>,
) -> Report {
    let settle_ms = u64::try_from(cfg.settle.as_millis()).unwrap_or(u64::MAX);
    Report {
        report_version: report::REPORT_VERSION,
        migration: cfg.sources.iter().map(|s| s.name.clone()).collect(),
        server,
        workload: report::WorkloadInfo {
            table,
            clients: cfg.clients,
            operations: ops
                .iter()
                .map(|o| report::Operation {
                    name: o.name.clone(),
                    weight: o.weight,
                    sql: o.sql.clone(),
                })
                .collect(),
            before_ms: settle_ms,
            after_ms: settle_ms,
        },
        rows,
        runs,
    }
}

/// What one run needs: its database, the migration as analysed and planned, and the
/// clients' traffic on the first `keys` rows of the traffic table.
fn run_input<'a>(
    cfg: &Config,
    url: String,
    mode: Mode,
    outcome: &'a pipeline::Outcome,
    ops: &[zerodown_load::Op],
    keys: u64,
    watched: Vec<String>,
) -> runs::RunInput<'a> {
    let (id, checksum) = zerodown_core::migrations::identity(&cfg.sources);
    let spec = zerodown_load::Spec {
        conn: url.clone(),
        clients: cfg.clients,
        ops: ops.to_vec(),
        keys: i64::try_from(keys).unwrap_or(i64::MAX),
        think: None,
    };
    runs::RunInput {
        url,
        mode,
        statements: &outcome.statements,
        plan: &outcome.plan,
        identity: (
            id,
            checksum,
            zerodown_core::migrations::source_names(&cfg.sources),
        ),
        spec,
        before: cfg.settle,
        after: cfg.settle,
        watched,
        max_stall_ms: cfg.max_stall_ms,
        interrupt: cfg.interrupt.clone(),
    }
}
