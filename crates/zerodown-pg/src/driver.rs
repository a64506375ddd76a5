//! The PostgreSQL implementation of the executor's `Database`: steps in short
//! transactions with `SET LOCAL lock_timeout / statement_timeout` (which also holds
//! behind PgBouncer in transaction mode), keyset backfill batches committed together
//! with their checkpoint, blockers from `pg_locks`.

use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tokio_postgres::Client;
use zerodown_core::lock::LockMode;
use zerodown_core::plan::{BackfillSpec, Step};
use zerodown_core::sql::quote::{ident, ident_list, literal};
use zerodown_exec::*;

use crate::errors::classify;

/// A connection for the work and one that holds the run lock for the whole run.
pub struct PgDriver {
    conn: String,
    client: Option<Client>,
    lock: Option<Client>,
}

impl PgDriver {
    pub fn new(conn: &str) -> Self {
        PgDriver {
            conn: conn.to_owned(),
            client: None,
            lock: None,
        }
    }

    /// The work connection, reconnecting after a lost one.
    pub async fn client(&mut self) -> Result<&Client, DriverError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = Some(self.connect().await?);
        }
        self.client
            .as_ref()
            .ok_or_else(|| DriverError::permanent("no connection"))
    }

    pub(crate) async fn lock_client(&mut self) -> Result<&Client, DriverError> {
        if self.lock.as_ref().is_none_or(Client::is_closed) {
            self.lock = Some(self.connect().await?);
        }
        self.lock
            .as_ref()
            .ok_or_else(|| DriverError::permanent("no connection"))
    }

    async fn connect(&self) -> Result<Client, DriverError> {
        crate::connect(&self.conn).await.map_err(|e| DriverError {
            class: ErrorClass::ConnectionLost,
            message: e.to_string(),
            code: None,
        })
    }

    async fn run(&mut self, sql: &str) -> Result<(), DriverError> {
        let r = self.client().await?.batch_execute(sql).await;
        r.map_err(|e| self.lost(&e))
    }

    /// Classifies an error and forgets a broken connection.
    fn lost(&mut self, e: &tokio_postgres::Error) -> DriverError {
        let d = classify(e);
        if d.class == ErrorClass::ConnectionLost {
            self.client = None;
        }
        d
    }
}

fn timeouts(lock: Duration, statement: Option<Duration>, local: bool) -> String {
    let scope = if local { "LOCAL " } else { "" };
    format!(
        "SET {scope}lock_timeout = {}; SET {scope}statement_timeout = {}",
        literal(&format!("{}ms", lock.as_millis())),
        literal(&format!("{}ms", statement.map_or(0, |s| s.as_millis())))
    )
}

/// A `schema.table` display name as SQL (`"schema"."table"`).
fn table_sql(display: &str) -> String {
    match display.split_once('.') {
        Some((s, t)) => format!("{}.{}", ident(s), ident(t)),
        None => ident(display),
    }
}

#[async_trait]
impl Database for PgDriver {
    async fn run_step(&mut self, step: &Step) -> Result<Duration, DriverError> {
        let lock = Duration::from_millis(step.lock_timeout_ms);
        let statement = step.statement_timeout_ms.map(Duration::from_millis);
        let t0 = Instant::now();
        if step.transactional {
            self.run(&format!("BEGIN; {}", timeouts(lock, statement, true)))
                .await?;
            for sql in &step.statements {
                if let Err(e) = self.run(sql).await {
                    let _ = self.run("ROLLBACK").await;
                    return Err(e);
                }
            }
            self.run("COMMIT").await?;
        } else {
            // CONCURRENTLY cannot run in a transaction block: session settings, one
            // statement per round trip (several in one would form an implicit block).
            self.run(&timeouts(lock, statement, false)).await?;
            for sql in &step.statements {
                if let Err(e) = self.run(sql).await {
                    let _ = self
                        .run("RESET lock_timeout; RESET statement_timeout")
                        .await;
                    return Err(e);
                }
            }
            self.run("RESET lock_timeout; RESET statement_timeout")
                .await?;
        }
        Ok(t0.elapsed())
    }

    async fn query_bool(&mut self, sql: &str) -> Result<bool, DriverError> {
        let r = self.client().await?.query_one(sql, &[]).await;
        r.map(|row| row.get(0)).map_err(|e| self.lost(&e))
    }

    async fn blockers(&mut self, table: &str) -> Result<Vec<Blocker>, DriverError> {
        let sql = format!(
            "SELECT a.pid, COALESCE(a.state, ''), EXTRACT(EPOCH FROM now() - a.xact_start)::float8,
                    COALESCE(a.query, ''), array_agg(l.mode ORDER BY l.mode)
               FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
              WHERE l.locktype = 'relation' AND l.granted AND l.relation = to_regclass({})
                AND a.pid <> pg_backend_pid()
              GROUP BY 1, 2, 3, 4",
            literal(&table_sql(table))
        );
        let rows = self.client().await?.query(&sql, &[]).await;
        let rows = rows.map_err(|e| self.lost(&e))?;
        Ok(rows
            .into_iter()
            .filter(|r| {
                // Any granted mode stronger than ACCESS SHARE conflicts with some DDL; an
                // ACCESS SHARE holder blocks ACCESS EXCLUSIVE. Both matter to a waiting step.
                r.get::<_, Vec<String>>(4)
                    .iter()
                    .filter_map(|m| LockMode::from_pg_locks_name(m))
                    .any(|m| m.conflicts_with(LockMode::AccessExclusive))
            })
            .map(|r| Blocker {
                pid: r.get(0),
                state: r.get(1),
                transaction_seconds: r.get(2),
                query: r.get(3),
            })
            .collect())
    }

    async fn terminate(&mut self, pid: i32) -> Result<bool, DriverError> {
        let r = self
            .client()
            .await?
            .query_one("SELECT pg_terminate_backend($1)", &[&pid])
            .await;
        r.map(|row| row.get(0)).map_err(|e| self.lost(&e))
    }

    async fn drop_invalid_index(&mut self, index: &str) -> Result<bool, DriverError> {
        // The index itself, or REINDEX CONCURRENTLY's <name>_ccnew leftovers.
        let rows = self
            .client()
            .await?
            .query(
                "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
                   FROM pg_catalog.pg_index i
                   JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
                   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                  WHERE NOT i.indisvalid
                    AND (i.indexrelid = to_regclass($1)
                         OR (to_regclass($1) IS NOT NULL AND i.indrelid = (SELECT indrelid FROM pg_catalog.pg_index WHERE indexrelid = to_regclass($1))
                             AND c.relname LIKE (SELECT relname FROM pg_catalog.pg_class WHERE oid = to_regclass($1)) || '\\_ccnew%'))",
                &[&index],
            )
            .await;
        let rows = rows.map_err(|e| self.lost(&e))?;
        for r in &rows {
            let name: String = r.get(0);
            self.run(&format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"))
                .await?;
        }
        Ok(!rows.is_empty())
    }

    async fn backfill_key(&mut self, spec: &BackfillSpec) -> Result<BackfillKey, DriverError> {
        let table = table_sql(&spec.table);
        let rows = if spec.key.is_empty() {
            self.client()
                .await?
                .query(
                    "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod)
                       FROM pg_catalog.pg_index i
                       JOIN LATERAL unnest(i.indkey) WITH ORDINALITY k(attnum, ord) ON true
                       JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                      WHERE i.indrelid = to_regclass($1) AND i.indisprimary
                      ORDER BY k.ord",
                    &[&table],
                )
                .await
        } else {
            self.client()
                .await?
                .query(
                    "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod)
                       FROM unnest($2::text[]) WITH ORDINALITY k(name, ord)
                       JOIN pg_catalog.pg_attribute a ON a.attrelid = to_regclass($1) AND a.attname = k.name
                      ORDER BY k.ord",
                    &[&table, &spec.key],
                )
                .await
        };
        let rows = rows.map_err(|e| self.lost(&e))?;
        if rows.is_empty() {
            return Err(DriverError::permanent(format!(
                "{} has no primary key: a batched backfill needs a unique NOT NULL key to walk; add a primary key first",
                spec.table
            )));
        }
        let estimate = self
            .client()
            .await?
            .query_one(
                "SELECT reltuples::float8 FROM pg_catalog.pg_class WHERE oid = to_regclass($1)",
                &[&table],
            )
            .await;
        let estimated_rows = estimate
            .ok()
            .and_then(|r| r.get::<_, Option<f64>>(0))
            .filter(|r| *r >= 0.0)
            .map(|r| r as u64);
        Ok(BackfillKey {
            columns: rows.iter().map(|r| r.get(0)).collect(),
            types: rows.iter().map(|r| r.get(1)).collect(),
            estimated_rows,
        })
    }

    async fn backfill_batch(
        &mut self,
        at: &Checkpoint<'_>,
        spec: &BackfillSpec,
        key: &BackfillKey,
        after: Option<&[String]>,
        limit: u32,
        lock_timeout: Duration,
        statement_timeout: Option<Duration>,
    ) -> Result<BatchOutcome, DriverError> {
        let sql = batch_sql(spec, key, after.is_some(), limit);
        let settings = format!("BEGIN; {}", timeouts(lock_timeout, statement_timeout, true));
        self.run(&settings).await?;
        let params: Vec<String> = after.map(<[String]>::to_vec).unwrap_or_default();
        let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
            .iter()
            .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        let result = self.client().await?.query_one(&sql, &refs).await;
        let row = match result {
            Ok(row) => row,
            Err(e) => {
                let d = self.lost(&e);
                let _ = self.run("ROLLBACK").await;
                return Err(d);
            }
        };
        let out = BatchOutcome {
            scanned: u64::try_from(row.get::<_, i64>(0)).unwrap_or(0),
            updated: u64::try_from(row.get::<_, i64>(1)).unwrap_or(0),
            last_key: row.get(2),
        };
        let step = i32::try_from(at.step).unwrap_or(i32::MAX);
        let updated = i64::try_from(out.updated).unwrap_or(i64::MAX);
        let size = i32::try_from(limit).unwrap_or(i32::MAX);
        let ckpt = self
            .client()
            .await?
            .execute(
                "UPDATE zerodown.steps SET rows_done = rows_done + $3, last_key = COALESCE($4, last_key), batch_size = $5
                  WHERE migration_id = $1 AND step_no = $2",
                &[&at.migration, &step, &updated, &out.last_key, &size],
            )
            .await;
        if let Err(e) = ckpt {
            let d = self.lost(&e);
            let _ = self.run("ROLLBACK").await;
            return Err(d);
        }
        self.run("COMMIT").await?;
        Ok(out)
    }

    async fn replica_lag(&mut self) -> Result<Option<Duration>, DriverError> {
        let r = self
            .client()
            .await?
            .query_one(
                "SELECT max(COALESCE(EXTRACT(EPOCH FROM replay_lag), 0))::float8 FROM pg_catalog.pg_stat_replication",
                &[],
            )
            .await;
        let lag: Option<f64> = r.map(|row| row.get(0)).map_err(|e| self.lost(&e))?;
        Ok(lag.map(Duration::from_secs_f64))
    }
}

/// One keyset batch: the next `limit` keys after the last one, the update of those that
/// still need it, and the range's last key (as text, to resume from).
pub fn batch_sql(spec: &BackfillSpec, key: &BackfillKey, has_after: bool, limit: u32) -> String {
    let table = table_sql(&spec.table);
    let aliases: Vec<String> = (0..key.columns.len()).map(|i| format!("zd_k{i}")).collect();
    let select: Vec<String> = key
        .columns
        .iter()
        .zip(&aliases)
        .map(|(c, a)| format!("{} AS {a}", ident(c)))
        .collect();
    let after = if has_after {
        let params: Vec<String> = key
            .types
            .iter()
            .enumerate()
            .map(|(i, t)| format!("(${}::text)::{t}", i + 1))
            .collect();
        format!(
            "WHERE ({}) > ({})",
            ident_list(&key.columns),
            params.join(", ")
        )
    } else {
        String::new()
    };
    let set: Vec<String> = spec
        .set
        .iter()
        .map(|a| format!("{} = {}", ident(&a.column), a.expr))
        .collect();
    let join: Vec<String> = key
        .columns
        .iter()
        .map(|c| format!("{table}.{}", ident(c)))
        .collect();
    let filter = spec
        .filter
        .as_ref()
        .map(|f| format!(" AND ({f})"))
        .unwrap_or_default();
    let last: Vec<String> = aliases.iter().map(|a| format!("{a}::text")).collect();
    let order_desc: Vec<String> = aliases.iter().map(|a| format!("{a} DESC")).collect();
    format!(
        "WITH zd_batch AS (SELECT {select} FROM {table} {after} ORDER BY {order} LIMIT {limit}), \
         zd_upd AS (UPDATE {table} SET {set} FROM zd_batch WHERE ({join}) = ({alias_list}){filter} RETURNING 1) \
         SELECT (SELECT count(*) FROM zd_batch), (SELECT count(*) FROM zd_upd), \
         (SELECT ARRAY[{last}] FROM zd_batch ORDER BY {order_desc} LIMIT 1)",
        select = select.join(", "),
        order = ident_list(&key.columns),
        set = set.join(", "),
        join = join.join(", "),
        alias_list = aliases.join(", "),
        last = last.join(", "),
        order_desc = order_desc.join(", "),
    )
}
