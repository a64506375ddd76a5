//! What the online rebuild reads of the server and the table: the preconditions it
//! refuses without, the key, the columns it copies and compares, and the tables it made.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use zerodown_core::mysql::catalog::unfollowable_key;
use zerodown_core::sql::quote::mysql_literal;
use zerodown_exec::DriverError;

use super::binlog::KeyColumn;
use super::{one, refuse, Rebuild, State};
use crate::errors::classify;

pub(super) async fn exists(c: &mut Conn, db: &str, table: &str) -> Result<bool, DriverError> {
    let n: Option<u64> = one(
        c,
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
        vec![db.into(), table.into()],
    )
    .await?;
    Ok(n == Some(1))
}

/// A swap whose state write was lost in a crash: the old table is there, the shadow gone.
pub(super) async fn swapped_already(
    c: &mut Conn,
    rb: &Rebuild,
    state: &State,
) -> Result<bool, DriverError> {
    Ok(state.copy_done
        && exists(c, &rb.db, &rb.old).await?
        && !exists(c, &rb.db, &rb.shadow).await?)
}

/// Whether `name` is the cut-over sentry of this rebuild: a table of one column named
/// `sentry` with the rebuild's own comment, which may be dropped; anything else under
/// that name is someone's data.
pub(crate) async fn is_sentry(c: &mut Conn, rb: &Rebuild, name: &str) -> Result<bool, DriverError> {
    let cols: Vec<String> = c
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (&rb.db, name),
        )
        .await
        .map_err(|e| classify(&e))?;
    let comment: Option<String> = c
        .exec_first(
            "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (&rb.db, name),
        )
        .await
        .map_err(|e| classify(&e))?;
    Ok(cols == ["sentry"] && comment.is_some_and(|c| c == rb.sentry_comment()))
}

/// What the rebuild needs of the server and the table; a clear refusal otherwise.
pub(super) async fn preconditions(c: &mut Conn, rb: &Rebuild) -> Result<(), DriverError> {
    if exists(c, &rb.db, &rb.old).await? && !is_sentry(c, rb, &rb.old).await? {
        return Err(refuse(format!(
            "{} exists and zerodown did not make it (the old table of an earlier rebuild?): the online rebuild needs that name for its cut-over; rename or drop it first; nothing was changed",
            rb.old
        )));
    }
    let vars: Option<(u64, String, String)> = one(
        c,
        "SELECT @@log_bin, @@binlog_format, @@binlog_row_image",
        Vec::new(),
    )
    .await?;
    match vars {
        Some((1, format, image)) if format == "ROW" && image == "FULL" => {}
        Some((log_bin, format, image)) => {
            return Err(refuse(format!(
                "the online rebuild reads changes from the binary log, which needs log_bin=ON, binlog_format=ROW and binlog_row_image=FULL (the server has log_bin={log_bin}, binlog_format={format}, binlog_row_image={image}); nothing was changed"
            )))
        }
        None => return Err(refuse("cannot read the binary log settings".into())),
    }
    let (db, t) = (mysql_literal(&rb.db), mysql_literal(&rb.table));
    let triggers: Option<u64> = one(
        c,
        &format!("SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = {db} AND EVENT_OBJECT_TABLE = {t}"),
        Vec::new(),
    )
    .await?;
    if triggers.unwrap_or(0) > 0 {
        return Err(refuse(format!(
            "{} has triggers: they would stay with the old table at the cut-over; nothing was changed",
            rb.table
        )));
    }
    let fks: Option<u64> = one(
        c,
        &format!("SELECT COUNT(*) FROM information_schema.KEY_COLUMN_USAGE WHERE REFERENCED_TABLE_NAME IS NOT NULL AND ((TABLE_SCHEMA = {db} AND TABLE_NAME = {t}) OR (REFERENCED_TABLE_SCHEMA = {db} AND REFERENCED_TABLE_NAME = {t}))"),
        Vec::new(),
    )
    .await?;
    if fks.unwrap_or(0) > 0 {
        return Err(refuse(format!(
            "{} has foreign keys (to or from it): they would point at the old table after the cut-over; nothing was changed",
            rb.table
        )));
    }
    Ok(())
}

pub(super) async fn key_columns(c: &mut Conn, rb: &Rebuild) -> Result<Vec<String>, DriverError> {
    let cols: Vec<String> = c
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.STATISTICS
              WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
            (rb.db.clone(), rb.table.clone()),
        )
        .await
        .map_err(|e| classify(&e))?;
    if cols.is_empty() {
        return Err(refuse(format!(
            "{} has no primary key: the online rebuild copies and follows rows by it; nothing was changed",
            rb.table
        )));
    }
    Ok(cols)
}

/// Whether the shadow's primary key is the table's and its only unique key.
pub(super) async fn only_primary_unique(c: &mut Conn, rb: &Rebuild) -> Result<bool, DriverError> {
    let rows: Vec<(String, String)> = c
        .exec(
            "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS
              WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0
              ORDER BY INDEX_NAME, SEQ_IN_INDEX",
            (rb.db.clone(), rb.shadow.clone()),
        )
        .await
        .map_err(|e| classify(&e))?;
    Ok(rows.iter().all(|(index, _)| index == "PRIMARY")
        && rows.iter().map(|(_, col)| col).eq(rb.key.iter()))
}

/// Where each key column is in the table's rows, and for an integer column its width and
/// whether it is unsigned (the binary log reader must read such values as unsigned).
/// Refuses a key the reader cannot follow (see [`unfollowable_key`]), before anything changes.
pub(super) async fn key_positions(
    c: &mut Conn,
    rb: &Rebuild,
) -> Result<Vec<KeyColumn>, DriverError> {
    type Column = (String, u64, String, String, Option<String>);
    let columns: Vec<Column> = c
        .exec(
            "SELECT COLUMN_NAME, ORDINAL_POSITION, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME
               FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (rb.db.clone(), rb.table.clone()),
        )
        .await
        .map_err(|e| classify(&e))?;
    rb.key
        .iter()
        .map(|k| {
            let (_, p, data_type, column_type, charset) = columns
                .iter()
                .find(|(c, ..)| c == k)
                .ok_or_else(|| refuse(format!("key column {k} not found")))?;
            if let Some(why) = unfollowable_key(data_type, charset.as_deref()) {
                return Err(refuse(format!(
                    "{}: the online rebuild cannot follow its primary key column `{k}` ({column_type}{}): {why}, and changes made during the copy would be lost; nothing was changed. Convert the key to utf8mb4 first, or make the change as a blocking ALTER TABLE in a quiet window",
                    rb.table,
                    charset.as_deref().map(|c| format!(" {c}")).unwrap_or_default(),
                )));
            }
            Ok(KeyColumn {
                position: (*p as usize).saturating_sub(1),
                integer_bits: integer_bits(data_type),
                unsigned: column_type.to_ascii_lowercase().contains("unsigned"),
            })
        })
        .collect()
}

fn integer_bits(data_type: &str) -> Option<u32> {
    match data_type {
        "tinyint" => Some(8),
        "smallint" => Some(16),
        "mediumint" => Some(24),
        "int" => Some(32),
        "bigint" => Some(64),
        _ => None,
    }
}

/// Columns of the shadow table that the table also has, in the shadow's order, and the
/// checksum's expression for each: NULL told from '' where either side allows NULL, text
/// compared as utf8mb4 where the character sets differ (else as stored: cheaper).
pub(super) async fn shared_columns(
    c: &mut Conn,
    rb: &Rebuild,
) -> Result<(Vec<String>, Vec<String>), DriverError> {
    type Row = (String, String, String, Option<String>, Option<String>);
    let rows: Vec<Row> = c
        .exec(
            "SELECT n.COLUMN_NAME, n.IS_NULLABLE, o.IS_NULLABLE, n.CHARACTER_SET_NAME, o.CHARACTER_SET_NAME
               FROM information_schema.COLUMNS n
               JOIN information_schema.COLUMNS o
                 ON o.TABLE_SCHEMA = n.TABLE_SCHEMA AND o.TABLE_NAME = ? AND o.COLUMN_NAME = n.COLUMN_NAME
              WHERE n.TABLE_SCHEMA = ? AND n.TABLE_NAME = ? AND n.EXTRA NOT LIKE '%GENERATED%'
              ORDER BY n.ORDINAL_POSITION",
            (rb.table.clone(), rb.db.clone(), rb.shadow.clone()),
        )
        .await
        .map_err(|e| classify(&e))?;
    let mut columns = Vec::new();
    let mut parts = Vec::new();
    for (name, new_null, old_null, new_cs, old_cs) in rows {
        let q = zerodown_core::sql::quote::mysql_ident(&name);
        if new_null == "YES" || old_null == "YES" {
            parts.push(format!("ISNULL({q})"));
        }
        parts.push(if new_cs != old_cs {
            format!("CONVERT({q} USING utf8mb4)")
        } else {
            q
        });
        columns.push(name);
    }
    Ok((columns, parts))
}
