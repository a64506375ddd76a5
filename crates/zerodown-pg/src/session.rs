//! The runner's sessions: one for the work, one holding the run lock. A session lost to
//! a restart or a failover is waited for; the statements of one transaction never go on
//! over a new session.

use std::time::Duration;

use tokio::time::Instant;
use tokio_postgres::Client;
use zerodown_exec::{DriverError, ErrorClass};

use crate::errors::classify;

/// A connection for the work and one that holds the run lock for the whole run.
pub struct PgDriver {
    conn: String,
    pub(crate) client: Option<Client>,
    /// Whether the work connection was ever up (a lost one is then waited for).
    was_connected: bool,
    /// Counts work sessions: statements of one transaction must all run on one.
    pub(crate) session: u64,
    /// The session the last backfill batch committed on.
    pub(crate) batch_session: Option<u64>,
    pub(crate) lock: Option<Client>,
    /// Sessions of a killed run ended when the run lock was taken, for the run's events.
    pub(crate) orphans_ended: Vec<zerodown_exec::Blocker>,
    /// The standbys streaming from the primary when the lag was first read, by
    /// `application_name@address` and how many: one missing later is lag unknown.
    pub(crate) standbys: Option<std::collections::BTreeMap<String, u32>>,
}

/// The application_name of a runner's sessions: another session of that name in the
/// database while we hold the run lock belongs to a run that died.
pub const RUNNER_APP_NAME: &str = "zerodown apply";

/// How long a lost connection is waited for before the run stops (resumable).
pub const RECONNECT_FOR: Duration = Duration::from_secs(30);

impl PgDriver {
    pub fn new(conn: &str) -> Self {
        PgDriver {
            conn: conn.to_owned(),
            client: None,
            was_connected: false,
            session: 0,
            batch_session: None,
            lock: None,
            orphans_ended: Vec::new(),
            standbys: None,
        }
    }

    /// The work connection, reconnecting after a lost one. A connection that was up and
    /// got lost (a server restart, a failover) is waited for up to `RECONNECT_FOR`; the
    /// first one fails at once, so a wrong URL is reported without delay.
    pub async fn client(&mut self) -> Result<&Client, DriverError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = Some(self.connect_waiting(self.was_connected).await?);
            self.was_connected = true;
            self.session += 1;
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

    /// The run lock lives on its own session: when that session was lost (a server
    /// restart), take the lock again, or fail when another runner took it meanwhile.
    pub(crate) async fn keep_run_lock(&mut self, key: (i32, i32)) -> Result<(), DriverError> {
        let Some(lock) = &self.lock else {
            return Ok(());
        };
        if !lock.is_closed() {
            return Ok(());
        }
        let lock = self.connect_waiting(true).await?;
        let got: bool = lock
            .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&key.0, &key.1])
            .await
            .map_err(|e| classify(&e))?
            .get(0);
        self.lock = Some(lock);
        if got {
            Ok(())
        } else {
            Err(DriverError::permanent(
                "the run lock was lost with the connection, and another zerodown run holds it now",
            ))
        }
    }

    async fn connect_waiting(&self, wait: bool) -> Result<Client, DriverError> {
        let deadline = Instant::now() + RECONNECT_FOR;
        loop {
            match self.connect().await {
                Err(_) if wait && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                other => return other,
            }
        }
    }

    async fn connect(&self) -> Result<Client, DriverError> {
        crate::connect_as(&self.conn, Some(RUNNER_APP_NAME))
            .await
            .map_err(|e| DriverError::connection_lost(e.to_string()))
    }

    pub(crate) async fn run(&mut self, sql: &str) -> Result<(), DriverError> {
        let r = self.client().await?.batch_execute(sql).await;
        r.map_err(|e| self.lost(&e))
    }

    /// The work connection for the next statement of a sequence begun on `session`: after
    /// a reconnect the sequence's transaction and settings are gone (a DDL statement would
    /// run without its lock_timeout), so the sequence fails as a lost connection.
    pub(crate) async fn client_of(&mut self, session: u64) -> Result<&Client, DriverError> {
        self.client().await?;
        if self.session != session {
            return Err(DriverError::connection_lost(
                "the connection was lost in the middle of a transaction",
            ));
        }
        self.client().await
    }

    /// Runs `sql` as the next statement of a sequence begun on `session`.
    pub(crate) async fn run_in(&mut self, session: u64, sql: &str) -> Result<(), DriverError> {
        let r = self.client_of(session).await?.batch_execute(sql).await;
        r.map_err(|e| self.lost(&e))
    }

    /// Classifies an error and forgets a broken connection.
    pub(crate) fn lost(&mut self, e: &tokio_postgres::Error) -> DriverError {
        let d = classify(e);
        if d.class == ErrorClass::ConnectionLost {
            self.client = None;
        }
        d
    }

    /// The error of a failed batch statement, after rolling its transaction back.
    pub(crate) async fn rolled_back(&mut self, e: &tokio_postgres::Error) -> DriverError {
        let d = self.lost(e);
        if d.class != ErrorClass::ConnectionLost {
            let _ = self.run("ROLLBACK").await;
        }
        d
    }
}
