//! The operator's controls during an online rebuild, read between chunks of the copy and
//! while a postponed cut-over waits: `zerodown pause` holds the copy, `zerodown rate` caps
//! its rows per second, `zerodown abort` stops it with the table unchanged, `zerodown
//! cutover` releases a postponed cut-over. Changed rows the copy has passed are copied
//! again meanwhile, so the backlog stays small.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use mysql_async::Conn;
use zerodown_exec::DriverError;

use zerodown_exec::RebuildPhase;

use super::binlog::Captured;
use super::progress::Progress;
use super::{one, refuse, Rebuild, REPLAY_EVERY};

/// How often a held copy looks at the controls again.
const POLL: Duration = Duration::from_millis(250);

/// Chunks a second under a rate cap, so the cap is held smoothly.
const CHUNKS_PER_SEC: u32 = 5;

const ABORTED_COPY: &str =
    "abort requested during the copy; the table is unchanged (zerodown abort drops the shadow table)";

#[derive(Debug, Default)]
struct Controls {
    postpone_cutover: bool,
    paused: bool,
    abort_requested: bool,
    max_rows_per_sec: Option<u32>,
}

impl Rebuild {
    async fn controls(&self, c: &mut Conn) -> Result<Controls, DriverError> {
        let row: Option<(bool, bool, bool, Option<u32>)> = one(
            c,
            "SELECT postpone_cutover, paused, abort_requested, max_rows_per_sec
               FROM `_zerodown`.migrations WHERE db = ? AND id = ?",
            vec![self.state_db.clone().into(), self.migration.clone().into()],
        )
        .await?;
        Ok(row
            .map(
                |(postpone_cutover, paused, abort_requested, cap)| Controls {
                    postpone_cutover,
                    paused,
                    abort_requested,
                    max_rows_per_sec: cap.filter(|r| *r > 0),
                },
            )
            .unwrap_or_default())
    }

    /// After a chunk of `rows` that took `took`, before the next: waits while paused
    /// (copying changed rows meanwhile), stops when an abort was requested, and under a
    /// rate cap waits until the chunk fits in it. Returns the largest chunk the cap
    /// allows (None: no cap).
    pub(super) async fn pace(
        &self,
        c: &mut Conn,
        captured: &Mutex<Captured>,
        copied_to: Option<&[String]>,
        rows: u32,
        took: Duration,
        progress: &mut Progress<'_>,
    ) -> Result<Option<u32>, DriverError> {
        let mut replayed = Instant::now();
        loop {
            let controls = self.controls(c).await?;
            progress.paused(controls.paused && !controls.abort_requested);
            if controls.abort_requested {
                return Err(refuse(ABORTED_COPY.into()));
            }
            if controls.paused {
                if replayed.elapsed() > REPLAY_EVERY {
                    self.replay_upto(c, captured, copied_to).await?;
                    replayed = Instant::now();
                }
                tokio::time::sleep(POLL).await;
                continue;
            }
            let Some(rate) = controls.max_rows_per_sec else {
                return Ok(None);
            };
            let least = Duration::from_secs_f64(f64::from(rows) / f64::from(rate));
            tokio::time::sleep(least.saturating_sub(took)).await;
            return Ok(Some((rate / CHUNKS_PER_SEC).max(100)));
        }
    }

    /// While a throttle holds the copy it still answers: a pause is said, an abort
    /// stops it.
    pub(super) async fn answer_while_held(
        &self,
        c: &mut Conn,
        progress: &mut Progress<'_>,
    ) -> Result<(), DriverError> {
        let controls = self.controls(c).await?;
        progress.paused(controls.paused && !controls.abort_requested);
        if controls.abort_requested {
            return Err(refuse(ABORTED_COPY.into()));
        }
        Ok(())
    }

    /// With `apply --postpone-cutover`: keeps copying changed rows until `zerodown
    /// cutover` releases the cut-over (or `zerodown abort` asks to stop).
    pub(super) async fn wait_for_cutover(
        &self,
        c: &mut Conn,
        captured: &Mutex<Captured>,
        progress: &mut Progress<'_>,
    ) -> Result<(), DriverError> {
        let mut announced = false;
        loop {
            let controls = self.controls(c).await?;
            if controls.abort_requested {
                return Err(refuse(
                    "abort requested while the cut-over waited; the table is unchanged".into(),
                ));
            }
            if !controls.postpone_cutover {
                return Ok(());
            }
            if !announced {
                progress.phase(RebuildPhase::CutoverPostponed);
                announced = true;
            }
            self.replay(c, captured).await?;
            tokio::time::sleep(REPLAY_EVERY).await;
        }
    }
}
