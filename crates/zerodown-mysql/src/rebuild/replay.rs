//! Rows changed while the rebuild runs, copied again: the keys the binary log reader
//! collected, during the copy only those it has passed; before a lock, until few are
//! left; and the wait for the reader to reach the server's position first.

use std::time::{Duration, Instant};

use mysql_async::Conn;
use zerodown_exec::DriverError;

use super::{binlog, Rebuild};

/// A replay that copied fewer rows than this leaves a short catch-up for a lock.
const SETTLED: u64 = 200;

/// The longest [`Rebuild::wait_for_reader`] waits for the binary log reader (the locked
/// catch-up then has its own limit and retries).
const READER_WAIT: Duration = Duration::from_secs(60);

impl Rebuild {
    /// Copies again every row changed since the last replay.
    pub(super) async fn replay(
        &self,
        c: &mut Conn,
        captured: &std::sync::Mutex<binlog::Captured>,
    ) -> Result<u64, DriverError> {
        self.replay_upto(c, captured, None).await
    }

    /// Copies again the rows changed since the last replay; during the copy (`copied_to`
    /// given) only those the copy has passed: the others it copies when it gets there.
    pub(super) async fn replay_upto(
        &self,
        c: &mut Conn,
        captured: &std::sync::Mutex<binlog::Captured>,
        copied_to: Option<&[String]>,
    ) -> Result<u64, DriverError> {
        let keys: Vec<Vec<String>> = {
            let mut cap = binlog::lock(captured);
            if let Some(e) = &cap.error {
                return Err(DriverError::permanent(e.clone()));
            }
            std::mem::take(&mut cap.keys).into_iter().collect()
        };
        let keys: Vec<Vec<String>> = match copied_to.and_then(|k| self.int_key(k)) {
            Some(mark) => keys
                .into_iter()
                .filter(|k| self.int_key(k).is_none_or(|v| v <= mark))
                .collect(),
            None => keys,
        };
        self.recopy(c, &keys, false).await?;
        Ok(keys.len() as u64)
    }

    /// Replays until few changes are left to copy (so a lock that follows is short).
    pub(super) async fn settle(
        &self,
        c: &mut Conn,
        captured: &std::sync::Mutex<binlog::Captured>,
    ) -> Result<(), DriverError> {
        for _ in 0..20 {
            self.wait_for_reader(c, captured).await?;
            if self.replay(c, captured).await? < SETTLED {
                break;
            }
        }
        Ok(())
    }

    /// Waits (without any lock) until the binary log reader has read up to where the
    /// server is now. It receives every row event of the server, the copy's own inserts
    /// into the shadow included, and can trail by seconds after a big copy: the catch-up
    /// under the cut-over's or the checksum's lock must not be where it closes that gap.
    pub(super) async fn wait_for_reader(
        &self,
        c: &mut Conn,
        captured: &std::sync::Mutex<binlog::Captured>,
    ) -> Result<(), DriverError> {
        self.reader_reaches_now(c, captured, READER_WAIT, Duration::from_millis(2))
            .await
            .map(|_| ())
    }

    /// Reads the server's binary log position on `c` and waits, looking every `every`,
    /// until the reader has read up to it: Ok(false) when `limit` passed first, an error
    /// when the reader failed.
    pub(super) async fn reader_reaches_now(
        &self,
        c: &mut Conn,
        captured: &std::sync::Mutex<binlog::Captured>,
        limit: Duration,
        every: Duration,
    ) -> Result<bool, DriverError> {
        let target = binlog::current_position(c).await?;
        let started = Instant::now();
        loop {
            {
                let cap = binlog::lock(captured);
                if let Some(e) = &cap.error {
                    return Err(DriverError::permanent(e.clone()));
                }
                if binlog::reached(&cap, &target) {
                    return Ok(true);
                }
            }
            if started.elapsed() > limit {
                return Ok(false);
            }
            tokio::time::sleep(every).await;
        }
    }
}
