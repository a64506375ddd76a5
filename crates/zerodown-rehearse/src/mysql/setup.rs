//! The MySQL/MariaDB rehearsal's server and data: a throwaway MariaDB (or a scratch
//! server), a database with the source's tables (SHOW CREATE TABLE) or given SQL, filled
//! with synthetic rows, and a copy of it for each run (the server has no template
//! databases: CREATE TABLE as shown, then INSERT ... SELECT).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use zerodown_core::mysql::synth::{self, Column, FillTable};
use zerodown_core::sql::quote::mysql_ident;
use zerodown_mysql::server::Server as Throwaway;

use crate::{Progress, RehearseError, Server};

/// Rows generated per statement.
const FILL_CHUNK: u64 = 50_000;

pub fn db_err(what: &'static str) -> impl Fn(mysql_async::Error) -> RehearseError {
    move |e| RehearseError::Database {
        what,
        detail: match e {
            mysql_async::Error::Server(s) => s.message,
            other => other.to_string(),
        },
    }
}

pub async fn connect(url: &str) -> Result<Conn, RehearseError> {
    zerodown_mysql::connect(url)
        .await
        .map_err(|e| RehearseError::Database {
            what: "connecting",
            detail: e.to_string(),
        })
}

/// Where the rehearsal's databases live.
pub struct MyHost {
    /// Kept so the server lives (and is removed) with the rehearsal.
    server: Option<Throwaway>,
    /// `mysql://user@host:port` (no database).
    base: String,
    pub kind: String,
    admin: Conn,
    created: Vec<String>,
}

impl MyHost {
    pub async fn open(server: &Server, progress: &dyn Progress) -> Result<MyHost, RehearseError> {
        match server {
            Server::Throwaway => {
                progress.stage("starting a throwaway MariaDB server");
                let s = tokio::task::spawn_blocking(|| Throwaway::start(&[]))
                    .await
                    .map_err(RehearseError::setup)?
                    .map_err(RehearseError::setup)?;
                let base = s.url("").trim_end_matches('/').to_owned();
                let mut admin = connect(&format!("{base}/mysql")).await?;
                // Our own server: metadata_lock_info shows which metadata lock the
                // migration holds (MariaDB ships the plugin; without it, waits only).
                let _ = admin
                    .query_drop("INSTALL SONAME 'metadata_lock_info'")
                    .await;
                Ok(MyHost {
                    kind: format!("throwaway MariaDB, port {}", s.port),
                    server: Some(s),
                    base,
                    admin,
                    created: Vec::new(),
                })
            }
            Server::Scratch(url) => {
                let base = without_database(url);
                let admin = connect(url).await?;
                Ok(MyHost {
                    server: None,
                    kind: format!("scratch server {}", zerodown_exec::redact(url)),
                    base,
                    admin,
                    created: Vec::new(),
                })
            }
        }
    }

    pub fn url(&self, db: &str) -> String {
        format!("{}/{db}", self.base)
    }

    pub async fn version(&mut self) -> Result<String, RehearseError> {
        let v: Option<String> = self
            .admin
            .query_first("SELECT VERSION()")
            .await
            .map_err(db_err("server version"))?;
        Ok(v.unwrap_or_default())
    }

    /// Creates the empty database `db`, to be dropped by [`MyHost::cleanup`].
    pub async fn create(&mut self, db: &str) -> Result<(), RehearseError> {
        let name = mysql_ident(db);
        self.admin
            .query_drop(format!("DROP DATABASE IF EXISTS {name}"))
            .await
            .map_err(db_err("dropping a rehearsal database"))?;
        self.admin
            .query_drop(format!("CREATE DATABASE {name}"))
            .await
            .map_err(db_err("creating a rehearsal database"))?;
        self.created.push(db.to_owned());
        Ok(())
    }

    /// Drops the databases this rehearsal created and zerodown's state of its runs (the
    /// throwaway server, if any, goes when the host is dropped).
    pub async fn cleanup(&mut self) {
        if self.server.is_some() {
            return;
        }
        for db in self.created.drain(..) {
            let _ = self
                .admin
                .query_drop(format!("DROP DATABASE IF EXISTS {}", mysql_ident(&db)))
                .await;
            for table in ["steps", "migrations"] {
                let _ = self
                    .admin
                    .exec_drop(
                        format!("DELETE FROM `_zerodown`.{table} WHERE db = ?"),
                        (&db,),
                    )
                    .await;
            }
        }
    }
}

/// `url` without its database part (and without its query).
fn without_database(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("mysql", url));
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    format!("{scheme}://{authority}")
}

/// The tables of `names` that exist in the current database of `conn`, with the tables
/// their foreign keys reference (recursively), parents first.
pub async fn with_parents(conn: &mut Conn, names: &[String]) -> Result<Vec<String>, RehearseError> {
    let mut found: Vec<String> = Vec::new();
    let mut parents: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut todo: Vec<String> = names.to_vec();
    while let Some(name) = todo.pop() {
        if found.contains(&name) {
            continue;
        }
        let exists: Option<String> = conn
            .exec_first(
                "SELECT TABLE_NAME FROM information_schema.TABLES
                  WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND TABLE_TYPE = 'BASE TABLE'",
                (&name,),
            )
            .await
            .map_err(db_err("reading the tables"))?;
        let Some(name) = exists else { continue };
        let refs: Vec<String> = conn
            .exec(
                "SELECT DISTINCT REFERENCED_TABLE_NAME FROM information_schema.KEY_COLUMN_USAGE
                  WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?
                    AND REFERENCED_TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL",
                (&name,),
            )
            .await
            .map_err(db_err("reading foreign keys"))?;
        todo.extend(refs.iter().cloned());
        parents.insert(name.clone(), refs);
        found.push(name);
    }
    Ok(synth::parents_first(&found, |n| {
        parents.get(n).cloned().unwrap_or_default()
    }))
}

/// Creates `tables` (parents first) in `to` as `from` shows them.
pub async fn copy_schema(
    from: &mut Conn,
    to: &mut Conn,
    tables: &[String],
) -> Result<(), RehearseError> {
    to.query_drop("SET SESSION foreign_key_checks = 0")
        .await
        .map_err(db_err("copying the schema"))?;
    for t in tables {
        let shown: Option<(String, String)> = from
            .query_first(format!("SHOW CREATE TABLE {}", mysql_ident(t)))
            .await
            .map_err(db_err("reading the source's tables"))?;
        let Some((_, create)) = shown else { continue };
        to.query_drop(create)
            .await
            .map_err(db_err("creating the source's tables"))?;
    }
    to.query_drop("SET SESSION foreign_key_checks = 1")
        .await
        .map_err(db_err("copying the schema"))
}

/// Copies the rows of `tables` from database `from` into the same tables of the current
/// database of `to` (created by [`copy_schema`]); generated columns are left to the server.
pub async fn copy_rows(to: &mut Conn, from: &str, tables: &[String]) -> Result<(), RehearseError> {
    to.query_drop("SET SESSION foreign_key_checks = 0")
        .await
        .map_err(db_err("copying rows"))?;
    for t in tables {
        let columns: Vec<String> = to
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS
                  WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND EXTRA NOT LIKE '%GENERATED%'
                  ORDER BY ORDINAL_POSITION",
                (from, t),
            )
            .await
            .map_err(db_err("reading the columns"))?;
        let list = columns
            .iter()
            .map(|c| mysql_ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        to.query_drop(format!(
            "INSERT INTO {t} ({list}) SELECT {list} FROM {db}.{t}",
            t = mysql_ident(t),
            db = mysql_ident(from)
        ))
        .await
        .map_err(db_err("copying rows"))?;
    }
    to.query_drop("SET SESSION foreign_key_checks = 1")
        .await
        .map_err(db_err("copying rows"))
}

/// Row estimates (`TABLE_ROWS`) of `tables` in the current database of `conn`.
pub async fn estimates(
    conn: &mut Conn,
    tables: &[String],
) -> Result<BTreeMap<String, u64>, RehearseError> {
    let mut out = BTreeMap::new();
    for t in tables {
        let rows: Option<Option<u64>> = conn
            .exec_first(
                "SELECT TABLE_ROWS FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
                (t,),
            )
            .await
            .map_err(db_err("reading row estimates"))?;
        if let Some(Some(r)) = rows.filter(|r| r.is_some_and(|r| r > 0)) {
            out.insert(t.clone(), r);
        }
    }
    Ok(out)
}

/// COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, EXTRA, has a default,
/// CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE.
type ColumnRow = (
    String,
    String,
    String,
    String,
    String,
    bool,
    Option<u64>,
    Option<u64>,
    Option<u64>,
);

/// `table` of the current database as [`synth`] fills it; `rows` sizes the
/// foreign keys' parents.
pub async fn fill_table(
    conn: &mut Conn,
    table: &str,
    rows: &BTreeMap<String, u64>,
) -> Result<FillTable, RehearseError> {
    let cols: Vec<ColumnRow> = conn
        .exec(
            "SELECT COLUMN_NAME, LOWER(DATA_TYPE), LOWER(COLUMN_TYPE), IS_NULLABLE, UPPER(EXTRA),
                    COLUMN_DEFAULT IS NOT NULL, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE
               FROM information_schema.COLUMNS
              WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?
              ORDER BY ORDINAL_POSITION",
            (table,),
        )
        .await
        .map_err(db_err("reading the columns"))?;
    // Columns alone in a unique index (the primary key included).
    let unique: Vec<String> = conn
        .exec(
            "SELECT MIN(COLUMN_NAME) FROM information_schema.STATISTICS
              WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND NON_UNIQUE = 0
              GROUP BY INDEX_NAME HAVING COUNT(*) = 1",
            (table,),
        )
        .await
        .map_err(db_err("reading the unique indexes"))?;
    let fks: Vec<(String, String)> = conn
        .exec(
            "SELECT COLUMN_NAME, REFERENCED_TABLE_NAME FROM information_schema.KEY_COLUMN_USAGE
              WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND REFERENCED_TABLE_NAME IS NOT NULL",
            (table,),
        )
        .await
        .map_err(db_err("reading foreign keys"))?;
    let columns = cols
        .into_iter()
        .map(
            |(
                name,
                data_type,
                column_type,
                nullable,
                extra,
                has_default,
                len,
                precision,
                scale,
            )| {
                let references = fks
                    .iter()
                    .find(|(c, _)| c == &name)
                    .map(|(_, p)| (p.clone(), rows.get(p).copied().unwrap_or(1)));
                Column {
                    unique: unique.contains(&name),
                    references,
                    data_type,
                    column_type,
                    nullable: nullable == "YES",
                    generated: extra.contains("GENERATED")
                        || extra.contains("VIRTUAL")
                        || extra.contains("PERSISTENT"),
                    auto_increment: extra.contains("AUTO_INCREMENT"),
                    has_default,
                    max_length: len,
                    precision,
                    scale,
                    name,
                }
            },
        )
        .collect();
    Ok(FillTable {
        name: table.to_owned(),
        columns,
    })
}

/// Fills `tables` (parents first) with `rows` rows each, then ANALYZE TABLE so the
/// estimates match.
pub async fn fill(
    conn: &mut Conn,
    tables: &[FillTable],
    rows: &BTreeMap<String, u64>,
    progress: &dyn Progress,
    interrupt: &AtomicBool,
) -> Result<(), RehearseError> {
    let total: u64 = tables.iter().filter_map(|t| rows.get(&t.name)).sum();
    let mut done = 0;
    conn.query_drop("SET SESSION foreign_key_checks = 0, unique_checks = 0")
        .await
        .map_err(db_err("generating rows"))?;
    for t in tables {
        let n = rows.get(&t.name).copied().unwrap_or(0);
        progress.stage(&format!("generating {n} rows in {}", t.name));
        let mut first = 1;
        while first <= n {
            if interrupt.load(Ordering::Relaxed) {
                return Err(RehearseError::Interrupted);
            }
            let last = (first + FILL_CHUNK - 1).min(n);
            let sql = synth::fill_sql(t, first, last).map_err(RehearseError::synth)?;
            conn.query_drop(sql)
                .await
                .map_err(db_err("generating rows"))?;
            done += last + 1 - first;
            progress.fill(done, total);
            first = last + 1;
        }
        conn.query_drop(format!("ANALYZE TABLE {}", mysql_ident(&t.name)))
            .await
            .map_err(db_err("ANALYZE TABLE"))?;
    }
    conn.query_drop("SET SESSION foreign_key_checks = 1, unique_checks = 1")
        .await
        .map_err(db_err("generating rows"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_and_query_are_left_out_of_the_base_url() {
        assert_eq!(
            super::without_database("mysql://u:p@h:3306/db?x=1"),
            "mysql://u:p@h:3306"
        );
        assert_eq!(super::without_database("mariadb://h"), "mariadb://h");
    }
}
