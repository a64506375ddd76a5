//! The rehearsal's server and data: a throwaway cluster (or a scratch server), a database
//! with the schema of the source (or given SQL), filled with synthetic rows at the real
//! volume, and copies of it for each run.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_postgres::Client;
use zerodown_core::pg::catalog::Table;
use zerodown_core::pg::ir::QualName;
use zerodown_core::pg::synth::{fill_order, fill_sql};
use zerodown_core::pipeline::References;
use zerodown_core::sql::quote::{ident, qual};
use zerodown_pg::cluster::Cluster;

use crate::{Progress, RehearseError, Server};

/// Rows generated per statement: big enough to be fast, small enough to show progress.
const FILL_CHUNK: u64 = 50_000;

/// Where the rehearsal's databases live.
pub struct Host {
    /// Kept so the cluster lives (and is removed) with the rehearsal.
    pub cluster: Option<Cluster>,
    /// A URL of the server with the database part left to [`Host::url`].
    base: String,
    pub kind: String,
    admin: Client,
    created: Vec<String>,
}

impl Host {
    pub async fn open(server: &Server, progress: &dyn Progress) -> Result<Host, RehearseError> {
        match server {
            Server::Throwaway => {
                progress.stage("starting a throwaway PostgreSQL cluster");
                let preload = zerodown_pg::cluster::has_library("pg_stat_statements");
                let settings: &[(&str, &str)] = if preload {
                    &[("shared_preload_libraries", "pg_stat_statements")]
                } else {
                    &[]
                };
                let cluster = Cluster::start(settings).map_err(RehearseError::setup)?;
                progress.stage(&format!(
                    "throwaway cluster on port {} in {}",
                    cluster.port,
                    cluster.folder().display()
                ));
                let base = cluster.url("postgres");
                let admin = connect(&base).await?;
                Ok(Host {
                    kind: format!("throwaway cluster, port {}", cluster.port),
                    cluster: Some(cluster),
                    base,
                    admin,
                    created: Vec::new(),
                })
            }
            Server::Scratch(url) => {
                let admin = connect(url).await?;
                Ok(Host {
                    cluster: None,
                    base: url.clone(),
                    kind: format!("scratch server {}", zerodown_exec::redact(url)),
                    admin,
                    created: Vec::new(),
                })
            }
        }
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        with_database(&self.base, db)
    }

    pub async fn version(&self) -> Result<String, RehearseError> {
        let row = self
            .admin
            .query_one("SELECT current_setting('server_version')", &[])
            .await
            .map_err(RehearseError::db("server version"))?;
        Ok(row.get(0))
    }

    async fn version_num(&self) -> Result<i32, RehearseError> {
        let row = self
            .admin
            .query_one("SELECT current_setting('server_version_num')::int4", &[])
            .await
            .map_err(RehearseError::db("server version"))?;
        Ok(row.get(0))
    }

    /// Creates database `db` (empty, or a copy of `template`), to be dropped by
    /// [`Host::cleanup`].
    pub async fn create(&mut self, db: &str, template: Option<&str>) -> Result<(), RehearseError> {
        let _ = self
            .admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                ident(db)
            ))
            .await;
        let sql = match template {
            None => format!("CREATE DATABASE {}", ident(db)),
            // A file copy (PostgreSQL 15+; before, the only way) instead of writing the
            // whole database to the WAL, which would load the server under the traffic.
            Some(t) if self.version_num().await? >= 150_000 => format!(
                "CREATE DATABASE {} TEMPLATE {} STRATEGY = FILE_COPY",
                ident(db),
                ident(t)
            ),
            Some(t) => format!("CREATE DATABASE {} TEMPLATE {}", ident(db), ident(t)),
        };
        self.admin
            .batch_execute(&sql)
            .await
            .map_err(RehearseError::db("creating a rehearsal database"))?;
        // Each run starts with no dirty buffers to write back: a checkpoint during one
        // run's traffic and not the other's would be noise in the comparison. Needs
        // superuser or pg_checkpoint on a scratch server; without, the run starts anyway.
        let _ = self.admin.batch_execute("CHECKPOINT").await;
        self.created.push(db.to_owned());
        Ok(())
    }

    /// Drops the databases this rehearsal created (the cluster, if any, goes when the
    /// host is dropped).
    pub async fn cleanup(&mut self) {
        if self.cluster.is_some() {
            return;
        }
        for db in self.created.drain(..) {
            let _ = self
                .admin
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    ident(&db)
                ))
                .await;
        }
    }
}

pub async fn connect(url: &str) -> Result<Client, RehearseError> {
    zerodown_pg::connect(url)
        .await
        .map_err(|e| RehearseError::Database {
            what: "connecting",
            detail: e.to_string(),
        })
}

/// `url` with its database replaced by `db`.
fn with_database(url: &str, db: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, query) = match rest.split_once('?') {
                Some((a, q)) => (a, Some(q)),
                None => (rest, None),
            };
            let host = authority.split('/').next().unwrap_or(authority);
            let mut out = format!("{scheme}://{host}/{db}");
            if let Some(q) = query {
                out.push('?');
                out.push_str(q);
            }
            out
        }
        // key=value form: a later dbname wins.
        None => format!("{url} dbname={db}"),
    }
}

/// The tables to fill: those the migration names that exist, and the tables their
/// foreign keys reference (recursively), read from the rehearsal database.
pub async fn tables_to_fill(
    client: &Client,
    refs: &References,
) -> Result<Vec<Table>, RehearseError> {
    let mut names = refs.tables.clone();
    loop {
        let r = References {
            tables: names.clone(),
            ..References::default()
        };
        let live =
            zerodown_pg::introspect(client, &r)
                .await
                .map_err(|e| RehearseError::Database {
                    what: "reading the catalog",
                    detail: e.to_string(),
                })?;
        let tables: Vec<Table> = names
            .iter()
            .filter_map(|n| {
                let q = QualName::new(live.schemas.get(&n.name).map(String::as_str), &n.name);
                live.catalog
                    .table(&if n.schema.is_some() { n.resolved() } else { q })
                    .filter(|t| !t.assumed)
                    .cloned()
            })
            .collect();
        let parents: Vec<QualName> = tables
            .iter()
            .flat_map(|t| t.constraints.iter().filter_map(|c| c.ref_table.clone()))
            .filter(|p| !tables.iter().any(|t| &t.name == p))
            .collect();
        if parents.is_empty() {
            return Ok(tables);
        }
        names.extend(parents);
    }
}

/// Fills `tables` with `rows_of` rows each (parents first), then VACUUM ANALYZE so the
/// planner and the visibility map look like a settled production table.
pub async fn fill(
    client: &Client,
    tables: &[Table],
    rows_of: &BTreeMap<QualName, u64>,
    progress: &dyn Progress,
    interrupt: &AtomicBool,
) -> Result<(), RehearseError> {
    let refs: Vec<&Table> = tables.iter().collect();
    let order = fill_order(&refs).map_err(RehearseError::synth)?;
    let total: u64 = order.iter().filter_map(|n| rows_of.get(n)).sum();
    let count = |n: &QualName| rows_of.get(n).copied();
    let mut done = 0;
    for name in &order {
        let Some(t) = tables.iter().find(|t| &t.name == name) else {
            continue;
        };
        let rows = rows_of.get(name).copied().unwrap_or(0);
        progress.stage(&format!("generating {rows} rows in {name}"));
        let mut first = 1;
        while first <= rows {
            if interrupt.load(Ordering::Relaxed) {
                return Err(RehearseError::Interrupted);
            }
            let last = (first + FILL_CHUNK - 1).min(rows);
            let sql = fill_sql(t, first, last, &count).map_err(RehearseError::synth)?;
            client
                .batch_execute(&sql)
                .await
                .map_err(RehearseError::db("generating rows"))?;
            done += last + 1 - first;
            progress.fill(done, total);
            first = last + 1;
        }
        progress.stage(&format!("VACUUM ANALYZE {name}"));
        client
            .batch_execute(&format!("VACUUM ANALYZE {}", qual(name)))
            .await
            .map_err(RehearseError::db("VACUUM ANALYZE"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_is_replaced_in_both_url_forms() {
        assert_eq!(
            with_database("postgres://u:p@h:5/src?sslmode=disable", "x"),
            "postgres://u:p@h:5/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
        assert_eq!(
            with_database("host=h user=u dbname=a", "x"),
            "host=h user=u dbname=a dbname=x"
        );
    }
}
