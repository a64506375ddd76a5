//! The copy's loop: chunk after chunk by primary key (two at a time on a second session
//! with a key of one integer column), each sized to take about [`CHUNK_TARGET`], with the
//! operator's controls, throttling and the replays of changed rows between chunks. The
//! statements themselves are in `copy.rs`.

use std::time::{Duration, Instant};

use mysql_async::Conn;
use zerodown_exec::DriverError;

use super::progress::Progress;
use super::state::save;
use super::{binlog, Rebuild, State, REPLAY_EVERY};
use crate::throttle::Throttle;

/// Rows of the first chunk; then sized to take about [`CHUNK_TARGET`].
const FIRST_CHUNK: u32 = 5_000;
const MAX_CHUNK: u32 = 20_000;
const CHUNK_TARGET: Duration = Duration::from_millis(200);

impl Rebuild {
    /// A key's value as a number, where the key is one integer column.
    pub(super) fn int_key(&self, key: &[String]) -> Option<i128> {
        match key {
            [one] if self.integer_key => one.parse().ok(),
            _ => None,
        }
    }

    /// Copies the rows from the checkpoint on (a resumed copy first deletes what a dead
    /// run left past an integer key's mark), then records the copy as done.
    pub(super) async fn copy_all(
        &self,
        c: &mut Conn,
        state: &mut State,
        captured: &std::sync::Mutex<binlog::Captured>,
        throttle: &mut Throttle,
        progress: &mut Progress<'_>,
    ) -> Result<(), DriverError> {
        if let Some(mark) = state.copied_to.as_deref().and_then(|k| self.int_key(k)) {
            self.drop_past_mark(c, mark).await?;
        }
        // The second copy session, for two chunks at once past an integer key's mark.
        let mut second = if self.integer_key {
            let [s] = self.sessions::<1>().await?;
            Some(s)
        } else {
            None
        };
        let copied = self
            .copy_chunks(c, second.as_mut(), state, captured, throttle, progress)
            .await;
        if let Some(s) = second {
            let _ = s.disconnect().await;
        }
        copied?;
        state.copy_done = true;
        save(c, self, state, false).await
    }

    /// The copy's loop: chunk after chunk (two at a time on `second` with a key of one
    /// integer column), with the operator's controls, throttling and replays between.
    async fn copy_chunks(
        &self,
        c: &mut Conn,
        mut second: Option<&mut Conn>,
        state: &mut State,
        captured: &std::sync::Mutex<binlog::Captured>,
        throttle: &mut Throttle,
        progress: &mut Progress<'_>,
    ) -> Result<(), DriverError> {
        let mut size = FIRST_CHUNK;
        let mut replayed = Instant::now();
        loop {
            while let Some((reason, delay)) = throttle.hold(c, &self.state_db).await? {
                progress.throttled(reason, delay);
                self.answer_while_held(c, progress).await?;
                tokio::time::sleep(delay).await;
            }
            let t0 = Instant::now();
            let mark = state.copied_to.as_deref().and_then(|k| self.int_key(k));
            let (upto, copied, rows) = match (mark, second.as_deref_mut()) {
                (Some(after), Some(s)) => match self.copy_pair(c, s, after, size).await? {
                    Some((upto, copied)) => (upto, copied, 2 * size),
                    None => break,
                },
                _ => {
                    let Some(upto) = self.chunk_end(c, state.copied_to.as_deref(), size).await?
                    else {
                        break;
                    };
                    let copied = self
                        .copy_chunk(c, state.copied_to.as_deref(), &upto)
                        .await?;
                    (upto, copied, size)
                }
            };
            let took = t0.elapsed();
            progress.chunk(copied, rows, took);
            // Keep each chunk near the target: its transaction holds row locks that long.
            let scale = CHUNK_TARGET.as_secs_f64() / took.as_secs_f64().max(0.001);
            size = ((f64::from(size) * scale.clamp(0.5, 2.0)) as u32).clamp(100, MAX_CHUNK);
            let end = state.copied_to.as_ref() == Some(&upto);
            state.copied_to = Some(upto);
            let copied_to = state.copied_to.as_deref();
            if let Some(cap) = self
                .pace(c, captured, copied_to, rows, took, progress)
                .await?
            {
                size = size.min(cap);
            }
            if replayed.elapsed() > REPLAY_EVERY {
                self.replay_upto(c, captured, state.copied_to.as_deref())
                    .await?;
                replayed = Instant::now();
            }
            if end {
                return Ok(());
            }
        }
        Ok(())
    }
}
