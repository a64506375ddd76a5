//! Rehearsals: a migration run on synthetic rows at the real volume, under synthetic
//! traffic, on a throwaway server, measured from the clients' side (every operation's
//! latency) and the server's (pg_locks, pg_stat_statements), and reported.
//!
//! [`rehearse`] starts the server, recreates the schema, fills the tables, copies the
//! database for each run (the SQL as written, then zerodown's plan), runs each under
//! the same traffic, and returns a [`report::Report`]. Nothing is written to the source.

pub mod html;
pub mod report;
mod runs;
mod setup;
mod watch;
pub mod workload;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use zerodown_core::analyze::CostModel;
use zerodown_core::ir::QualName;
use zerodown_core::migrations::{identity, source_names, SourceFile};
use zerodown_core::pipeline;
use zerodown_core::plan::PlanOptions;
use zerodown_core::sql::parse_pg::Diagnostic;
use zerodown_exec::Event;
use zerodown_load::Spec;

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
    let (files, diagnostics) = pipeline::parse_sources(&cfg.sources);
    if !diagnostics.is_empty() {
        return Err(RehearseError::Input(diagnostics));
    }
    let mut host = setup::Host::open(&cfg.server, progress).await?;
    let result = rehearse_on(&mut host, cfg, &files, progress).await;
    progress.stage("cleaning up");
    host.cleanup().await;
    drop(host);
    result
}

async fn rehearse_on(
    host: &mut setup::Host,
    cfg: &Config,
    files: &[zerodown_core::analyze::ParsedFile],
    progress: &dyn Progress,
) -> Result<Report, RehearseError> {
    // Unique per rehearsal, also among several in one process on one scratch server.
    static REHEARSALS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = REHEARSALS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let base = format!("zerodown_rehearse_{}_{n}", std::process::id());
    host.create(&base, None).await?;
    let base_url = host.url(&base);
    let refs = pipeline::references(files);
    match &cfg.schema {
        Schema::From(source) => {
            progress.stage(&format!(
                "copying the schema of {}",
                zerodown_pg::url::redact(source)
            ));
            let url = base_url.clone();
            let src = source.clone();
            tokio::task::spawn_blocking(move || zerodown_pg::cluster::copy_schema(&src, &url))
                .await
                .map_err(RehearseError::setup)?
                .map_err(RehearseError::setup)?;
        }
        Schema::Sql(sql) => {
            setup::connect(&base_url)
                .await?
                .batch_execute(sql)
                .await
                .map_err(RehearseError::db("creating the schema"))?;
        }
    }
    let client = setup::connect(&base_url).await?;
    let tables = setup::tables_to_fill(&client, &refs).await?;
    if tables.is_empty() {
        return Err(RehearseError::Usage(
            "the migration changes no existing table: there is nothing to rehearse under traffic"
                .into(),
        ));
    }
    let estimates = match &cfg.schema {
        Schema::From(source) => {
            let names = tables.iter().map(|t| t.name.clone()).collect();
            source_estimates(
                source,
                &pipeline::References {
                    tables: names,
                    ..Default::default()
                },
            )
            .await?
        }
        Schema::Sql(_) => BTreeMap::new(),
    };
    let mut rows: BTreeMap<QualName, u64> = BTreeMap::new();
    for t in &tables {
        let asked = cfg
            .rows
            .iter()
            .find(|(n, _)| {
                n.name == t.name.name
                    && n.schema
                        .as_ref()
                        .is_none_or(|s| Some(s) == t.name.schema.as_ref())
            })
            .map(|(_, r)| *r);
        let n = asked
            .or_else(|| estimates.get(&t.name).copied())
            .unwrap_or(cfg.default_rows);
        rows.insert(t.name.clone(), n);
    }
    setup::fill(&client, &tables, &rows, progress, &cfg.interrupt).await?;
    let live =
        zerodown_pg::introspect(&client, &refs)
            .await
            .map_err(|e| RehearseError::Database {
                what: "reading the catalog",
                detail: e.to_string(),
            })?;
    let mut files = files.to_vec();
    pipeline::resolve_names(&mut files, |name| live.schemas.get(name).cloned());
    let outcome = pipeline::run(
        &files,
        &live.catalog,
        &live.profile,
        &CostModel::default(),
        &cfg.plan,
    )
    .map_err(RehearseError::Input)?;
    // Traffic goes to the first table the migration changes that clients can address.
    let table = outcome
        .statements
        .iter()
        .flat_map(|s| s.impact.tables.iter())
        .filter_map(|tl| tables.iter().find(|t| t.name.to_string() == tl.table || t.name.name == tl.table))
        .find(|t| workload::integer_key(t).is_some())
        .or_else(|| tables.iter().find(|t| workload::integer_key(t).is_some()))
        .ok_or_else(|| RehearseError::Usage("no table the migration changes has a single-column integer primary key for the synthetic clients to address rows by".into()))?;
    let rows_of = |n: &QualName| rows.get(n).copied();
    let ops = workload::operations(table, cfg.mix, &rows_of).map_err(RehearseError::Usage)?;
    drop(client);

    let mut modes = vec![report::Mode::Zerodown];
    if cfg.compare_as_written {
        modes.insert(0, report::Mode::AsWritten);
    }
    let (id, checksum) = identity(&cfg.sources);
    let names = source_names(&cfg.sources);
    let mut runs = Vec::new();
    for mode in modes {
        let db = format!(
            "{base}_{}",
            if mode == Mode::Zerodown { "zd" } else { "sql" }
        );
        progress.stage(&format!("copying the data for the {} run", mode.label()));
        host.create(&db, Some(&base)).await?;
        let url = host.url(&db);
        let spec = Spec {
            conn: url.clone(),
            clients: cfg.clients,
            ops: ops.clone(),
            keys: i64::try_from(rows[&table.name]).unwrap_or(i64::MAX),
            think: None,
        };
        let input = runs::RunInput {
            url,
            mode,
            statements: &outcome.statements,
            plan: &outcome.plan,
            identity: (id.clone(), checksum.clone(), names.clone()),
            spec,
            before: cfg.settle,
            after: cfg.settle,
            watched: tables.iter().map(|t| t.name.to_string()).collect(),
            max_stall_ms: cfg.max_stall_ms,
            interrupt: cfg.interrupt.clone(),
        };
        runs.push(runs::run(input, progress).await?);
    }
    Ok(Report {
        report_version: report::REPORT_VERSION,
        migration: cfg.sources.iter().map(|s| s.name.clone()).collect(),
        server: report::ServerInfo {
            version: host.version().await?,
            kind: host.kind.clone(),
            pg_stat_statements: runs.iter().any(|r| !r.statements.is_empty()),
        },
        workload: report::WorkloadInfo {
            table: table.name.to_string(),
            clients: cfg.clients,
            operations: ops
                .iter()
                .map(|o| report::Operation {
                    name: o.name.clone(),
                    weight: o.weight,
                    sql: o.sql.clone(),
                })
                .collect(),
            before_ms: u64::try_from(cfg.settle.as_millis()).unwrap_or(u64::MAX),
            after_ms: u64::try_from(cfg.settle.as_millis()).unwrap_or(u64::MAX),
        },
        rows: rows.iter().map(|(n, r)| (n.to_string(), *r)).collect(),
        runs,
    })
}

/// Row estimates of the tables the migration names, read from the source database.
async fn source_estimates(
    source: &str,
    refs: &pipeline::References,
) -> Result<BTreeMap<QualName, u64>, RehearseError> {
    let client = setup::connect(source).await?;
    let live =
        zerodown_pg::introspect(&client, refs)
            .await
            .map_err(|e| RehearseError::Database {
                what: "reading the source's catalog",
                detail: e.to_string(),
            })?;
    Ok(live
        .catalog
        .tables
        .values()
        // Never analysed (-1) or empty: no estimate; --rows or the default sizes it.
        .filter_map(|t| {
            t.rows
                .filter(|r| *r >= 1.0)
                .map(|r| (t.name.clone(), r as u64))
        })
        .collect())
}
