//! Rehearsals on PostgreSQL: a throwaway cluster or a scratch server, the schema copied
//! with pg_dump or created from SQL, rows generated with generate_series, each run's
//! database a template copy, locks watched in pg_locks and statements in
//! pg_stat_statements.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use tokio::time::Instant;
use tokio_postgres::Client;
use zerodown_core::estimate::CostModel;
use zerodown_core::pg::ir::QualName;
use zerodown_core::pipeline;
use zerodown_pg::PgDriver;

use crate::report::{self, Report, StatementStats};
use crate::runs::{self, one_line, Recorder, RunInput, Span, Target};
use crate::setup::{self, connect};
use crate::watch::{self, LockWatch, Sample, AS_WRITTEN_APP};
use crate::{workload, Config, Progress, RehearseError, Schema};

pub async fn rehearse_on(
    host: &mut setup::Host,
    cfg: &Config,
    files: &[zerodown_core::pg::parse::ParsedFile],
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
                zerodown_exec::redact(source)
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

    let mut runs = Vec::new();
    for mode in crate::modes(cfg) {
        let db = crate::run_database(&base, mode);
        progress.stage(&format!("copying the data for the {} run", mode.label()));
        host.create(&db, Some(&base)).await?;
        let url = host.url(&db);
        let input = crate::run_input(
            cfg,
            url,
            mode,
            &outcome,
            &ops,
            rows[&table.name],
            tables.iter().map(|t| t.name.to_string()).collect(),
        );
        let mut target = PgTarget::open(&input.url).await?;
        runs.push(runs::run(input, &mut target, progress).await?);
    }
    let server = report::ServerInfo {
        engine: "PostgreSQL".into(),
        version: host.version().await?,
        kind: host.kind.clone(),
        pg_stat_statements: runs.iter().any(|r| !r.statements.is_empty()),
    };
    let rows = rows.iter().map(|(n, r)| (n.to_string(), *r)).collect();
    Ok(crate::finish(
        cfg,
        server,
        table.name.to_string(),
        &ops,
        rows,
        runs,
    ))
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

/// The PostgreSQL side of a run: pg_locks and pg_stat_statements read from an observer
/// session, the SQL as written on its own session, the plan through [`PgDriver`].
struct PgTarget {
    observer: Client,
    statements_on: bool,
    locks: Option<LockWatch>,
}

impl PgTarget {
    async fn open(url: &str) -> Result<PgTarget, RehearseError> {
        let observer = connect(url).await?;
        let statements_on = watch::enable_statements(&observer).await;
        Ok(PgTarget {
            observer,
            statements_on,
            locks: None,
        })
    }
}

impl Target for PgTarget {
    async fn watch(&mut self, input: &RunInput<'_>, _clients: &[u64]) -> Result<(), RehearseError> {
        let oids = watch::table_oids(&self.observer, &input.watched)
            .await
            .map_err(RehearseError::db("finding the watched tables"))?;
        self.locks = Some(
            watch::start(connect(&input.url).await?, oids)
                .await
                .map_err(RehearseError::db("watching pg_locks"))?,
        );
        Ok(())
    }

    async fn statements(&mut self, phase: &'static str) -> Vec<StatementStats> {
        if !self.statements_on {
            return Vec::new();
        }
        watch::statements_since_last(&self.observer, phase)
            .await
            .unwrap_or_default()
    }

    async fn unwatch(&mut self) -> Result<Vec<Sample>, RehearseError> {
        match self.locks.take() {
            Some(l) => l.stop().await.map_err(RehearseError::Load),
            None => Ok(Vec::new()),
        }
    }

    async fn as_written(&mut self, input: &RunInput<'_>) -> (Vec<Span>, Option<String>) {
        as_written(input).await
    }

    async fn apply(&mut self, input: &RunInput<'_>, rec: &mut Recorder<'_>) -> Result<(), String> {
        runs::apply_with(&mut PgDriver::new(&input.url), input, rec).await
    }
}

/// The statements as written, one after the other on one session, each file in one
/// transaction when its migration tool would wrap it in one.
async fn as_written(input: &RunInput<'_>) -> (Vec<Span>, Option<String>) {
    let mut spans = Vec::new();
    let client = match zerodown_pg::connect_as(&input.url, Some(AS_WRITTEN_APP)).await {
        Ok(c) => c,
        Err(e) => return (spans, Some(e.to_string())),
    };
    let mut open_file: Option<&str> = None;
    for s in input.statements {
        if input.interrupt.load(Ordering::Relaxed) {
            return (spans, Some("interrupted".into()));
        }
        if open_file.is_some_and(|f| *f != *s.file) {
            if let Err(e) = client.batch_execute("COMMIT").await {
                return (spans, Some(e.to_string()));
            }
            open_file = None;
        }
        if s.in_transaction && open_file.is_none() {
            if let Err(e) = client.batch_execute("BEGIN").await {
                return (spans, Some(e.to_string()));
            }
            open_file = Some(&s.file);
        }
        let started = Instant::now();
        let result = client.batch_execute(&s.sql).await;
        spans.push(Span {
            description: format!("{}:{}: {}", s.file, s.line, one_line(&s.sql)),
            declared: runs::declared(s.impact.lock, s.impact.online, false),
            started,
            ended: Some(Instant::now()),
        });
        if let Err(e) = result {
            let msg = e
                .as_db_error()
                .map_or_else(|| e.to_string(), |d| d.message().to_owned());
            return (spans, Some(msg));
        }
    }
    if open_file.is_some() {
        if let Err(e) = client.batch_execute("COMMIT").await {
            return (spans, Some(e.to_string()));
        }
    }
    (spans, None)
}
