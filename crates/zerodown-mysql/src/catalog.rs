//! The live catalog the planner needs: the tables a migration names (columns, indexes,
//! size, row format, triggers, foreign keys to and from them, MySQL's instant row
//! versions, the sessions holding a metadata lock on them where the server can tell),
//! `binlog_format`, and the transactions open now.

use std::collections::BTreeSet;

use mysql_async::prelude::Queryable;
use zerodown_core::engine::{Engine, ServerProfile};
use zerodown_core::mysql::catalog::{MyCatalog, MyTable, OpenTransaction};

use crate::{mdl, server_profile, table_info_in, MyError};

/// The row estimate of `db.table` (`information_schema.TABLES.TABLE_ROWS`, InnoDB's
/// sampled count; `db` None: the session's database), for progress and ETAs.
pub(crate) async fn estimated_rows(
    c: &mut mysql_async::Conn,
    db: Option<&str>,
    table: &str,
) -> Result<Option<u64>, mysql_async::Error> {
    let rows: Option<Option<u64>> = c
        .exec_first(
            "SELECT TABLE_ROWS FROM information_schema.TABLES
              WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
            (db, table),
        )
        .await?;
    Ok(rows.flatten())
}

/// `db.t` -> (Some(db), t); `t` -> (None, t); parts with dots are quoted as
/// [`zerodown_core::sql::name::split_shown`] reads them.
pub fn split_name(name: &str) -> (Option<String>, String) {
    zerodown_core::sql::name::split_shown(name)
}

/// The `sql_mode` flag, if any, under which the server tokenizes differently from
/// zerodown: strings without backslash escapes, or `"…"` as a name.
fn quote_changing_mode(mode: &str) -> Option<&'static str> {
    ["NO_BACKSLASH_ESCAPES", "ANSI_QUOTES"]
        .into_iter()
        .find(|flag| mode.split(',').any(|m| m.trim().eq_ignore_ascii_case(flag)))
}

/// TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH, ROW_FORMAT.
type SizeRow = (Option<u64>, Option<u64>, Option<u64>, Option<String>);

/// Reads the server profile and the catalog of `tables` (names as the migration writes
/// them; a table that does not exist is left out, and the planner reports it).
pub async fn introspect(
    conn: &mut mysql_async::Conn,
    tables: &BTreeSet<String>,
) -> Result<(ServerProfile, MyCatalog), MyError> {
    let q = |what| move |source| MyError::Query { what, source };
    let profile = server_profile(conn).await?;
    let mode: Option<String> = conn
        .query_first("SELECT @@SESSION.sql_mode")
        .await
        .map_err(q("sql_mode"))?;
    if let Some(flag) = quote_changing_mode(mode.as_deref().unwrap_or_default()) {
        return Err(MyError::SqlMode(flag));
    }
    let mut cat = MyCatalog {
        live: true,
        ..MyCatalog::default()
    };
    let binlog: (Option<u64>, Option<String>) = conn
        .query_first("SELECT @@log_bin, @@binlog_format")
        .await
        .map_err(q("binlog settings"))?
        .unwrap_or((None, None));
    cat.binlog_format = match binlog {
        (Some(1), format) => format,
        _ => None,
    };
    cat.open_transactions = mdl::possible_holders(conn)
        .await?
        .into_iter()
        .map(open_transaction)
        .collect();
    for name in tables {
        let (db, table) = split_name(name);
        let (db, table) = (db.as_deref(), table.as_str());
        let size: Option<SizeRow> = conn
            .exec_first(
                "SELECT TABLE_ROWS, DATA_LENGTH, INDEX_LENGTH, ROW_FORMAT
                   FROM information_schema.TABLES
                  WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
                (db, table),
            )
            .await
            .map_err(q("table sizes"))?;
        let Some((mut rows, data, index, row_format)) = size else {
            continue;
        };
        if rows == Some(0) {
            // TABLE_ROWS is an estimate that lags behind a recent fill: empty only if
            // it really is (an empty table gets no online ladder).
            let any: Option<u64> = conn
                .query_first(format!(
                    "SELECT EXISTS (SELECT 1 FROM {})",
                    zerodown_core::sql::quote::mysql_table(name)
                ))
                .await
                .map_err(q("whether the table is empty"))?;
            if any == Some(1) {
                rows = None;
            }
        }
        let triggers: Vec<String> = conn
            .exec(
                "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS
                  WHERE EVENT_OBJECT_SCHEMA = COALESCE(?, DATABASE()) AND EVENT_OBJECT_TABLE = ?",
                (db, table),
            )
            .await
            .map_err(q("triggers"))?;
        let foreign_keys: Vec<String> = conn
            .exec(
                "SELECT DISTINCT CONSTRAINT_NAME FROM information_schema.KEY_COLUMN_USAGE
                  WHERE REFERENCED_TABLE_NAME IS NOT NULL
                    AND ((TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?)
                      OR (REFERENCED_TABLE_SCHEMA = COALESCE(?, DATABASE()) AND REFERENCED_TABLE_NAME = ?))
                  ORDER BY CONSTRAINT_NAME",
                (db, table, db, table),
            )
            .await
            .map_err(q("foreign keys"))?;
        let lock_holders = mdl::holders_of(conn, db, table)
            .await?
            .map(|holders| holders.into_iter().map(open_transaction).collect());
        let total_row_versions = if profile.engine == Engine::MySql
            && zerodown_core::capabilities::instant_row_versions_limit(&profile).is_some()
        {
            conn.exec_first(
                "SELECT TOTAL_ROW_VERSIONS FROM information_schema.INNODB_TABLES
                  WHERE NAME = CONCAT(COALESCE(?, DATABASE()), '/', ?)",
                (db, table),
            )
            .await
            .map_err(q("instant row versions"))?
        } else {
            None
        };
        cat.tables.insert(
            name.clone(),
            MyTable {
                info: table_info_in(conn, db, table).await?,
                known: true,
                new: false,
                rows: rows.map(|r| r as f64),
                data_bytes: data,
                index_bytes: index,
                row_format,
                triggers,
                foreign_keys,
                total_row_versions,
                lock_holders,
            },
        );
    }
    Ok((profile, cat))
}

fn open_transaction(h: mdl::Holder) -> OpenTransaction {
    OpenTransaction {
        id: h.id,
        state: h.command,
        seconds: h.transaction_seconds as f64,
        query: h.query.unwrap_or_default(),
    }
}
