//! Keyset batches on MySQL/MariaDB: the keys of the next range read first, then the
//! range's UPDATE and the checkpoint committed in one short transaction, so rows stay
//! locked only for one batch and a crash loses nothing. Under READ COMMITTED (when the
//! binlog allows it) InnoDB takes no gap locks, so inserts into the range never wait.

use mysql_async::prelude::Queryable;
use zerodown_core::plan::BackfillSpec;
use zerodown_core::sql::quote::mysql_ident;
use zerodown_exec::*;

use crate::catalog::estimated_rows;
use crate::driver::{
    columns_sql, in_transaction, key_compare as compare, schema_and_table, table_sql, MyDriver,
};
use crate::key_values;
use crate::state::STATE_DB;

/// The key to walk: the spec's, or the primary key.
pub async fn key(d: &mut MyDriver, spec: &BackfillSpec) -> Result<BackfillKey, DriverError> {
    let (db, table) = schema_and_table(&spec.table);
    let rows: Vec<(String, String)> = d
        .with_conn("", async |c, _| {
            c.exec(
                "SELECT LOWER(s.COLUMN_NAME), c.DATA_TYPE
                   FROM information_schema.STATISTICS s
                   JOIN information_schema.COLUMNS c
                     ON c.TABLE_SCHEMA = s.TABLE_SCHEMA AND c.TABLE_NAME = s.TABLE_NAME
                    AND c.COLUMN_NAME = s.COLUMN_NAME
                  WHERE s.TABLE_SCHEMA = COALESCE(?, DATABASE()) AND s.TABLE_NAME = ?
                    AND s.INDEX_NAME = 'PRIMARY'
                  ORDER BY s.SEQ_IN_INDEX",
                (db.clone(), table.clone()),
            )
            .await
        })
        .await?;
    let estimated = d
        .with_conn("", async |c, _| {
            estimated_rows(c, db.as_deref(), &table).await
        })
        .await?;
    let (columns, types): (Vec<String>, Vec<String>) = if spec.key.is_empty() {
        rows.into_iter().unzip()
    } else {
        let types = spec
            .key
            .iter()
            .map(|k| {
                rows.iter()
                    .find(|(c, _)| c == &k.to_ascii_lowercase())
                    .map(|(_, t)| t.clone())
                    .unwrap_or_default()
            })
            .collect();
        (spec.key.clone(), types)
    };
    // READ COMMITTED writes need row-based binary logging (MySQL refuses them with
    // STATEMENT), and take no gap locks: inserts into a batch's range never wait.
    let row_binlog: Option<Option<i64>> = d
        .with_conn("", async |c, _| {
            c.query_first("SELECT @@log_bin = 0 OR @@binlog_format = 'ROW'")
                .await
        })
        .await?;
    d.read_committed = row_binlog.flatten() == Some(1);
    if columns.is_empty() {
        return Err(DriverError::permanent(format!(
            "{} has no primary key: a backfill walks the table by its key in small ranges; add a primary key first",
            spec.table
        )));
    }
    Ok(BackfillKey {
        columns,
        types,
        estimated_rows: estimated,
    })
}

/// One batch: the next `limit` keys after `after`, their rows updated and the
/// checkpoint moved, in one transaction.
pub async fn batch(
    d: &mut MyDriver,
    at: &Checkpoint<'_>,
    spec: &BackfillSpec,
    key: &BackfillKey,
    after: Option<&[String]>,
    limit: u32,
) -> Result<BatchOutcome, DriverError> {
    let table = table_sql(&spec.table);
    let cols = &key.columns;
    let mut range = Vec::new();
    let mut params: Vec<mysql_async::Value> = Vec::new();
    if let Some(after) = after {
        range.push(compare(cols, ">"));
        for v in after {
            params.push(key_values::decode(v).ok_or_else(|| {
                DriverError::permanent(format!(
                    "the backfill's checkpoint holds a damaged key ({v}): abort the migration and apply it again"
                ))
            })?);
        }
    }
    let where_after = if range.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", range[0])
    };
    let tag = d.tag();
    let keys: Vec<mysql_async::Row> = d
        .with_conn(
            format!(
                "{tag}SELECT {} FROM {table} {where_after} ORDER BY {} LIMIT {limit}",
                columns_sql(cols),
                columns_sql(cols)
            ),
            async |c, sql| c.exec(sql, params.clone()).await,
        )
        .await?;
    let Some(last) = keys.last() else {
        return Ok(BatchOutcome::default());
    };
    // The last key in its own types: bound as they are, kept as typed text.
    let last_values: Vec<mysql_async::Value> = (0..cols.len())
        .map(|i| last.as_ref(i).cloned().unwrap_or(mysql_async::Value::NULL))
        .collect();
    let last_key: Vec<String> = last_values.iter().map(key_values::encode).collect();
    range.push(compare(cols, "<="));
    params.extend(last_values);
    if let Some(f) = &spec.filter {
        range.push(format!("({f})"));
    }
    let set = spec
        .set
        .iter()
        .map(|a| format!("{} = {}", mysql_ident(&a.column), a.expr))
        .collect::<Vec<_>>()
        .join(", ");
    let update = format!(
        "{tag}UPDATE {table} SET {set} WHERE {}",
        range.join(" AND ")
    );
    let checkpoint = format!(
        "UPDATE {STATE_DB}.steps SET rows_done = rows_done + ?, last_key = ?, batch_size = ?
          WHERE db = ? AND migration_id = ? AND step_no = ?"
    );
    let last_json = serde_json::to_string(&last_key).unwrap_or_default();
    let (db, migration, step) = (d.database.clone(), at.migration.to_owned(), at.step as u64);
    let scanned = keys.len() as u64;
    let isolation = if d.read_committed {
        "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"
    } else {
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"
    };
    let updated = d
        .with_conn(update, async |c, update| {
            in_transaction(c, Some(isolation), async |c| {
                c.exec_drop(update, params).await?;
                let changed = c.affected_rows();
                c.exec_drop(checkpoint, (changed, last_json, limit, db, migration, step))
                    .await?;
                Ok(changed)
            })
            .await
        })
        .await?;
    Ok(BatchOutcome {
        scanned,
        updated,
        last_key: Some(last_key),
    })
}
