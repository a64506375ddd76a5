//! zerodown's MySQL and MariaDB driver: the server profile (flavor and version) the
//! planner's facts are chosen by, the live catalog ([`catalog`]), metadata-lock handling
//! ([`mdl`]), and [`MyDriver`], the executor's `Database` and `StateStore`.

mod backfill;
pub mod catalog;
mod driver;
mod errors;
pub mod history;
mod key_values;
pub mod mdl;
mod privileges;
mod rebuild;
mod replicas;
pub mod server;
pub mod state;
mod throttle;
pub mod tls;
mod tls_names;

pub use driver::MyDriver;

use mysql_async::prelude::Queryable;
use zerodown_core::engine::{ServerProfile, Settings, Version};

#[derive(Debug, thiserror::Error)]
pub enum MyError {
    #[error("{what}: {source}")]
    Query {
        what: &'static str,
        #[source]
        source: mysql_async::Error,
    },
    #[error("invalid MySQL/MariaDB URL: {0}")]
    Url(String),
    #[error("cannot read the server version from {0:?}")]
    Version(String),
    /// The server reads quotes differently from zerodown (a setting of `sql_mode`).
    #[error("the server's sql_mode has {0}, which changes how quotes and backslashes are read: zerodown reads SQL as the default sql_mode does, so what it checked could differ from what the server runs; nothing was planned. Run this migration with the server's own client, or plan it on a server without {0}")]
    SqlMode(&'static str),
}

/// The flavor and version of the server `conn` is connected to.
pub async fn server_profile(conn: &mut mysql_async::Conn) -> Result<ServerProfile, MyError> {
    let text: Option<String> = conn
        .query_first("SELECT VERSION()")
        .await
        .map_err(|source| MyError::Query {
            what: "server version",
            source,
        })?;
    let text = text.unwrap_or_default();
    let (engine, version) =
        Version::from_mysql_version(&text).ok_or_else(|| MyError::Version(text.clone()))?;
    Ok(ServerProfile {
        engine,
        version,
        settings: Settings::default(),
    })
}

/// Connects to a `mysql://` or `mariadb://` URL, with TLS as its `ssl-mode` says.
pub async fn connect(url: &str) -> Result<mysql_async::Conn, MyError> {
    tls::ConnOpts::from_url(url)?
        .connect()
        .await
        .map_err(|source| MyError::Query {
            what: "connect",
            source,
        })
}

/// Whether a connection string is for MySQL/MariaDB.
pub fn is_mysql_url(url: &str) -> bool {
    url.starts_with("mysql://") || url.starts_with("mariadb://")
}

/// `table` of the current database as the `ALTER TABLE` mapping needs it: its columns
/// (`COLUMN_TYPE`, byte length, nullability) and which columns its indexes hold.
pub async fn table_info(
    conn: &mut mysql_async::Conn,
    table: &str,
) -> Result<zerodown_core::mysql::actions::TableInfo, MyError> {
    table_info_in(conn, None, table).await
}

/// [`table_info`] of a table in database `db` (None: the current one).
pub async fn table_info_in(
    conn: &mut mysql_async::Conn,
    db: Option<&str>,
    table: &str,
) -> Result<zerodown_core::mysql::actions::TableInfo, MyError> {
    use zerodown_core::mysql::actions::{ColumnInfo, TableInfo};
    let q = |what| move |source| MyError::Query { what, source };
    type Column = (String, String, Option<u64>, String, Option<String>);
    let columns: Vec<Column> = conn
        .exec(
            "SELECT LOWER(COLUMN_NAME), COLUMN_TYPE, CHARACTER_OCTET_LENGTH, IS_NULLABLE, CHARACTER_SET_NAME
               FROM information_schema.COLUMNS
              WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
            (db, table),
        )
        .await
        .map_err(q("columns"))?;
    let index_columns: Vec<(String, String)> = conn
        .exec(
            "SELECT INDEX_NAME, LOWER(COLUMN_NAME) FROM information_schema.STATISTICS
              WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?
              ORDER BY INDEX_NAME, SEQ_IN_INDEX",
            (db, table),
        )
        .await
        .map_err(q("indexes"))?;
    let mut indexes = std::collections::BTreeMap::<String, Vec<String>>::new();
    for (index, column) in index_columns {
        indexes.entry(index).or_default().push(column);
    }
    Ok(TableInfo {
        columns: columns
            .into_iter()
            .map(|(name, column_type, bytes, nullable, charset)| {
                let info = ColumnInfo {
                    column_type,
                    max_bytes: bytes.and_then(|b| u32::try_from(b).ok()),
                    nullable: nullable == "YES",
                    charset,
                };
                (name, info)
            })
            .collect(),
        indexes,
    })
}
