//! How far the replicas are behind the primary, measured with a heartbeat: zerodown
//! writes the primary's clock (microseconds) into `_zerodown.heartbeat` and reads back
//! what each replica has applied. Only the primary's clock is compared with itself, so
//! clock skew between servers does not matter, and a stopped or broken replication shows
//! as a lag that grows (where `Seconds_Behind_Master` shows NULL, or 0 while the I/O
//! thread is behind).
//!
//! The lag of a replica is how long ago we wrote the oldest heartbeat it does not show
//! yet: 0 when it shows the latest, never more than the true lag (a replica that is
//! caught up shows the latest heartbeat within its apply time), and less than it by at
//! most the interval between two heartbeats ([`MEASURE_EVERY`] while a backfill or copy
//! asks).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use zerodown_exec::{DriverError, ReplicaLag};

use crate::errors::classify;

/// Measurements closer together than this return the last one.
pub const MEASURE_EVERY: Duration = Duration::from_millis(500);

/// The replicas to watch (URLs the user gave) and the last heartbeat written.
#[derive(Default)]
pub struct Replicas {
    urls: Vec<String>,
    conns: Vec<Option<Conn>>,
    /// The heartbeats written (the primary's clock, µs since the epoch), and when by
    /// ours, oldest first; the oldest one every replica shows stays as the floor.
    written: VecDeque<(i64, Instant)>,
    last: Option<(Instant, ReplicaLag)>,
}

impl Replicas {
    pub fn new(urls: Vec<String>) -> Replicas {
        Replicas {
            conns: urls.iter().map(|_| None).collect(),
            urls,
            ..Replicas::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.urls.is_empty()
    }

    /// The worst replica's lag. `primary` writes the next heartbeat for database `db`.
    /// A replica that cannot be reached or read makes it unknown, never "no lag"; an
    /// error of the primary's is an error.
    pub async fn lag(&mut self, primary: &mut Conn, db: &str) -> Result<ReplicaLag, DriverError> {
        if self.urls.is_empty() {
            return Ok(ReplicaLag::None);
        }
        if let Some((at, lag)) = &self.last {
            if at.elapsed() < MEASURE_EVERY {
                return Ok(lag.clone());
            }
        }
        let mut worst = Duration::ZERO;
        let mut unknown = Vec::new();
        let measured = !self.written.is_empty();
        let mut floor = i64::MAX;
        for i in 0..self.urls.len() {
            let seen = match self.seen(i, db).await {
                Ok(seen) => seen,
                Err(e) => {
                    unknown.push(format!(
                        "replica {} cannot be read: {}",
                        zerodown_exec::redact(&self.urls[i]),
                        e.message
                    ));
                    floor = i64::MIN;
                    continue;
                }
            };
            // The oldest heartbeat this replica does not show yet: it is at least
            // that far behind. None shown at all: behind since our first one.
            let lag = self
                .written
                .iter()
                .find(|(us, _)| seen.is_none_or(|s| *us > s))
                .map_or(Duration::ZERO, |(_, at)| at.elapsed());
            floor = floor.min(seen.unwrap_or(i64::MIN));
            worst = worst.max(lag);
        }
        // Heartbeats every replica shows are no longer needed (the newest such stays).
        while self.written.len() > 1 && self.written[1].0 <= floor {
            self.written.pop_front();
        }
        let us = beat(primary, db).await?;
        self.written.push_back((us, Instant::now()));
        let lag = if unknown.is_empty() {
            ReplicaLag::Worst(worst)
        } else {
            ReplicaLag::Unknown(unknown.join("; "))
        };
        // The first call only writes the first heartbeat: the next one measures.
        if measured {
            self.last = Some((Instant::now(), lag.clone()));
        }
        Ok(lag)
    }

    /// The heartbeat replica `i` shows for `db`, connecting (again) when needed.
    async fn seen(&mut self, i: usize, db: &str) -> Result<Option<i64>, DriverError> {
        if self.conns[i].is_none() {
            let opts = crate::tls::ConnOpts::from_url(&self.urls[i])
                .map_err(|e| DriverError::permanent(format!("invalid replica URL: {e}")))?;
            self.conns[i] = Some(opts.connect().await.map_err(|e| classify(&e))?);
        }
        let conn = self.conns[i].as_mut().expect("connected above");
        let read: Result<Option<i64>, _> = conn
            .exec_first(
                "SELECT at_us FROM `_zerodown`.heartbeat WHERE db = ?",
                (db,),
            )
            .await;
        match read {
            Ok(v) => Ok(v),
            // 1146: the heartbeat table has not reached this replica yet.
            Err(mysql_async::Error::Server(e)) if e.code == 1146 => Ok(None),
            Err(e) => {
                self.conns[i] = None;
                Err(classify(&e))
            }
        }
    }
}

/// Writes a heartbeat for `db` on the primary; returns the clock it wrote.
async fn beat(primary: &mut Conn, db: &str) -> Result<i64, DriverError> {
    primary
        .exec_drop(
            "REPLACE INTO `_zerodown`.heartbeat (db, at_us)
             VALUES (?, CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED))",
            (db,),
        )
        .await
        .map_err(|e| classify(&e))?;
    let at: Option<i64> = primary
        .exec_first(
            "SELECT at_us FROM `_zerodown`.heartbeat WHERE db = ?",
            (db,),
        )
        .await
        .map_err(|e| classify(&e))?;
    at.ok_or_else(|| DriverError::permanent("the heartbeat row was not written"))
}
