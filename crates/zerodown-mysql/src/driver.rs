//! `MyDriver`: the executor's `Database` on MySQL/MariaDB. Every DDL runs with a short
//! session `lock_wait_timeout` (the metadata lock: a DDL waiting longer would queue every
//! query on the table behind it) and `innodb_lock_wait_timeout`; statements are tagged
//! with a comment naming the run, so a resumed run can end the statements a killed one
//! left running on the server.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use zerodown_core::plan::{BackfillSpec, Step, StepKind};
use zerodown_core::sql::quote::{mysql_ident, mysql_table};
use zerodown_exec::*;

use crate::catalog::split_name;
use crate::errors::classify;
use crate::replicas::Replicas;
use crate::throttle::Throttle;

/// The executor's connection to one database of a MySQL/MariaDB server.
pub struct MyDriver {
    pub(crate) opts: crate::tls::ConnOpts,
    pub(crate) work: Option<Conn>,
    /// The session that holds the run lock (`GET_LOCK`), kept apart from the work.
    pub(crate) lock: Option<Conn>,
    /// The database the URL names: state rows and the run lock are per database.
    pub(crate) database: String,
    pub(crate) holds_run_lock: bool,
    /// Batches may run READ COMMITTED (no gap locks): the binlog is off or row-based.
    pub(crate) read_committed: bool,
    /// Replicas to watch and the limits the online rebuild's copy keeps to.
    pub(crate) throttle: Throttle,
}

/// Seconds for a `*_timeout` variable: whole, at least 1.
fn whole_secs(d: Duration) -> u64 {
    d.as_millis().div_ceil(1000).max(1) as u64
}

impl MyDriver {
    /// A driver for `url` (`mysql://` or `mariadb://`), which must name a database.
    pub fn new(url: &str) -> Result<Self, DriverError> {
        let opts = crate::tls::ConnOpts::from_url(url)
            .map_err(|e| DriverError::permanent(format!("invalid MySQL/MariaDB URL: {e}")))?;
        let database = opts.opts.db_name().map(str::to_owned).ok_or_else(|| {
            DriverError::permanent("the URL must name a database (mysql://user@host/db)")
        })?;
        Ok(MyDriver {
            opts,
            work: None,
            lock: None,
            database,
            holds_run_lock: false,
            read_committed: false,
            throttle: Throttle::default(),
        })
    }

    /// Replicas whose lag holds copies back (`mysql://` URLs; a heartbeat in
    /// `_zerodown.heartbeat` measures it), the most lag allowed, and the most sessions
    /// running statements. Backfills get the limits from the executor's options too.
    pub fn set_throttle(
        &mut self,
        replicas: Vec<String>,
        max_lag: Duration,
        max_busy: Option<u32>,
    ) {
        self.throttle.replicas = Replicas::new(replicas);
        self.throttle.max_lag = max_lag;
        self.throttle.max_busy = max_busy;
    }

    /// How long the online rebuild's copy waits for a replica whose lag cannot be read
    /// before it stops, and the flag Ctrl-C sets (the copy stops at its next chunk).
    pub fn set_stops(&mut self, max_lag_unknown: Duration, interrupt: Arc<AtomicBool>) {
        self.throttle.max_lag_unknown = max_lag_unknown;
        self.throttle.interrupt = interrupt;
    }

    /// The comment every statement of this run starts with (seen in PROCESSLIST).
    pub(crate) fn tag(&self) -> String {
        format!("/* zerodown run on {} */ ", self.database.replace("*/", ""))
    }

    /// The work session, connected (again) when needed.
    pub async fn conn(&mut self) -> Result<&mut Conn, DriverError> {
        if self.work.is_none() {
            let c = self.opts.connect().await.map_err(|e| classify(&e))?;
            self.work = Some(c);
        }
        self.work
            .as_mut()
            .ok_or_else(|| DriverError::connection_lost("no connection"))
    }

    /// Runs `f` on the work session; a lost connection is dropped so the next call
    /// connects again.
    pub(crate) async fn with_conn<T>(
        &mut self,
        sql: impl Into<String>,
        run: impl AsyncFnOnce(&mut Conn, String) -> Result<T, mysql_async::Error>,
    ) -> Result<T, DriverError> {
        let sql = sql.into();
        let c = self.conn().await?;
        match run(c, sql).await {
            Ok(v) => Ok(v),
            Err(e) => {
                let e = classify(&e);
                if e.class == ErrorClass::ConnectionLost {
                    self.work = None;
                }
                Err(e)
            }
        }
    }

    pub(crate) async fn exec_sql(&mut self, sql: impl Into<String>) -> Result<(), DriverError> {
        self.exec(sql).await
    }

    async fn exec(&mut self, sql: impl Into<String>) -> Result<(), DriverError> {
        self.with_conn(sql, async |c, sql| c.query_drop(sql).await)
            .await
    }

    /// Runs one statement of a step through the prepared-statement protocol, which takes
    /// exactly one statement: were the server to split the text otherwise than zerodown
    /// did, it refuses instead of running a second statement. A statement the protocol
    /// cannot carry (error 1295) goes as text: zerodown read it as one statement.
    async fn exec_one(&mut self, sql: String) -> Result<(), DriverError> {
        let prepared = self
            .with_conn(sql.clone(), async |c, sql| {
                let stmt = c.prep(sql).await?;
                let run = c.exec_drop(&stmt, ()).await;
                let _ = c.close(stmt).await;
                run
            })
            .await;
        match prepared {
            Err(e) if e.code.as_deref() == Some(UNSUPPORTED_PS) => self.exec(sql).await,
            other => other,
        }
    }

    async fn set_timeouts(&mut self, lock: Duration) -> Result<(), DriverError> {
        let secs = whole_secs(lock);
        self.exec(format!(
            "SET SESSION lock_wait_timeout = {secs}, innodb_lock_wait_timeout = {secs}"
        ))
        .await
    }
}

/// ER_UNSUPPORTED_PS: "This command is not supported in the prepared statement protocol".
const UNSUPPORTED_PS: &str = "1295";

#[async_trait]
impl Database for MyDriver {
    async fn online_rebuild(
        &mut self,
        at: &Checkpoint<'_>,
        step: &Step,
        events: &mut dyn zerodown_exec::EventSink,
    ) -> Result<zerodown_exec::Rebuilt, DriverError> {
        crate::rebuild::run(self, at, step, events).await
    }

    async fn run_step(&mut self, step: &Step) -> Result<Duration, DriverError> {
        if step.kind == StepKind::OnlineRebuild {
            return Err(DriverError::permanent(
                "an online rebuild step must be run through online_rebuild",
            ));
        }
        self.set_timeouts(Duration::from_millis(step.lock_timeout_ms))
            .await?;
        let started = Instant::now();
        let tag = self.tag();
        if step.transactional {
            self.exec("START TRANSACTION").await?;
        }
        for sql in &step.statements {
            if let Err(e) = self.exec_one(format!("{tag}{sql}")).await {
                if step.transactional {
                    let _ = self.exec("ROLLBACK").await;
                }
                return Err(e);
            }
        }
        if step.transactional {
            self.exec("COMMIT").await?;
        }
        Ok(started.elapsed())
    }

    async fn undo_online_rebuild(
        &mut self,
        at: &Checkpoint<'_>,
        step: &Step,
    ) -> Result<(), DriverError> {
        crate::rebuild::undo(self, at, step).await
    }

    async fn query_bool(&mut self, sql: &str) -> Result<bool, DriverError> {
        let v: Option<Option<i64>> = self
            .with_conn(sql, async |c, sql| c.query_first(sql).await)
            .await?;
        Ok(v.flatten().is_some_and(|v| v != 0))
    }

    async fn blockers(
        &mut self,
        table: &str,
        _lock: zerodown_core::lock::LockMode,
    ) -> Result<Vec<Blocker>, DriverError> {
        let (db, name) = split_name(table);
        let c = self.conn().await?;
        let known = crate::mdl::holders_of(c, db.as_deref(), &name)
            .await
            .map_err(|e| DriverError::permanent(e.to_string()))?;
        let (holders, sure) = match known {
            Some(h) => (h, true),
            None => (
                crate::mdl::possible_holders(c)
                    .await
                    .map_err(|e| DriverError::permanent(e.to_string()))?,
                false,
            ),
        };
        let own: Vec<u64> = self.lock.iter().map(Conn::id).map(u64::from).collect();
        Ok(holders
            .into_iter()
            .filter(|h| !own.contains(&h.id))
            .map(|h| Blocker {
                pid: h.id,
                // The kill policy ends only sessions known to hold the lock while idle in
                // a transaction: without the server's lock list, an open transaction
                // elsewhere is only a possible holder, named but never ended.
                state: match (sure, h.command == "Sleep") {
                    (true, true) => "idle in transaction (Sleep)".into(),
                    (true, false) => h.command,
                    (false, _) => format!(
                        "{}, transaction open: possibly a holder (no metadata_lock_info / performance_schema to tell)",
                        h.command
                    ),
                },
                transaction_seconds: Some(h.transaction_seconds as f64),
                query: h.query.unwrap_or_default(),
                idle_seconds: None,
            })
            .collect())
    }

    async fn terminate(&mut self, pid: u64) -> Result<bool, DriverError> {
        match self.exec(format!("KILL CONNECTION {pid}")).await {
            Ok(()) => Ok(true),
            // ER_NO_SUCH_THREAD: it ended meanwhile.
            Err(e) if e.code.as_deref() == Some("1094") => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn drop_invalid_index(
        &mut self,
        _index: &str,
        _lock_timeout: Duration,
    ) -> Result<bool, DriverError> {
        // InnoDB never leaves a half-built index behind: a failed build is rolled back.
        Ok(false)
    }

    async fn backfill_key(&mut self, spec: &BackfillSpec) -> Result<BackfillKey, DriverError> {
        crate::backfill::key(self, spec).await
    }

    async fn backfill_batch(
        &mut self,
        at: &Checkpoint<'_>,
        spec: &BackfillSpec,
        key: &BackfillKey,
        after: Option<&[String]>,
        limit: u32,
        lock_timeout: Duration,
        _statement_timeout: Option<Duration>,
    ) -> Result<BatchOutcome, DriverError> {
        self.set_timeouts(lock_timeout).await?;
        crate::backfill::batch(self, at, spec, key, after, limit).await
    }

    async fn preflight(&mut self, steps: &[&Step], _opts: &Options) -> Result<(), DriverError> {
        self.check_privileges(steps).await
    }

    async fn replica_lag(&mut self) -> Result<ReplicaLag, DriverError> {
        if self.throttle.replicas.is_empty() {
            return Ok(ReplicaLag::None);
        }
        let db = self.database.clone();
        let mut replicas = std::mem::take(&mut self.throttle.replicas);
        let lag = match self.conn().await {
            Ok(c) => replicas.lag(c, &db).await,
            Err(e) => Err(e),
        };
        self.throttle.replicas = replicas;
        lag
    }

    async fn busy_sessions(&mut self) -> Result<Option<u32>, DriverError> {
        crate::throttle::busy_sessions(self.conn().await?).await
    }

    async fn end_orphans(&mut self) -> Result<Vec<Blocker>, DriverError> {
        let tag = self.tag();
        let rows: Vec<(u64, Vec<u8>)> = self
            .with_conn(tag, async |c, tag| {
                c.exec(
                    "SELECT ID, INFO FROM information_schema.PROCESSLIST
                      WHERE ID <> CONNECTION_ID() AND LEFT(INFO, CHAR_LENGTH(?)) = ?",
                    (tag.clone(), tag),
                )
                .await
            })
            .await?;
        let own: Vec<u64> = self.lock.iter().map(Conn::id).map(u64::from).collect();
        let mut ended = Vec::new();
        for (id, info) in rows.into_iter().filter(|(id, _)| !own.contains(id)) {
            if self.terminate(id).await? {
                ended.push(Blocker {
                    pid: id,
                    state: "active".into(),
                    transaction_seconds: None,
                    query: crate::mdl::lossy(&info),
                    idle_seconds: None,
                });
            }
        }
        Ok(ended)
    }
}

/// `db`.`t` from a plan's table name.
pub(crate) fn table_sql(name: &str) -> String {
    mysql_table(name)
}

/// The schema condition for information_schema queries on `name`.
pub(crate) fn schema_and_table(name: &str) -> (Option<String>, String) {
    split_name(name)
}

/// Runs `work` in one transaction on `c`, after `isolation` (a `SET TRANSACTION …`
/// statement) if given: committed when it succeeds, rolled back when anything fails.
pub(crate) async fn in_transaction<T>(
    c: &mut Conn,
    isolation: Option<&str>,
    work: impl AsyncFnOnce(&mut Conn) -> Result<T, mysql_async::Error>,
) -> Result<T, mysql_async::Error> {
    let done = async {
        if let Some(isolation) = isolation {
            c.query_drop(isolation).await?;
        }
        c.query_drop("START TRANSACTION").await?;
        let value = work(&mut *c).await?;
        c.query_drop("COMMIT").await?;
        Ok(value)
    }
    .await;
    if done.is_err() {
        let _ = c.query_drop("ROLLBACK").await;
    }
    done
}

/// `(a, b) > (?, ?)`, or `a > ?` for a single column (a plain range scan).
pub(crate) fn key_compare(columns: &[String], op: &str) -> String {
    if columns.len() == 1 {
        format!("{} {op} ?", mysql_ident(&columns[0]))
    } else {
        let qs = vec!["?"; columns.len()].join(", ");
        format!("({}) {op} ({qs})", columns_sql(columns))
    }
}

/// A quoted column list.
pub(crate) fn columns_sql(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| mysql_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}
