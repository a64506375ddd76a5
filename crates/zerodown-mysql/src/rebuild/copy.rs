//! The rows of the online rebuild: chunks copied by key range, changed rows copied
//! again, and chunk checksums compared. Every chunk deletes its range from the shadow
//! table and inserts it from the table in one transaction, with the checkpoint; a changed
//! row is deleted and inserted again from the table, so repeating anything is harmless and
//! a value that does not fit the new definition is an error, never truncated.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};
use zerodown_core::sql::quote::mysql_ident;
use zerodown_exec::DriverError;

use super::Rebuild;
pub(crate) use crate::driver::key_compare as compare;
use crate::driver::{columns_sql, in_transaction};
use crate::errors::classify;

/// The copy's reads of the table: consistent reads, no locks on its rows.
const READ_COMMITTED: &str = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED";

/// Tries of one batch of changed rows (a deadlock with a client is retried).
const RECOPY_ATTEMPTS: u64 = 5;

impl Rebuild {
    /// A key's values as parameters: numbers for a key of one integer column (compared
    /// with a string, an integer is compared as a double, inexact past 2^53).
    fn values(&self, key: &[String]) -> Vec<Value> {
        match self.int_key(key) {
            Some(v) => vec![super::buckets::int_value(v)],
            None => key.iter().map(|v| Value::from(v.clone())).collect(),
        }
    }

    /// The key's columns as text, as the copy's positions and the binary log's keys are.
    fn key_text(&self) -> String {
        self.key
            .iter()
            .map(|k| format!("CAST({} AS CHAR)", mysql_ident(k)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The key of a row read with [`Rebuild::key_text`].
    fn key_of(&self, r: &mysql_async::Row) -> Vec<String> {
        (0..self.key.len())
            .map(|i| r.get::<Option<String>, _>(i).flatten().unwrap_or_default())
            .collect()
    }

    /// The key `limit` rows after `after` (or the table's last key), None at the end.
    pub async fn chunk_end(
        &self,
        c: &mut Conn,
        after: Option<&[String]>,
        limit: u32,
    ) -> Result<Option<Vec<String>>, DriverError> {
        let keys_text = self.key_text();
        let (cond, params) = match after {
            Some(a) => (format!("WHERE {}", compare(&self.key, ">")), self.values(a)),
            None => (String::new(), Vec::new()),
        };
        let order = columns_sql(&self.key);
        let sql = |tail: &str| {
            format!(
                "SELECT {keys_text} FROM {} {cond} ORDER BY {order}{tail}",
                self.source_sql()
            )
        };
        let row: Option<mysql_async::Row> = c
            .exec_first(
                sql(&format!(" LIMIT 1 OFFSET {}", limit.max(1) - 1)),
                params.clone(),
            )
            .await
            .map_err(|e| classify(&e))?;
        let row = match row {
            Some(r) => Some(r),
            None => {
                let desc = columns_sql(&self.key)
                    .split(", ")
                    .map(|c| format!("{c} DESC"))
                    .collect::<Vec<_>>()
                    .join(", ");
                c.exec_first(
                    format!(
                        "SELECT {keys_text} FROM {} {cond} ORDER BY {desc} LIMIT 1",
                        self.source_sql()
                    ),
                    params,
                )
                .await
                .map_err(|e| classify(&e))?
            }
        };
        Ok(row.map(|r| self.key_of(&r)))
    }

    /// `INSERT INTO shadow (…) SELECT … FROM table WHERE {tail}`: the copy's statement.
    fn insert_select(&self, tail: &str) -> String {
        let cols = columns_sql(&self.columns);
        format!(
            "INSERT INTO {} ({cols}) SELECT {cols} FROM {} WHERE {tail}",
            self.shadow_sql(),
            self.source_sql()
        )
    }

    /// The range condition `after < key <= upto` and its parameters.
    fn range(&self, after: Option<&[String]>, upto: &[String]) -> (String, Vec<Value>) {
        let mut cond = Vec::new();
        let mut params = Vec::new();
        if let Some(a) = after {
            cond.push(compare(&self.key, ">"));
            params.extend(self.values(a));
        }
        cond.push(compare(&self.key, "<="));
        params.extend(self.values(upto));
        (cond.join(" AND "), params)
    }

    /// Copies the rows of one range (first deleted from the shadow, where replays or an
    /// earlier copy may have put some) and moves the checkpoint, in one transaction.
    /// Returns the rows copied.
    pub async fn copy_chunk(
        &self,
        c: &mut Conn,
        after: Option<&[String]>,
        upto: &[String],
    ) -> Result<u64, DriverError> {
        let (cond, params) = self.range(after, upto);
        let delete = format!("DELETE FROM {} WHERE {cond}", self.shadow_sql());
        let insert = self.insert_select(&cond);
        let checkpoint = self.checkpoint_sql();
        let state = serde_json::json!({ "copied_to": upto }).to_string();
        in_transaction(c, Some(READ_COMMITTED), async |c| {
            c.exec_drop(delete, params.clone()).await?;
            c.exec_drop(insert, params).await?;
            let copied = c.affected_rows();
            c.exec_drop(checkpoint, self.checkpoint_params(copied, Some(state)))
                .await?;
            Ok(copied)
        })
        .await
        .map_err(|e| classify(&e))
    }

    /// Past the copy's mark with a key of one integer column: copies the next two chunks
    /// of `limit` rows at once, the first on `c` and the second on `second`, each in a
    /// transaction of its own. Clients that wait for their commits' fsyncs leave CPU a
    /// single stream cannot use (two streams copied 1.3-1.6 x as fast under load:
    /// BENCHMARKS.md, session 10). The checkpoint moves to the last key copied once both
    /// have committed, so after a crash the shadow may hold rows past it:
    /// [`Rebuild::drop_past_mark`] removes them before the copy goes on. Returns the last
    /// key copied and the rows copied, None at the end of the table.
    pub async fn copy_pair(
        &self,
        c: &mut Conn,
        second: &mut Conn,
        after: i128,
        limit: u32,
    ) -> Result<Option<(Vec<String>, u64)>, DriverError> {
        let from = [after.to_string()];
        let Some(mid) = self.chunk_end(c, Some(&from), limit).await? else {
            return Ok(None);
        };
        let key = mysql_ident(&self.key[0]);
        let (cond, params) = self.range(Some(&from), &mid);
        let first = self.insert_select(&cond);
        let next = self.insert_select(&format!("{key} > ? ORDER BY {key} LIMIT {limit}"));
        let last = format!(
            "SELECT CAST(MAX({key}) AS CHAR) FROM {} WHERE {key} > ?",
            self.shadow_sql()
        );
        let past = self.values(&mid);
        // Both run to their end (a failed one must not leave the other's transaction open).
        let (first, next) = tokio::join!(
            in_transaction(c, Some(READ_COMMITTED), async |c| {
                c.exec_drop(first, params).await?;
                Ok(c.affected_rows())
            }),
            in_transaction(second, Some(READ_COMMITTED), async |s| {
                s.exec_drop(next, past.clone()).await?;
                let copied = s.affected_rows();
                let last: Option<Option<String>> = s.exec_first(last, past).await?;
                Ok((copied, last.flatten()))
            }),
        );
        let q = |e: mysql_async::Error| classify(&e);
        let (copied, (more, last)) = (first.map_err(q)?, next.map_err(q)?);
        let upto = match last {
            Some(last) if more > 0 => vec![last],
            _ => mid,
        };
        let state = serde_json::json!({ "copied_to": &upto }).to_string();
        c.exec_drop(
            self.checkpoint_sql(),
            self.checkpoint_params(copied + more, Some(state)),
        )
        .await
        .map_err(q)?;
        Ok(Some((upto, copied + more)))
    }

    /// Before the copy goes on from `mark` (a key of one integer column): deletes the
    /// shadow's rows past it, which a [`Rebuild::copy_pair`] cut short by a crash may
    /// have committed (nothing else writes past the mark during the copy).
    pub async fn drop_past_mark(&self, c: &mut Conn, mark: i128) -> Result<(), DriverError> {
        let key = mysql_ident(&self.key[0]);
        c.exec_drop(
            format!("DELETE FROM {} WHERE {key} > ?", self.shadow_sql()),
            (super::buckets::int_value(mark),),
        )
        .await
        .map_err(|e| classify(&e))
    }

    /// `key IN (…)` for a batch of keys: the key expression, the list, the parameters.
    pub fn key_list(&self, batch: &[Vec<String>]) -> (String, String, Vec<Value>) {
        let one = if self.key.len() == 1 {
            "?".to_owned()
        } else {
            format!("({})", vec!["?"; self.key.len()].join(", "))
        };
        let key = if self.key.len() == 1 {
            mysql_ident(&self.key[0])
        } else {
            format!("({})", columns_sql(&self.key))
        };
        let params = batch.iter().flat_map(|k| self.values(k)).collect();
        (key, vec![one; batch.len()].join(", "), params)
    }

    /// Copies the given rows again from the table (deleted there: deleted here too),
    /// each batch in a transaction — or, on a session holding LOCK TABLES (`locked`),
    /// statement by statement: starting a transaction would release its locks, and
    /// nobody else can see between the two statements.
    pub async fn recopy(
        &self,
        c: &mut Conn,
        keys: &[Vec<String>],
        locked: bool,
    ) -> Result<(), DriverError> {
        for batch in keys.chunks(500) {
            if locked {
                let [delete, write] = self.recopy_sql(batch, None);
                let done = async {
                    c.exec_drop(&delete.0, delete.1).await?;
                    c.exec_drop(&write.0, write.1).await
                }
                .await;
                done.map_err(|e| classify(&e))?;
                continue;
            }
            let mut attempt = 0;
            loop {
                attempt += 1;
                let Err(e) = self.recopy_batch(c, batch).await else {
                    break;
                };
                // A client's transaction that locked these rows in another order.
                if attempt >= RECOPY_ATTEMPTS || !e.class.retryable() {
                    return Err(e);
                }
                tokio::time::sleep(std::time::Duration::from_millis(20 * attempt)).await;
            }
        }
        Ok(())
    }

    /// One batch of [`Rebuild::recopy`] while clients write.
    async fn recopy_batch(&self, c: &mut Conn, batch: &[Vec<String>]) -> Result<(), DriverError> {
        // A transaction is in the binary log before InnoDB commits it (two-phase commit:
        // prepare, binlog write, engine commit), so its event can arrive while a plain
        // read of its rows still returns the old version, and the change, its key
        // already taken, would never be copied. A locking read waits for such writers to
        // finish. It is a statement of its own (autocommit): its share locks go when it
        // ends, so a client never waits for the copy's writes and commit (a later change
        // has an event of its own and is copied again). The copy then reads the rows as
        // committed (READ COMMITTED: a consistent read, no locks on the table).
        let (key, list, params) = self.key_list(batch);
        let lock = format!(
            "SELECT {} FROM {} WHERE {key} IN ({list}) LOCK IN SHARE MODE",
            self.key_text(),
            self.source_sql()
        );
        let q = |e: mysql_async::Error| classify(&e);
        c.query_drop(READ_COMMITTED).await.map_err(q)?;
        let present: Vec<mysql_async::Row> = c.exec(lock, params).await.map_err(q)?;
        let present: std::collections::HashSet<Vec<String>> =
            present.iter().map(|r| self.key_of(r)).collect();
        let gone: Vec<Vec<String>> = batch
            .iter()
            .filter(|k| !present.contains(*k))
            .cloned()
            .collect();
        let [delete, write] = self.recopy_sql(batch, Some(&gone));
        in_transaction(c, Some(READ_COMMITTED), async |c| {
            if !delete.1.is_empty() {
                c.exec_drop(&delete.0, delete.1).await?;
            }
            c.exec_drop(&write.0, write.1).await
        })
        .await
        .map_err(q)
    }

    /// The delete from the shadow and the write into it that copy `batch` again, each
    /// with its parameters. Where the primary key is the shadow's only unique key,
    /// REPLACE rewrites a row in place (about half the work of delete + insert) and only
    /// rows gone from the table are deleted: `gone`, or those the table no longer has.
    /// With another unique key a REPLACE could delete a different row on a conflict:
    /// delete + insert, where a conflict is an error. (A key taken for gone that is not
    /// is deleted, then written again: more work, never a row lost.)
    fn recopy_sql(
        &self,
        batch: &[Vec<String>],
        gone: Option<&[Vec<String>]>,
    ) -> [(String, Vec<Value>); 2] {
        let cols = columns_sql(&self.columns);
        let (shadow, source) = (self.shadow_sql(), self.source_sql());
        let (key, list, params) = self.key_list(batch);
        let write = format!(
            "{} INTO {shadow} ({cols}) SELECT {cols} FROM {source} WHERE {key} IN ({list})",
            if self.upsert { "REPLACE" } else { "INSERT" }
        );
        let delete = match gone {
            _ if !self.upsert => (
                format!("DELETE FROM {shadow} WHERE {key} IN ({list})"),
                params.clone(),
            ),
            Some([]) => (String::new(), Vec::new()),
            Some(gone) => {
                let (key, list, gone_params) = self.key_list(gone);
                (
                    format!("DELETE FROM {shadow} WHERE {key} IN ({list})"),
                    gone_params,
                )
            }
            None => {
                let mut twice = params.clone();
                twice.extend(params.iter().cloned());
                (
                    format!("DELETE FROM {shadow} WHERE {key} IN ({list}) AND {key} NOT IN (SELECT {key} FROM {source} WHERE {key} IN ({list}))"),
                    twice,
                )
            }
        };
        [delete, (write, params)]
    }

    /// Row count and checksum of one range in `table_sql`.
    pub async fn checksum(
        &self,
        c: &mut Conn,
        table_sql: &str,
        after: Option<&[String]>,
        upto: &[String],
    ) -> Result<(u64, u64), DriverError> {
        let (cond, params) = self.range(after, upto);
        self.sums_where(c, table_sql, &cond, params).await
    }

    /// `COUNT(*), BIT_XOR(CRC32(…))` of the rows: their count and the checksum of their
    /// compared columns (the 0x1F separator keeps ('ab','c') apart from ('a','bc')).
    pub(super) fn sums_sql(&self) -> String {
        format!(
            "COUNT(*), BIT_XOR(CRC32(CONCAT_WS(0x1F, {})))",
            self.check_parts.join(", ")
        )
    }

    /// Row count and checksum of the rows of `table_sql` where `cond` holds.
    pub(super) async fn sums_where(
        &self,
        c: &mut Conn,
        table_sql: &str,
        cond: &str,
        params: Vec<Value>,
    ) -> Result<(u64, u64), DriverError> {
        let row: Option<(u64, Option<u64>)> = c
            .exec_first(
                format!("SELECT {} FROM {table_sql} WHERE {cond}", self.sums_sql()),
                params,
            )
            .await
            .map_err(|e| classify(&e))?;
        let (n, sum) = row.unwrap_or((0, None));
        Ok((n, sum.unwrap_or(0)))
    }
}
