//! Chunk checksums of the table and its shadow, both read in one consistent snapshot
//! taken at a moment they are equal: a session write-locks both tables for a moment,
//! catches up with the binary log, and a second session opens its snapshot before the
//! lock goes. Writes then go on while the snapshot is compared chunk by chunk, so a
//! difference is a real one (not a write between two reads); such a chunk is copied again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use zerodown_exec::DriverError;

use super::binlog::Captured;
use super::Rebuild;
use crate::errors::classify;

/// Keys per compared chunk.
const CHECK_CHUNK: u32 = 10_000;

impl Rebuild {
    /// Returns how many chunks differed (and were copied again), and how long the
    /// tables were locked to take the snapshot.
    pub(super) async fn verify(
        &self,
        c: &mut Conn,
        captured: &Mutex<Captured>,
        lock_wait_secs: u64,
    ) -> Result<(u64, Duration), DriverError> {
        let q = |e: mysql_async::Error| classify(&e);
        let mut a = Conn::new(self.opts.clone()).await.map_err(q)?;
        let mut s = Conn::new(self.opts.clone()).await.map_err(q)?;
        a.query_drop(format!("SET SESSION lock_wait_timeout = {lock_wait_secs}"))
            .await
            .map_err(q)?;
        a.query_drop(format!(
            "LOCK TABLES {} WRITE, {} WRITE",
            self.source_sql(),
            self.shadow_sql()
        ))
        .await
        .map_err(q)?;
        let locked_at = Instant::now();
        let snapshot = async {
            self.catch_up_locked(&mut a, captured).await?;
            s.query_drop("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .await
                .map_err(q)?;
            s.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                .await
                .map_err(q)
        }
        .await;
        let _ = a.query_drop("UNLOCK TABLES").await;
        let held = locked_at.elapsed();
        let _ = a.disconnect().await;
        snapshot?;
        let mut differing = Vec::new();
        let mut after: Option<Vec<String>> = None;
        while let Some(upto) = self
            .chunk_end(&mut s, after.as_deref(), CHECK_CHUNK)
            .await?
        {
            let source = self
                .checksum(&mut s, &self.source_sql(), after.as_deref(), &upto)
                .await?;
            let shadow = self
                .checksum(&mut s, &self.shadow_sql(), after.as_deref(), &upto)
                .await?;
            if source != shadow {
                differing.push((after.clone(), upto.clone()));
            }
            if after.as_ref() == Some(&upto) {
                break;
            }
            after = Some(upto);
        }
        let _ = s.query_drop("COMMIT").await;
        let _ = s.disconnect().await;
        for (after, upto) in &differing {
            self.copy_chunk(c, after.as_deref(), upto).await?;
        }
        Ok((differing.len() as u64, held))
    }
}
