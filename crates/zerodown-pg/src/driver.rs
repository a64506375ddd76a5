//! The PostgreSQL implementation of the executor's `Database`: steps in short
//! transactions with `SET LOCAL lock_timeout / statement_timeout` (which also holds
//! behind PgBouncer in transaction mode), keyset backfill batches committed together
//! with their checkpoint, blockers from `pg_locks`.

use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tokio_postgres::{SimpleQueryMessage, SimpleQueryRow};
use zerodown_core::lock::LockMode;
use zerodown_core::plan::{BackfillSpec, Step};
use zerodown_core::sql::quote::{ident, literal};
use zerodown_exec::*;

use crate::batch::{bound_sql, update_sql, BatchCheckpoint};

use crate::errors::classify;
pub use crate::session::{PgDriver, RUNNER_APP_NAME};

fn timeouts(lock: Duration, statement: Option<Duration>, local: bool) -> String {
    let scope = if local { "LOCAL " } else { "" };
    format!(
        "SET {scope}lock_timeout = {}; SET {scope}statement_timeout = {}",
        literal(&format!("{}ms", lock.as_millis())),
        literal(&format!("{}ms", statement.map_or(0, |s| s.as_millis())))
    )
}

/// A row of pg_stat_replication: who, its state (None when hidden from this role),
/// and its replay lag (None when caught up and idle).
struct Standby {
    id: String,
    state: Option<String>,
    lag: Option<Duration>,
}

/// The lag of the standbys now, against those `known` to stream (the first look sets
/// them; later ones join): one that left, or whose figures are hidden, or that is not
/// streaming yet, is unknown, never "no lag".
fn judge_lag(
    known: &mut Option<std::collections::BTreeMap<String, u32>>,
    now: &[Standby],
) -> ReplicaLag {
    let mut counts = std::collections::BTreeMap::<String, u32>::new();
    for s in now {
        *counts.entry(s.id.clone()).or_default() += 1;
    }
    let known = known.get_or_insert_with(|| counts.clone());
    let missing: Vec<String> = known
        .iter()
        .filter(|(id, n)| counts.get(*id).copied().unwrap_or(0) < **n)
        .map(|(id, _)| id.clone())
        .collect();
    for (id, n) in &counts {
        let k = known.entry(id.clone()).or_default();
        *k = (*k).max(*n);
    }
    if now.iter().any(|s| s.state.is_none()) {
        return ReplicaLag::Unknown(
            "pg_stat_replication hides the standbys' figures from this role: GRANT pg_read_all_stats to it"
                .into(),
        );
    }
    if !missing.is_empty() {
        return ReplicaLag::Unknown(format!(
            "standby {} left pg_stat_replication",
            missing.join(", ")
        ));
    }
    if let Some(s) = now.iter().find(|s| s.state.as_deref() != Some("streaming")) {
        return ReplicaLag::Unknown(format!(
            "standby {} is {}, not streaming yet",
            s.id,
            s.state.as_deref().unwrap_or("?")
        ));
    }
    match now.iter().map(|s| s.lag.unwrap_or_default()).max() {
        None => ReplicaLag::None,
        Some(worst) => ReplicaLag::Worst(worst),
    }
}

pub(crate) fn first_row(messages: &[SimpleQueryMessage]) -> Option<&SimpleQueryRow> {
    messages.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(r) => Some(r),
        _ => None,
    })
}

/// A PostgreSQL pid (int4, positive) as the executor's session id.
fn pid_of(pid: i32) -> u64 {
    u64::try_from(pid).unwrap_or_default()
}

/// A `schema.table` display name (as `QualName` shows it) as SQL (`"schema"."table"`).
pub(crate) fn table_sql(display: &str) -> String {
    match zerodown_core::sql::name::split_shown(display) {
        (Some(s), t) => format!("{}.{}", ident(&s), ident(&t)),
        (None, t) => ident(&t),
    }
}

#[async_trait]
impl Database for PgDriver {
    async fn run_step(&mut self, step: &Step) -> Result<Duration, DriverError> {
        let lock = Duration::from_millis(step.lock_timeout_ms);
        let statement = step.statement_timeout_ms.map(Duration::from_millis);
        let t0 = Instant::now();
        self.client().await?;
        let session = self.session;
        if step.transactional {
            // One message from BEGIN to COMMIT: a lock the step takes is never held
            // across a round trip to this process. Asynchronous commit: a synchronous
            // one keeps the locks until the WAL is flushed (and a synchronous standby
            // answers), a flush that includes every other session's WAL written before
            // it and that a busy disk can make take hundreds of ms. Safe: whatever
            // depends on the change, and the state row recording the step done, commits
            // later in the same WAL, flushed first.
            let sql = format!(
                "BEGIN; {}; SET LOCAL synchronous_commit = off;\n{}\n;\nCOMMIT",
                timeouts(lock, statement, true),
                // On a line of its own: a statement may end in a `--` comment.
                step.statements.join("\n;\n")
            );
            if let Err(e) = self.run_in(session, &sql).await {
                if e.class != ErrorClass::ConnectionLost {
                    let _ = self.run_in(session, "ROLLBACK").await;
                }
                return Err(e);
            }
        } else {
            // CONCURRENTLY cannot run in a transaction block: session settings, one
            // statement per round trip (several in one would form an implicit block).
            self.run_in(session, &timeouts(lock, statement, false))
                .await?;
            for sql in &step.statements {
                if let Err(e) = self.run_in(session, sql).await {
                    let _ = self
                        .run_in(session, "RESET lock_timeout; RESET statement_timeout")
                        .await;
                    return Err(e);
                }
            }
            self.run_in(session, "RESET lock_timeout; RESET statement_timeout")
                .await?;
        }
        Ok(t0.elapsed())
    }

    async fn query_bool(&mut self, sql: &str) -> Result<bool, DriverError> {
        let r = self.client().await?.query_one(sql, &[]).await;
        r.map(|row| row.get(0)).map_err(|e| self.lost(&e))
    }

    async fn blockers(&mut self, table: &str, lock: LockMode) -> Result<Vec<Blocker>, DriverError> {
        let sql = format!(
            "SELECT a.pid, COALESCE(a.state, ''), EXTRACT(EPOCH FROM now() - a.xact_start)::float8,
                    COALESCE(a.query, ''), array_agg(l.mode ORDER BY l.mode),
                    EXTRACT(EPOCH FROM now() - a.state_change)::float8
               FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
              WHERE l.locktype = 'relation' AND l.granted AND l.relation = to_regclass({})
                AND a.pid <> pg_backend_pid()
              GROUP BY 1, 2, 3, 4, 6",
            literal(&table_sql(table))
        );
        let rows = self.client().await?.query(&sql, &[]).await;
        let rows = rows.map_err(|e| self.lost(&e))?;
        Ok(rows
            .into_iter()
            .filter(|r| {
                // Only holders of a mode that conflicts with the step's own lock make it
                // wait: the kill policy must not end the others.
                r.get::<_, Vec<String>>(4)
                    .iter()
                    .filter_map(|m| LockMode::from_pg_locks_name(m))
                    .any(|m| m.conflicts_with(lock))
            })
            .map(|r| {
                let state: String = r.get(1);
                Blocker {
                    pid: pid_of(r.get(0)),
                    idle_seconds: state
                        .starts_with("idle")
                        .then(|| r.get::<_, Option<f64>>(5))
                        .flatten(),
                    state,
                    transaction_seconds: r.get(2),
                    query: r.get(3),
                }
            })
            .collect())
    }

    async fn terminate(&mut self, pid: u64) -> Result<bool, DriverError> {
        // PostgreSQL pids are positive int4: anything else names no session.
        let Ok(pid) = i32::try_from(pid) else {
            return Ok(false);
        };
        let r = self
            .client()
            .await?
            .query_one("SELECT pg_terminate_backend($1)", &[&pid])
            .await;
        r.map(|row| row.get(0)).map_err(|e| self.lost(&e))
    }

    async fn drop_invalid_index(
        &mut self,
        index: &str,
        lock_timeout: Duration,
    ) -> Result<bool, DriverError> {
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
        if rows.is_empty() {
            return Ok(false);
        }
        // Outside a transaction block, so session settings, reset afterwards.
        self.client().await?;
        let session = self.session;
        self.run_in(session, &timeouts(lock_timeout, None, false))
            .await?;
        let mut result = Ok(true);
        for r in &rows {
            let name: String = r.get(0);
            let drop = format!("DROP INDEX CONCURRENTLY IF EXISTS {name}");
            if let Err(e) = self.run_in(session, &drop).await {
                result = Err(e);
                break;
            }
        }
        let _ = self
            .run_in(session, "RESET lock_timeout; RESET statement_timeout")
            .await;
        result
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
        // Two round trips: the range's bound, then its update, checkpoint and commit in one
        // message, so row locks are never held across a round trip to this process.
        // Asynchronous commit is safe: the rows and their checkpoint commit together, so a
        // crash loses both or neither and resume redoes the batch; the batch does not wait
        // for its WAL flush (the WAL writer does it within a few hundred ms).
        let head = format!(
            "BEGIN; {}; SET LOCAL synchronous_commit = off; {}",
            timeouts(lock_timeout, statement_timeout, true),
            bound_sql(spec, key, after, limit)
        );
        // A reconnect since the last batch: batches that answered COMMIT may not have
        // kept it (asynchronous commit, or an answer lost in transit); the executor goes
        // on from the checkpoint the database kept.
        self.client().await?;
        let session = self.session;
        if self.batch_session.is_some_and(|s| s != session) {
            self.batch_session = None;
            return Err(DriverError::connection_lost(
                "the connection was lost since the last batch",
            ));
        }
        let bound = match self.client_of(session).await?.simple_query(&head).await {
            Ok(messages) => first_row(&messages).map(|r| {
                let count = r.get(0).and_then(|c| c.parse::<u64>().ok()).unwrap_or(0);
                let last: Option<Vec<String>> =
                    (1..r.len()).map(|i| r.get(i).map(str::to_owned)).collect();
                (count, last)
            }),
            Err(e) => return Err(self.rolled_back(&e).await),
        };
        let Some((scanned, Some(last))) = bound.filter(|(count, _)| *count > 0) else {
            self.run_in(session, "ROLLBACK").await?;
            return Ok(BatchOutcome {
                scanned: 0,
                updated: 0,
                last_key: None,
            });
        };
        let at = BatchCheckpoint {
            migration: at.migration,
            step: at.step,
            batch_size: limit,
        };
        let tail = format!("{}; COMMIT", update_sql(spec, key, after, &last, &at));
        let updated = match self.client_of(session).await?.simple_query(&tail).await {
            Ok(messages) => first_row(&messages)
                .and_then(|r| r.get(0).and_then(|c| c.parse::<u64>().ok()))
                .unwrap_or(0),
            Err(e) => return Err(self.rolled_back(&e).await),
        };
        self.batch_session = Some(session);
        Ok(BatchOutcome {
            scanned,
            updated,
            last_key: Some(last),
        })
    }

    async fn end_orphans(&mut self) -> Result<Vec<Blocker>, DriverError> {
        let mut ended = std::mem::take(&mut self.orphans_ended);
        ended.extend(self.terminate_orphans().await?);
        Ok(ended)
    }

    async fn preflight(&mut self, steps: &[&Step], opts: &Options) -> Result<(), DriverError> {
        self.check_privileges(steps, opts).await
    }

    /// Active client sessions, not counting zerodown's own: pg_stat_activity shows other
    /// roles' states only to pg_read_all_stats, which preflight made sure of.
    async fn busy_sessions(&mut self) -> Result<Option<u32>, DriverError> {
        let r = self
            .client()
            .await?
            .query_one(
                "SELECT count(*)::int FROM pg_catalog.pg_stat_activity
                  WHERE backend_type = 'client backend' AND state = 'active'
                    AND pid <> pg_backend_pid() AND COALESCE(application_name, '') <> $1",
                &[&RUNNER_APP_NAME],
            )
            .await;
        let n: i32 = r.map(|row| row.get(0)).map_err(|e| self.lost(&e))?;
        Ok(u32::try_from(n).ok())
    }

    async fn replica_lag(&mut self) -> Result<ReplicaLag, DriverError> {
        let r = self
            .client()
            .await?
            .query(
                "SELECT COALESCE(application_name, '') || '@' || COALESCE(host(client_addr), 'local'),
                        state, EXTRACT(EPOCH FROM replay_lag)::float8
                   FROM pg_catalog.pg_stat_replication",
                &[],
            )
            .await;
        let rows = r.map_err(|e| self.lost(&e))?;
        let standbys: Vec<Standby> = rows
            .iter()
            .map(|r| Standby {
                id: r.get(0),
                state: r.get(1),
                lag: r.get::<_, Option<f64>>(2).map(Duration::from_secs_f64),
            })
            .collect();
        Ok(judge_lag(&mut self.standbys, &standbys))
    }
}

impl PgDriver {
    /// Ends the sessions a killed run left on the server (named like ours, not ours) and
    /// waits until they are gone, with their transactions and locks.
    pub(crate) async fn terminate_orphans(&mut self) -> Result<Vec<Blocker>, DriverError> {
        let lock_pid: i32 = match &self.lock {
            Some(l) => l
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .map_err(|e| classify(&e))?
                .get(0),
            None => 0,
        };
        let find = "SELECT pid, COALESCE(state, ''), EXTRACT(EPOCH FROM now() - xact_start)::float8, COALESCE(query, '')
                      FROM pg_catalog.pg_stat_activity
                     WHERE datname = current_database() AND application_name = $1
                       AND pid <> pg_backend_pid() AND pid <> $2";
        let rows = self
            .client()
            .await?
            .query(find, &[&RUNNER_APP_NAME, &lock_pid])
            .await;
        let orphans: Vec<Blocker> = rows
            .map_err(|e| self.lost(&e))?
            .iter()
            .map(|r| Blocker {
                pid: pid_of(r.get(0)),
                state: r.get(1),
                transaction_seconds: r.get(2),
                query: r.get(3),
                idle_seconds: None,
            })
            .collect();
        for o in &orphans {
            self.terminate(o.pid).await?;
        }
        // Wait until they are gone: their locks go with them.
        let pids: Vec<i32> = orphans
            .iter()
            .filter_map(|o| i32::try_from(o.pid).ok())
            .collect();
        for _ in 0..100 {
            let left: i64 = self
                .client()
                .await?
                .query_one(
                    "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE pid = ANY($1)",
                    &[&pids],
                )
                .await
                .map_err(|e| classify(&e))?
                .get(0);
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(orphans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standby(id: &str, state: Option<&str>, lag_ms: Option<u64>) -> Standby {
        Standby {
            id: id.into(),
            state: state.map(str::to_owned),
            lag: lag_ms.map(Duration::from_millis),
        }
    }

    #[test]
    fn a_standby_that_leaves_is_lag_unknown_not_no_lag() {
        let mut known = None;
        let a = || standby("walreceiver@10.0.0.2", Some("streaming"), Some(300));
        let b = || standby("walreceiver@10.0.0.3", Some("streaming"), None);
        assert_eq!(
            judge_lag(&mut known, &[a(), b()]),
            ReplicaLag::Worst(Duration::from_millis(300))
        );
        let gone = judge_lag(&mut known, &[b()]);
        assert!(
            matches!(&gone, ReplicaLag::Unknown(why) if why.contains("10.0.0.2 left")),
            "{gone:?}"
        );
        let back = judge_lag(
            &mut known,
            &[standby("walreceiver@10.0.0.2", Some("catchup"), None), b()],
        );
        assert!(
            matches!(back, ReplicaLag::Unknown(_)),
            "catching up: {back:?}"
        );
        assert_eq!(
            judge_lag(&mut known, &[a(), b()]),
            ReplicaLag::Worst(Duration::from_millis(300))
        );
        // No standby ever: nothing to wait for.
        assert_eq!(judge_lag(&mut None, &[]), ReplicaLag::None);
        // Hidden figures (no pg_read_all_stats) are never read as no lag.
        let hidden = judge_lag(&mut None, &[standby("@local", None, None)]);
        assert!(matches!(&hidden, ReplicaLag::Unknown(w) if w.contains("pg_read_all_stats")));
    }
}
