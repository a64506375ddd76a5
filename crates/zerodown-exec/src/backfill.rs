//! The batched keyset backfill: small transactions, checkpoint committed with each
//! batch, batch size adapted to a target duration, throttled by measured health.

use std::time::Duration;

use tokio::time::Instant;
use zerodown_core::plan::Step;

use crate::backoff::Backoff;
use crate::driver::*;
use crate::events::{busy_reason, lag_reason, ms, unknown_reason, Event, RetryReason};
use crate::executor::{Done, ExecError, Executor};

impl<D: Database + StateStore> Executor<'_, D> {
    pub(crate) async fn backfill(
        &mut self,
        n: usize,
        step: &Step,
        st: &StepState,
    ) -> Result<Done, ExecError> {
        let fail = |error: DriverError| ExecError::Failed {
            step: n,
            description: step.description.clone(),
            error,
        };
        let Some(spec) = &step.backfill else {
            return Err(fail(DriverError::permanent(
                "backfill step without a backfill spec",
            )));
        };
        let key = self.db.backfill_key(spec).await.map_err(fail)?;
        let mut after = st.last_key.clone();
        let mut rows = st.rows;
        let mut size = st
            .batch_size
            .unwrap_or(spec.batch_size)
            .clamp(self.opts.min_batch, self.opts.max_batch);
        let target = Duration::from_millis(u64::from(spec.target_batch_ms.max(1)));
        let lock_timeout = Duration::from_millis(step.lock_timeout_ms);
        let statement_timeout = step.statement_timeout_ms.map(Duration::from_millis);
        self.sink.emit(&Event::BackfillStarted {
            step: n,
            key: key.columns.clone(),
            rows_done: rows,
            estimated_rows: key.estimated_rows,
        });
        let mut backoff = Backoff::new(&step.retry, self.next_seed());
        let mut attempts = 1;
        let started = Instant::now();
        // Controls and replica lag are re-read every `poll`, not every batch: a batch is
        // a few milliseconds, the extra round trips would be a good part of its cost.
        let mut control = Control::default();
        let mut checked: Option<Instant> = None;
        // After a lost connection the last batches may not have committed (the commit's
        // answer lost, or an asynchronous commit lost in a crash): go on from the
        // checkpoint the database kept, not from the last key seen here.
        let mut reload = false;
        loop {
            if reload {
                match self.db.load(&self.migration).await {
                    Ok(Some(state)) => {
                        let kept = state.steps.get(n).cloned().unwrap_or_default();
                        after = kept.last_key;
                        rows = kept.rows;
                        reload = false;
                    }
                    Ok(None) => {
                        return Err(ExecError::State(DriverError::permanent(
                            "the migration's state vanished from the database",
                        )))
                    }
                    Err(e) if e.class == ErrorClass::ConnectionLost => {
                        attempts += 1;
                        self.retry_or_stop(n, step, &mut backoff, RetryReason::ConnectionLost)
                            .await?;
                        continue;
                    }
                    Err(e) => return Err(ExecError::State(e)),
                }
            }
            self.check_interrupt(n)?;
            if checked.is_none_or(|at| at.elapsed() >= self.opts.poll) {
                control = self.wait_while_paused(n).await?;
                self.wait_for_replicas(n, step).await?;
                self.wait_for_quiet(n).await?;
                checked = Some(Instant::now());
            }
            let at = Checkpoint {
                migration: &self.migration,
                step: n,
            };
            let t0 = Instant::now();
            let result = self
                .db
                .backfill_batch(
                    &at,
                    spec,
                    &key,
                    after.as_deref(),
                    size,
                    lock_timeout,
                    statement_timeout,
                )
                .await;
            let took = t0.elapsed();
            match result {
                Ok(out) => {
                    if out.scanned == 0 {
                        break;
                    }
                    rows += out.updated;
                    after = out.last_key;
                    let secs = started.elapsed().as_secs_f64().max(1e-3);
                    self.sink.emit(&Event::Batch {
                        step: n,
                        rows,
                        batch_size: size,
                        batch_ms: ms(took),
                        rows_per_sec: rows.saturating_sub(st.rows) as f64 / secs,
                    });
                    if out.scanned < u64::from(size) {
                        break; // the last range was short: the table is done
                    }
                    size = adapt(size, took, target, self.opts.min_batch, self.opts.max_batch);
                    backoff = Backoff::new(&step.retry, self.next_seed());
                    let mut pause = took.mul_f64(self.opts.batch_pause_ratio);
                    if let Some(rate) = control.max_rows_per_sec.filter(|r| *r > 0) {
                        // About ten batches a second under a cap, so it is held smoothly.
                        size = size.min((rate / 10).max(self.opts.min_batch));
                        // Hold the rate: a batch of `size` rows takes at least size/rate.
                        let min = Duration::from_secs_f64(f64::from(size) / f64::from(rate));
                        pause = pause.max(min.saturating_sub(took));
                    }
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                }
                Err(e) if e.class.retryable() || e.class == ErrorClass::StatementTimeout => {
                    attempts += 1;
                    reload |= e.class == ErrorClass::ConnectionLost;
                    if e.class == ErrorClass::StatementTimeout {
                        size = (size / 2).max(self.opts.min_batch);
                    }
                    self.retry_or_stop(n, step, &mut backoff, RetryReason::from_class(e.class))
                        .await?;
                }
                Err(e) => return Err(fail(e)),
            }
        }
        if let Some(verify) = &spec.verify {
            // The walk is done: a row it missed would be left behind without a word.
            let none_left = self.db.query_bool(verify).await.map_err(fail)?;
            if !none_left {
                return Err(fail(DriverError::permanent(format!(
                    "the backfill went through every key, but rows still need it ({verify} is false): a key the walk skipped, or a trigger or writer that undoes the change; nothing later ran"
                ))));
            }
        }
        Ok(Done {
            attempts,
            held: Duration::ZERO,
            rows,
        })
    }

    /// Re-reads the controls; while paused, waits (and says so once).
    async fn wait_while_paused(&mut self, n: usize) -> Result<Control, ExecError> {
        let mut announced = false;
        loop {
            let control = self.controls(n).await?;
            if !control.paused {
                if announced {
                    self.sink.emit(&Event::Resumed { step: n });
                }
                return Ok(control);
            }
            if !announced {
                self.sink.emit(&Event::Paused { step: n });
                announced = true;
            }
            tokio::time::sleep(self.opts.poll).await;
        }
    }

    /// Waits while the worst replica lags more than allowed, or while its lag cannot
    /// be read: then for at most `max_lag_unknown`, after which the run stops cleanly.
    async fn wait_for_replicas(&mut self, n: usize, step: &Step) -> Result<(), ExecError> {
        let mut unknown_since: Option<Instant> = None;
        loop {
            let lag = self.db.replica_lag().await;
            let (reason, delay, unknown) = match lag {
                Ok(ReplicaLag::None) => return Ok(()),
                Ok(ReplicaLag::Worst(lag)) if lag <= self.opts.max_replica_lag => return Ok(()),
                Ok(ReplicaLag::Worst(lag)) => {
                    (lag_reason(lag), lag.min(Duration::from_secs(5)), None)
                }
                Ok(ReplicaLag::Unknown(why)) => {
                    (unknown_reason(&why), Duration::from_secs(1), Some(why))
                }
                Err(e) => {
                    let why = e.message;
                    (unknown_reason(&why), Duration::from_secs(1), Some(why))
                }
            };
            match unknown {
                None => unknown_since = None,
                Some(why) => {
                    let since = *unknown_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= self.opts.max_lag_unknown {
                        return Err(ExecError::LagUnknown {
                            step: n,
                            description: step.description.clone(),
                            waited_ms: ms(since.elapsed()),
                            why,
                        });
                    }
                }
            }
            self.sink.emit(&Event::Throttled {
                step: n,
                reason,
                delay_ms: ms(delay),
            });
            self.throttled_sleep(n, delay).await?;
        }
    }

    /// Sleeps `delay` while throttled, still answering Ctrl-C, pause and abort.
    async fn throttled_sleep(&mut self, n: usize, delay: Duration) -> Result<(), ExecError> {
        let until = Instant::now() + delay;
        loop {
            self.wait_while_paused(n).await?;
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            tokio::time::sleep((until - now).min(self.opts.poll)).await;
        }
    }
}

impl<D: Database + StateStore> Executor<'_, D> {
    /// Waits while more sessions run statements than allowed (the server is busy: a
    /// batch now would only add to it).
    async fn wait_for_quiet(&mut self, n: usize) -> Result<(), ExecError> {
        let Some(max) = self.opts.max_busy_sessions else {
            return Ok(());
        };
        while let Ok(Some(busy)) = self.db.busy_sessions().await {
            if busy <= max {
                return Ok(());
            }
            self.sink.emit(&Event::Throttled {
                step: n,
                reason: busy_reason(busy, max),
                delay_ms: ms(self.opts.poll),
            });
            self.throttled_sleep(n, self.opts.poll).await?;
        }
        Ok(())
    }
}

/// Next batch size: proportional to how far the last batch was from the target, at
/// most doubling or halving at a time.
fn adapt(size: u32, took: Duration, target: Duration, min: u32, max: u32) -> u32 {
    let ratio = target.as_secs_f64() / took.as_secs_f64().max(1e-4);
    let next = (f64::from(size) * ratio.clamp(0.5, 2.0)).round() as u32;
    next.clamp(min, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_size_follows_the_target() {
        let t = Duration::from_millis(200);
        assert_eq!(
            adapt(1000, Duration::from_millis(100), t, 100, 20_000),
            2000
        );
        assert_eq!(adapt(1000, Duration::from_millis(800), t, 100, 20_000), 500);
        assert_eq!(adapt(1000, Duration::from_millis(250), t, 100, 20_000), 800);
        assert_eq!(adapt(150, Duration::from_secs(5), t, 100, 20_000), 100);
        assert_eq!(
            adapt(15_000, Duration::from_millis(1), t, 100, 20_000),
            20_000
        );
    }
}
