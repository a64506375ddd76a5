//! Chunk checksums of the table and its shadow, both read in one consistent snapshot
//! taken at a moment they are equal: a session write-locks both tables for a moment,
//! catches up with the binary log, and more sessions open their snapshots before the
//! lock goes (the table and the shadow read at the same time; by bucket on four
//! sessions where the key is one integer column, `buckets.rs`). Writes then
//! go on while the snapshots are compared chunk by chunk, so a difference is a real one
//! (not a write between two reads); such a chunk is copied again.

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
        // Snapshot sessions: four for a key of one integer column (the table and the
        // shadow, each in two halves, by bucket), else two (chunk by chunk side by side).
        let mut readers = Vec::new();
        for _ in 0..if self.integer_key { 4 } else { 2 } {
            readers.push(Conn::new(self.opts.clone()).await.map_err(q)?);
        }
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
            // All opened under the lock, so they see the same moment.
            futures_util::future::try_join_all(readers.iter_mut().map(|s| async move {
                s.query_drop("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    .await?;
                s.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                    .await
            }))
            .await
            .map_err(q)?;
            Ok::<(), DriverError>(())
        }
        .await;
        let _ = a.query_drop("UNLOCK TABLES").await;
        let held = locked_at.elapsed();
        let _ = a.disconnect().await;
        snapshot?;
        let differing = match <[Conn; 4]>::try_from(readers) {
            Ok(mut four) => {
                let ranges = self
                    .differing_buckets(&mut four, i128::from(CHECK_CHUNK))
                    .await;
                for s in four {
                    let _ = s.disconnect().await;
                }
                ranges?
                    .into_iter()
                    .map(|(after, upto)| (Some(vec![after.to_string()]), vec![upto.to_string()]))
                    .collect()
            }
            Err(two) => self.differing_chunks(two).await?,
        };
        for (after, upto) in &differing {
            // Rows of the range are in the shadow: deleted first, never copied twice.
            self.copy_chunk(c, after.as_deref(), upto).await?;
        }
        Ok((differing.len() as u64, held))
    }

    /// The chunks (`after < key <= upto`) whose checksums differ, the table read by the
    /// first session and the shadow by the second, chunk by chunk at the same time.
    async fn differing_chunks(
        &self,
        readers: Vec<Conn>,
    ) -> Result<Vec<(Option<Vec<String>>, Vec<String>)>, DriverError> {
        let [mut s, mut s2]: [Conn; 2] = readers
            .try_into()
            .map_err(|_| DriverError::permanent("two snapshot sessions expected"))?;
        let (source_sql, shadow_sql) = (self.source_sql(), self.shadow_sql());
        let mut differing = Vec::new();
        let mut after: Option<Vec<String>> = None;
        let compared = async {
            while let Some(upto) = self
                .chunk_end(&mut s, after.as_deref(), CHECK_CHUNK)
                .await?
            {
                let (source, shadow) = tokio::try_join!(
                    self.checksum(&mut s, &source_sql, after.as_deref(), &upto),
                    self.checksum(&mut s2, &shadow_sql, after.as_deref(), &upto),
                )?;
                if source != shadow {
                    differing.push((after.clone(), upto.clone()));
                }
                if after.as_ref() == Some(&upto) {
                    break;
                }
                after = Some(upto);
            }
            Ok::<(), DriverError>(())
        }
        .await;
        for s in [s, s2] {
            let _ = s.disconnect().await;
        }
        compared.map(|()| differing)
    }
}
