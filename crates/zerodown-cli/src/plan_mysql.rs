//! `plan` (and what `apply` plans) for MySQL/MariaDB: the statements parsed with the
//! MySQL dialect, the live catalog read with zerodown-mysql or an offline target, then
//! the same report.

use zerodown_core::engine::ServerProfile;
use zerodown_core::estimate::CostModel;
use zerodown_core::migrations::SourceFile;
use zerodown_core::mysql::catalog::MyCatalog;
use zerodown_core::pipeline;
use zerodown_core::report::Meta;

use crate::exit::Failure;
use crate::plan_cmd::{diagnostics_failure, parse_rows, runtime, Prepared, Source};

/// Reads, parses, introspects and plans a MySQL/MariaDB migration.
pub fn prepare(
    args: &Source,
    sources: Vec<SourceFile>,
    target: Option<ServerProfile>,
    conn: Option<String>,
) -> Result<Prepared, Failure> {
    let (statements, diagnostics) = pipeline::parse_mysql_sources(&sources);
    if !diagnostics.is_empty() {
        return Err(diagnostics_failure(&diagnostics, &sources));
    }
    let (mut profile, mut catalog, meta) = match &conn {
        Some(url) => {
            let tables = pipeline::mysql_tables(&statements);
            let (profile, catalog) = runtime()?.block_on(async {
                let mut c = zerodown_mysql::connect(url)
                    .await
                    .map_err(|e| Failure::database(e.to_string()))?;
                let read = zerodown_mysql::catalog::introspect(&mut c, &tables)
                    .await
                    .map_err(|e| Failure::database(e.to_string()));
                let _ = c.disconnect().await;
                read
            })?;
            let meta = Meta {
                source: "live",
                database: Some(zerodown_exec::redact(url)),
            };
            (profile, catalog, meta)
        }
        None => {
            let profile = target.clone().ok_or_else(|| {
                Failure::bad_input("a MySQL/MariaDB plan needs --target or a database URL")
            })?;
            let meta = Meta {
                source: "offline",
                database: None,
            };
            (profile, MyCatalog::default(), meta)
        }
    };
    if let Some(t) = target {
        profile.version = t.version;
    }
    for (name, rows) in parse_rows(&args.rows)? {
        let name = match &name.schema {
            Some(s) => format!("{s}.{}", name.name),
            None => name.name.clone(),
        };
        catalog.hint_rows(&name, rows);
    }
    let opts = args.tuning.plan_options();
    let outcome = pipeline::run_mysql(
        &statements,
        &catalog,
        &profile,
        &CostModel::default(),
        &opts,
    )
    .map_err(|d| diagnostics_failure(&d, &sources))?;
    Ok(Prepared {
        sources,
        profile,
        meta,
        outcome,
        conn,
    })
}
