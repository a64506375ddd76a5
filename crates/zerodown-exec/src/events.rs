//! What the executor reports while it runs: for a progress bar, JSON log lines, a report.

use std::time::Duration;

use serde::Serialize;

use crate::driver::Blocker;

/// One event of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    StepStarted {
        step: usize,
        total: usize,
        description: String,
    },
    /// The step was found already done (resume after a crash) and skipped.
    StepAlreadyDone {
        step: usize,
    },
    StepDone {
        step: usize,
        attempts: u32,
        elapsed_ms: u64,
        rows: u64,
    },
    /// A lock was not granted in time; the step retries after `delay_ms`.
    LockRetry {
        step: usize,
        attempt: u32,
        delay_ms: u64,
        blockers: Vec<Blocker>,
    },
    /// A blocker was terminated under the idle-in-transaction kill policy.
    BlockerTerminated {
        step: usize,
        pid: i32,
    },
    /// An invalid index left by a failed concurrent build was dropped before retrying.
    InvalidIndexDropped {
        step: usize,
        index: String,
    },
    BackfillStarted {
        step: usize,
        key: Vec<String>,
        rows_done: u64,
        estimated_rows: Option<u64>,
    },
    Batch {
        step: usize,
        rows: u64,
        batch_size: u32,
        batch_ms: u64,
        rows_per_sec: f64,
    },
    Throttled {
        step: usize,
        reason: String,
        delay_ms: u64,
    },
    Paused {
        step: usize,
    },
    Resumed {
        step: usize,
    },
    StepFailed {
        step: usize,
        error: String,
    },
    Finished {
        steps: usize,
        elapsed_ms: u64,
    },
}

/// Receives events (progress bar, JSON lines, collectors in tests).
pub trait EventSink: Send {
    fn emit(&mut self, event: &Event);
}

/// Collects events in memory.
#[derive(Debug, Default)]
pub struct Collect(pub Vec<Event>);

impl EventSink for Collect {
    fn emit(&mut self, event: &Event) {
        self.0.push(event.clone());
    }
}

pub(crate) fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}
