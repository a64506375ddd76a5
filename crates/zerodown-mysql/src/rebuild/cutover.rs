//! The atomic cut-over, safe on MariaDB (where RENAME under LOCK TABLES is refused): the
//! sentry algorithm measured in the facts file. Session A creates the sentry table under
//! the old table's future name and write-locks the table, the shadow and the sentry;
//! session C issues `RENAME TABLE t TO old, shadow TO t`, which queues behind A's locks
//! ahead of the clients; meanwhile A, writes stopped, reads the binary log up to the
//! current position and copies the last changed rows; A drops the sentry and unlocks, and
//! the rename runs first. Should A die or fail at any point, its locks go, the rename
//! finds the sentry in its way and fails: the table is never swapped with changes left
//! out.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use tokio::task::JoinHandle;
use zerodown_exec::{DriverError, ErrorClass};

use super::binlog::{self, Captured};
use super::Rebuild;
use crate::errors::classify;

/// How long the tables may stay locked waiting for the binary log to be read.
const CATCH_UP_LIMIT: Duration = Duration::from_secs(3);

impl Rebuild {
    /// Swaps the shadow table in, the changes made meanwhile copied on `main` until few
    /// are left just before the lock. Ok(locked for): done. A lock not granted in time
    /// (LockTimeout) or a catch-up too slow leaves everything as it was: retry later.
    pub async fn cut_over(
        &self,
        main: &mut Conn,
        captured: &Mutex<Captured>,
        lock_wait_secs: u64,
    ) -> Result<Duration, DriverError> {
        let [mut a, mut c] = self.sessions::<2>().await?;
        let timeouts = format!(
            "SET SESSION lock_wait_timeout = {lock_wait_secs}, innodb_lock_wait_timeout = {lock_wait_secs}"
        );
        for s in [&mut a, &mut c] {
            s.query_drop(&timeouts).await.map_err(|e| classify(&e))?;
        }
        let q = |e: mysql_async::Error| classify(&e);
        // A sentry left by a run that died mid cut-over; anything else is refused earlier.
        if super::is_sentry(&mut a, self, &self.old).await? {
            a.query_drop(format!("DROP TABLE {}", self.old_sql()))
                .await
                .map_err(q)?;
        }
        a.query_drop(format!(
            "CREATE TABLE {} (sentry INT) COMMENT = '{}'",
            self.old_sql(),
            self.sentry_comment()
        ))
        .await
        .map_err(q)?;
        let tables = [self.source_sql(), self.shadow_sql(), self.old_sql()];
        let locked = self.settle_and_lock(main, &mut a, captured, &tables).await;
        if let Err(e) = locked {
            let _ = a
                .query_drop(format!("DROP TABLE IF EXISTS {}", self.old_sql()))
                .await;
            return Err(e);
        }
        let locked_at = Instant::now();
        // The rename is sent at once: it queues behind A's locks while A catches up.
        let c_id = c.id();
        let rename = tokio::spawn(self.rename(c));
        let outcome = self
            .swap_under_lock(&mut a, (c_id, &rename), captured)
            .await;
        let _ = a.query_drop("UNLOCK TABLES").await;
        // Only a dropped sentry lets the rename through, and A drops it last: a rename
        // that succeeded swapped the tables with every change copied, whatever A saw.
        let renamed = rename
            .await
            .map_err(|e| DriverError::permanent(e.to_string()))?;
        let swapped = match (renamed, outcome) {
            (Ok(()), _) => Ok(()),
            (Err(e), Ok(())) | (_, Err(e)) => Err(e),
        };
        if swapped.is_err() {
            // The rename has failed on the sentry (or never ran): remove the sentry.
            let _ = a
                .query_drop(format!("DROP TABLE IF EXISTS {}", self.old_sql()))
                .await;
        }
        let held = locked_at.elapsed();
        let _ = a.disconnect().await;
        swapped.map(|()| held)
    }

    /// `RENAME TABLE t TO old, shadow TO t` on session C, which it then closes.
    fn rename(&self, mut c: Conn) -> impl std::future::Future<Output = Result<(), DriverError>> {
        let rename = format!(
            "RENAME TABLE {} TO {}, {} TO {}",
            self.source_sql(),
            self.old_sql(),
            self.shadow_sql(),
            self.source_sql()
        );
        async move {
            let r = c.query_drop(rename).await.map_err(|e| classify(&e));
            let _ = c.disconnect().await;
            r
        }
    }

    /// Copies the changed rows on `main` until few are left, then write-locks `tables`
    /// on `a`. Both locks (the checksums' snapshot, the cut-over) call it once their
    /// sessions (and the sentry) are made, so that only the changes of the moments
    /// before the lock are left to copy under it (at the cut-over, 20-43 rows at ~4,000
    /// updates/s, against 35-67 when the sessions and the sentry were made after this
    /// copy).
    pub(super) async fn settle_and_lock(
        &self,
        main: &mut Conn,
        a: &mut Conn,
        captured: &Mutex<Captured>,
        tables: &[String],
    ) -> Result<(), DriverError> {
        self.settle(main, captured).await?;
        let list: Vec<String> = tables.iter().map(|t| format!("{t} WRITE")).collect();
        a.query_drop(format!("LOCK TABLES {}", list.join(", ")))
            .await
            .map_err(|e| classify(&e))
    }

    /// With writes stopped by a session's LOCK TABLES: reads the binary log up to the
    /// current position and copies the last changed rows on that session.
    pub(super) async fn catch_up_locked(
        &self,
        a: &mut Conn,
        captured: &Mutex<Captured>,
    ) -> Result<(), DriverError> {
        let every = Duration::from_millis(1);
        if !self
            .reader_reaches_now(a, captured, CATCH_UP_LIMIT, every)
            .await?
        {
            return Err(DriverError {
                class: ErrorClass::LockTimeout,
                message: "the binary log was not read up to the lock in time; retried".into(),
                code: None,
            });
        }
        let keys: Vec<Vec<String>> = std::mem::take(&mut binlog::lock(captured).keys)
            .into_iter()
            .collect();
        self.recopy(a, &keys, true).await
    }

    /// Under A's locks: catch up, see the rename (on session `c_id`) queued, drop the
    /// sentry. The rename runs once A unlocks, and fails on the sentry unless this ended
    /// well.
    async fn swap_under_lock(
        &self,
        a: &mut Conn,
        (c_id, rename): (u32, &JoinHandle<Result<(), DriverError>>),
        captured: &Mutex<Captured>,
    ) -> Result<(), DriverError> {
        self.catch_up_locked(a, captured).await?;
        // The rename must be queued behind A's locks before A lets go: waiting for its
        // metadata lock, not merely started (a rename seen by its text alone, still
        // opening its tables, let clients' writes queued on the table go first and land
        // in the old table: 3 rows lost in one of 16 runs of the live test).
        let deadline = Instant::now() + Duration::from_secs(2);
        while !rename_waits(a, c_id).await? {
            // Ended already: its lock wait ran out while A caught up (or C died).
            if rename.is_finished() || Instant::now() > deadline {
                return Err(DriverError {
                    class: ErrorClass::LockTimeout,
                    message: "the rename was not seen queued; the cut-over is retried".into(),
                    code: None,
                });
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        a.query_drop(format!("DROP TABLE {}", self.old_sql()))
            .await
            .map_err(|e| classify(&e))?;
        Ok(())
    }
}

/// Whether session `id` is a RENAME TABLE waiting for a metadata lock (polled every
/// millisecond: SHOW PROCESSLIST, see [`crate::mdl::processlist`]).
async fn rename_waits(a: &mut Conn, id: u32) -> Result<bool, DriverError> {
    let sessions = crate::mdl::processlist(a).await.map_err(|e| classify(&e))?;
    Ok(sessions.iter().any(|s| {
        s.id == u64::from(id)
            && s.state.as_deref() == Some(crate::mdl::MDL_WAIT_STATE)
            && s.info
                .as_deref()
                .is_some_and(|q| q.starts_with("RENAME TABLE"))
    }))
}
