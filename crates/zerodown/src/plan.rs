//! `plan`: read -> parse -> introspect -> analyze -> plan, for the engine the database
//! URL or the target names. The one place a migration's engine is chosen.

use zerodown_core::analysis::Verdict;
use zerodown_core::engine::ServerProfile;
use zerodown_core::estimate::CostModel;
use zerodown_core::migrations::SourceFile;
use zerodown_core::mysql::catalog::MyCatalog;
use zerodown_core::pg::catalog::Catalog;
use zerodown_core::pg::ir::QualName;
use zerodown_core::pg::parse::ParsedFile;
use zerodown_core::pipeline::{self, Outcome};
use zerodown_core::plan::PlanOptions;
use zerodown_core::report::{self, Meta};
use zerodown_core::sql::source::Diagnostic;

use crate::history::HistoryRequest;
use crate::Error;

/// The target of an offline plan when none is named: the newest PostgreSQL release line.
pub const DEFAULT_OFFLINE_TARGET: &str = "postgres:17";

/// What to plan: the migration, and the database or the version it is for.
#[derive(Debug, Clone, Default)]
pub struct PlanRequest {
    pub sources: Vec<SourceFile>,
    /// `postgres://` (or a libpq `key=value` string), `mysql://` or `mariadb://`: the
    /// live catalog is read. None: offline.
    pub database_url: Option<String>,
    /// Offline, the server to plan for (default [`DEFAULT_OFFLINE_TARGET`]); live, a
    /// version that overrides the server's.
    pub target: Option<ServerProfile>,
    /// Size hints: plan for a table of that many rows.
    pub rows: Vec<(QualName, f64)>,
    pub options: PlanOptions,
    /// The team's migration tool: files it applied are left out, and the plan records
    /// each file in its history as the file completes.
    pub history: HistoryRequest,
}

/// Text written to an `io::Write`, keeping its first error (`fmt::Error` says nothing).
struct IoText<W: std::io::Write> {
    out: W,
    error: Option<std::io::Error>,
}

impl<W: std::io::Write> std::fmt::Write for IoText<W> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.error.is_some() {
            return Err(std::fmt::Error);
        }
        self.out.write_all(s.as_bytes()).map_err(|e| {
            self.error = Some(e);
            std::fmt::Error
        })
    }
}

/// A migration read, checked against its database (or the offline target) and planned.
#[derive(Debug, Clone)]
pub struct Planned {
    pub sources: Vec<SourceFile>,
    pub profile: ServerProfile,
    pub meta: Meta,
    pub outcome: Outcome,
    /// The database it was planned against, when live.
    pub database_url: Option<String>,
}

impl Planned {
    /// The report for people.
    pub fn text(&self) -> String {
        report::render_text(&self.profile, &self.meta, &self.outcome)
    }

    /// The report for people, written to `out` as it is made (a long migration's report
    /// is many times its input: not built whole in memory first).
    pub fn print_text(&self, out: impl std::io::Write) -> std::io::Result<()> {
        let mut out = IoText {
            out: std::io::BufWriter::new(out),
            error: None,
        };
        report::write_text(&mut out, &self.profile, &self.meta, &self.outcome);
        match out.error {
            Some(e) => Err(e),
            None => std::io::Write::flush(&mut out.out),
        }
    }

    /// The report as JSON (docs/json-format.md).
    pub fn json(&self) -> serde_json::Value {
        report::to_json(&self.profile, &self.meta, &self.outcome)
    }

    /// The worst verdict of the statements as written.
    pub fn verdict(&self) -> Verdict {
        report::overall_verdict(&self.outcome)
    }
}

/// Plans a migration. Bad input ends here with every problem named, and nothing is
/// changed: a live plan only reads the catalog.
pub async fn plan(req: PlanRequest) -> Result<Planned, Error> {
    let mysql = match (&req.database_url, &req.target) {
        (Some(url), _) => zerodown_mysql::is_mysql_url(url),
        (None, Some(t)) => !t.is_postgres(),
        (None, None) => false,
    };
    if let (Some(t), Some(_)) = (&req.target, &req.database_url) {
        if t.is_postgres() == mysql {
            return Err(Error::Input(format!(
                "--target {}:{} names a different engine than the database URL",
                t.engine, t.version
            )));
        }
    }
    let resolved =
        crate::history::resolve(&req.history, req.database_url.as_deref(), &req.sources).await?;
    let mut req = req;
    if let Some(r) = &resolved {
        req.sources = r.pending_sources();
    }
    let mut planned = if mysql {
        plan_mysql(req).await?
    } else {
        plan_pg(req).await?
    };
    if let Some(r) = resolved {
        planned.meta.history = Some(r.meta());
        // A stored plan (of a migration recorded before) keeps the writes it was made with.
        if planned.outcome.plan.history.is_none() {
            let writes = r.plan(planned.profile.engine, &planned.outcome.plan);
            planned.outcome.plan.history = Some(writes);
        }
    }
    Ok(planned)
}

/// The request planned, or every problem the catalog found in it.
///
/// Problems on a live database are the names a file made itself when zerodown recorded
/// it before (run again, an ADD COLUMN finds its column): then what counts is the stored
/// plan, which `apply` resumes or reports as applied.
async fn planned(
    req: PlanRequest,
    profile: ServerProfile,
    outcome: Result<Outcome, Vec<Diagnostic>>,
    assumptions: Vec<String>,
) -> Result<Planned, Error> {
    let outcome = match (outcome, &req.database_url) {
        (Ok(outcome), _) => outcome,
        (Err(d), None) => return Err(Error::sql(d, &req.sources)),
        (Err(d), Some(url)) => match crate::run::recorded(url, &req.sources).await {
            Some((id, status, mut plan)) => {
                plan.notes.insert(
                    0,
                    format!(
                        "migration {id} is recorded in this database ({}): this is its stored plan; planned again against the database as it is now, {} statement(s) would be refused",
                        status.as_str(),
                        d.len()
                    ),
                );
                Outcome {
                    statements: Vec::new(),
                    plan,
                }
            }
            None => return Err(Error::sql(d, &req.sources)),
        },
    };
    Ok(Planned {
        meta: meta(req.database_url.as_deref(), assumptions),
        sources: req.sources,
        profile,
        outcome,
        database_url: req.database_url,
    })
}

fn meta(database_url: Option<&str>, assumptions: Vec<String>) -> Meta {
    match database_url {
        Some(url) => Meta {
            source: "live",
            database: Some(zerodown_exec::redact(url)),
            assumptions: Vec::new(),
            history: None,
        },
        None => Meta {
            source: "offline",
            database: None,
            assumptions,
            history: None,
        },
    }
}

async fn plan_pg(req: PlanRequest) -> Result<Planned, Error> {
    let (mut files, diagnostics) = pipeline::parse_sources(&req.sources);
    if !diagnostics.is_empty() {
        return Err(Error::sql(diagnostics, &req.sources));
    }
    let (mut profile, mut catalog) = match &req.database_url {
        Some(url) => {
            let live = read_pg(url, &files).await?;
            pipeline::resolve_names(&mut files, |name| live.schemas.get(name).cloned());
            (live.profile, live.catalog)
        }
        None => {
            let profile = match &req.target {
                Some(p) => p.clone(),
                None => DEFAULT_OFFLINE_TARGET.parse().map_err(
                    |e: zerodown_core::engine::TargetParseError| Error::Internal(e.to_string()),
                )?,
            };
            if let Some(path) = &profile.settings.search_path {
                pipeline::resolve_offline(&mut files, path);
            }
            (profile, Catalog::default())
        }
    };
    if let Some(t) = &req.target {
        profile.version = t.version;
    }
    for (name, rows) in &req.rows {
        catalog.hint_rows(name, *rows);
    }
    let outcome = pipeline::run(
        &files,
        &catalog,
        &profile,
        &CostModel::default(),
        &req.options,
    );
    let assumed = zerodown_core::assumptions::postgres(&files, &profile);
    planned(req, profile, outcome, assumed).await
}

async fn read_pg(url: &str, files: &[ParsedFile]) -> Result<zerodown_pg::Introspection, Error> {
    crate::route::own_session(url).await?;
    let client = zerodown_pg::connect(url).await.map_err(Error::database)?;
    zerodown_pg::introspect(&client, &pipeline::references(files))
        .await
        .map_err(Error::database)
}

async fn plan_mysql(req: PlanRequest) -> Result<Planned, Error> {
    let (statements, diagnostics) = pipeline::parse_mysql_sources(&req.sources);
    if !diagnostics.is_empty() {
        return Err(Error::sql(diagnostics, &req.sources));
    }
    let (mut profile, mut catalog) = match &req.database_url {
        Some(url) => {
            let tables = pipeline::mysql_tables(&statements);
            let mut c = zerodown_mysql::connect(url)
                .await
                .map_err(Error::database)?;
            let read = zerodown_mysql::catalog::introspect(&mut c, &tables)
                .await
                .map_err(|e| match e {
                    // Refused before anything runs, as bad input is (exit code 2).
                    zerodown_mysql::MyError::SqlMode(_) => Error::Input(e.to_string()),
                    e => Error::database(e),
                });
            let _ = c.disconnect().await;
            read?
        }
        None => {
            let profile = req.target.clone().ok_or_else(|| {
                Error::Input("a MySQL/MariaDB plan needs --target or a database URL".into())
            })?;
            (profile, MyCatalog::default())
        }
    };
    if let Some(t) = &req.target {
        profile.version = t.version;
    }
    for (name, rows) in &req.rows {
        let name = match &name.schema {
            Some(s) => format!("{s}.{}", name.name),
            None => name.name.clone(),
        };
        catalog.hint_rows(&name, *rows);
    }
    let outcome = pipeline::run_mysql(
        &statements,
        &catalog,
        &profile,
        &CostModel::default(),
        &req.options,
    );
    let assumed = zerodown_core::assumptions::mysql(&statements, &req.sources);
    planned(req, profile, outcome, assumed).await
}
