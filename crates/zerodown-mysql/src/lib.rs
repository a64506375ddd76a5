//! zerodown's MySQL and MariaDB driver. So far: the server profile (flavor and version)
//! the planner's facts are chosen by, and metadata-lock handling ([`mdl`]).

pub mod mdl;

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
    #[error("cannot read the server version from {0:?}")]
    Version(String),
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

/// `table` of the current database as the `ALTER TABLE` mapping needs it: its columns
/// (`COLUMN_TYPE`, byte length, nullability) and which columns its indexes hold.
pub async fn table_info(
    conn: &mut mysql_async::Conn,
    table: &str,
) -> Result<zerodown_core::analyze::mysql_actions::TableInfo, MyError> {
    use zerodown_core::analyze::mysql_actions::{ColumnInfo, TableInfo};
    let q = |what| move |source| MyError::Query { what, source };
    let columns: Vec<(String, String, Option<u64>, String)> = conn
        .exec(
            "SELECT LOWER(COLUMN_NAME), COLUMN_TYPE, CHARACTER_OCTET_LENGTH, IS_NULLABLE
               FROM information_schema.COLUMNS
              WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
            (table,),
        )
        .await
        .map_err(q("columns"))?;
    let indexed: Vec<(String, u64)> = conn
        .exec(
            "SELECT LOWER(COLUMN_NAME), SEQ_IN_INDEX FROM information_schema.STATISTICS
              WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?",
            (table,),
        )
        .await
        .map_err(q("indexes"))?;
    Ok(TableInfo {
        columns: columns
            .into_iter()
            .map(|(name, column_type, bytes, nullable)| {
                let info = ColumnInfo {
                    column_type,
                    max_bytes: bytes.and_then(|b| u32::try_from(b).ok()),
                    nullable: nullable == "YES",
                };
                (name, info)
            })
            .collect(),
        leading: indexed
            .iter()
            .filter(|(_, seq)| *seq == 1)
            .map(|(c, _)| c.clone())
            .collect(),
        indexed: indexed.into_iter().map(|(c, _)| c).collect(),
    })
}
