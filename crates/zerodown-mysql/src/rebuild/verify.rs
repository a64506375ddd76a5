//! Checksums of the table and its shadow, compared at a moment they are equal: a session
//! write-locks both tables for a moment and catches up with the binary log, and the
//! table's reading sessions open their snapshots before the lock goes. Writes then go on
//! while the snapshots are compared, so a difference is a real one (not a write between
//! two reads); such a range is copied again. Nothing writes the shadow until the
//! comparison ends (changed rows wait in the capture), so it still holds that moment
//! after the indexes put off by the copy are built on it: its side is read after that
//! build, while the table's side is read at the same time as the build. With a key of one
//! integer column each table is summed in two halves on two sessions, and a half that
//! differs is summed again by bucket (`buckets.rs`); otherwise chunk by chunk, side by
//! side.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use zerodown_exec::DriverError;

use super::binlog::Captured;
use super::buckets::{bucket_range, halves};
use super::indexes::Deferred;
use super::Rebuild;
use crate::errors::classify;

/// Keys per compared chunk.
const CHECK_CHUNK: u32 = 10_000;

/// Key ranges `after < key <= upto` (None: from the first key).
type Ranges = Vec<(Option<Vec<String>>, Vec<String>)>;

async fn disconnect(sessions: impl IntoIterator<Item = Conn>) {
    for s in sessions {
        let _ = s.disconnect().await;
    }
}

impl Rebuild {
    /// Builds the `deferred` indexes and compares the checksums; returns how many ranges
    /// differed (and were copied again), and how long the tables were locked to take
    /// the snapshot.
    pub(super) async fn verify(
        &self,
        c: &mut Conn,
        captured: &Mutex<Captured>,
        lock_wait_secs: u64,
        deferred: &[Deferred],
    ) -> Result<(u64, Duration), DriverError> {
        let (differing, held) = if self.integer_key {
            let mut table = self.sessions::<2>().await?;
            let held = self
                .snapshot(c, &mut table, captured, lock_wait_secs)
                .await?;
            let ranges = self.differing_spans(c, &mut table, deferred).await;
            disconnect(table).await;
            (ranges?, held)
        } else {
            let mut table = self.sessions::<1>().await?;
            let held = self
                .snapshot(c, &mut table, captured, lock_wait_secs)
                .await?;
            let [table] = table;
            if let Err(e) = self.build_deferred(c, deferred).await {
                disconnect([table]).await;
                return Err(e);
            }
            let [shadow] = self.sessions::<1>().await?;
            (self.differing_chunks(table, shadow).await?, held)
        };
        for (after, upto) in &differing {
            // Rows of the range are in the shadow: deleted first, never copied twice.
            self.copy_chunk(c, after.as_deref(), upto).await?;
        }
        Ok((differing.len() as u64, held))
    }

    /// With a key of one integer column: the table's two halves summed by `table` (in
    /// the snapshot) while the put-off indexes are built, then the shadow's; the key
    /// ranges to copy again, from the halves whose sums differ, summed again by bucket.
    async fn differing_spans(
        &self,
        c: &mut Conn,
        table: &mut [Conn; 2],
        deferred: &[Deferred],
    ) -> Result<Ranges, DriverError> {
        let source_sql = self.source_sql();
        let width = i128::from(CHECK_CHUNK);
        let spans = halves(self.key_bounds(&mut table[0], &source_sql).await?);
        let shadow_side = async {
            self.build_deferred(c, deferred).await?;
            let mut shadow = self.sessions::<2>().await?;
            match self.side_sums(&mut shadow, &self.shadow_sql(), spans).await {
                Ok(sums) => Ok((shadow, sums)),
                Err(e) => {
                    disconnect(shadow).await;
                    Err(e)
                }
            }
        };
        let (source, (mut shadow, copy)) =
            tokio::try_join!(self.side_sums(table, &source_sql, spans), shadow_side)?;
        let mut buckets = Vec::new();
        let mut found = Ok(());
        for (i, span) in spans.into_iter().enumerate() {
            if source[i] == copy[i] {
                continue;
            }
            match self
                .differing_buckets(&mut table[i], &mut shadow[i], span, width)
                .await
            {
                Ok(b) => buckets.extend(b),
                Err(e) => found = Err(e),
            }
        }
        disconnect(shadow).await;
        found?;
        // A bucket on both sides of the middle is found in both halves: copied once.
        buckets.sort_unstable();
        buckets.dedup();
        Ok(buckets
            .into_iter()
            .map(|b| bucket_range(b, width))
            .map(|(after, upto)| (Some(vec![after.to_string()]), vec![upto.to_string()]))
            .collect())
    }

    /// Copies the changed rows on `c` until few are left, write-locks the table and the
    /// shadow, copies the last changed rows (the two are then equal) and opens a
    /// consistent snapshot on each of `readers` before the lock goes. Returns how long
    /// the tables were locked.
    async fn snapshot(
        &self,
        c: &mut Conn,
        readers: &mut [Conn],
        captured: &Mutex<Captured>,
        lock_wait_secs: u64,
    ) -> Result<Duration, DriverError> {
        let q = |e: mysql_async::Error| classify(&e);
        let [mut a] = self.sessions::<1>().await?;
        a.query_drop(format!("SET SESSION lock_wait_timeout = {lock_wait_secs}"))
            .await
            .map_err(q)?;
        let tables = [self.source_sql(), self.shadow_sql()];
        self.settle_and_lock(c, &mut a, captured, &tables).await?;
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
        snapshot.map(|()| held)
    }

    /// The chunks whose checksums differ, the table read by `s` (in the snapshot) and
    /// the shadow by `s2`, chunk by chunk at the same time.
    async fn differing_chunks(&self, mut s: Conn, mut s2: Conn) -> Result<Ranges, DriverError> {
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
        disconnect([s, s2]).await;
        compared.map(|()| differing)
    }
}
