//! What the executor reports while it runs: for a progress bar, JSON log lines, a report.

use std::time::Duration;

use serde::Serialize;

use crate::driver::{Blocker, ErrorClass};

/// Why a step is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryReason {
    LockTimeout,
    StatementTimeout,
    Deadlock,
    SerializationFailure,
    ConnectionLost,
    /// A concurrent index build ended with an invalid index (dropped before the retry).
    InvalidIndex,
}

impl RetryReason {
    pub fn from_class(class: ErrorClass) -> RetryReason {
        match class {
            ErrorClass::LockTimeout => RetryReason::LockTimeout,
            ErrorClass::StatementTimeout => RetryReason::StatementTimeout,
            ErrorClass::Deadlock => RetryReason::Deadlock,
            ErrorClass::SerializationFailure => RetryReason::SerializationFailure,
            // Permanent errors are not retried; a lost connection is the remaining case.
            ErrorClass::ConnectionLost | ErrorClass::Permanent => RetryReason::ConnectionLost,
        }
    }

    /// For people: what went wrong with the attempt.
    pub fn text(self) -> &'static str {
        match self {
            RetryReason::LockTimeout => "lock not granted in time",
            RetryReason::StatementTimeout => "statement timeout",
            RetryReason::Deadlock => "chosen as a deadlock victim",
            RetryReason::SerializationFailure => "serialization failure",
            RetryReason::ConnectionLost => "connection lost",
            RetryReason::InvalidIndex => "the index was built invalid",
        }
    }
}

/// A part of an online rebuild (MySQL/MariaDB), in the order they come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RebuildPhase {
    /// Rows are copied into the shadow table by key; `batch` events follow.
    Copy,
    /// The rows changed meanwhile (read from the binary log) are copied again.
    CatchUp,
    /// Put-off indexes are built and the checksums of table and shadow compared.
    Verify,
    /// `--postpone-cutover`: waiting for `zerodown cutover`, changed rows still copied.
    CutoverPostponed,
    /// The tables are swapped.
    Cutover,
}

impl RebuildPhase {
    /// For people: what the rebuild does now.
    pub fn text(self) -> &'static str {
        match self {
            RebuildPhase::Copy => "copying the rows into the shadow table",
            RebuildPhase::CatchUp => "copying again the rows changed meanwhile (binary log)",
            RebuildPhase::Verify => "building put-off indexes and comparing checksums",
            RebuildPhase::CutoverPostponed => {
                "cut-over postponed: `zerodown cutover` swaps the tables (changed rows are still copied)"
            }
            RebuildPhase::Cutover => "swapping the tables",
        }
    }
}

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
    /// An attempt failed in a way that waiting can fix (`reason`: lock_timeout, deadlock,
    /// connection_lost, ...); the step retries after `delay_ms`.
    Retry {
        step: usize,
        attempt: u32,
        reason: RetryReason,
        delay_ms: u64,
        blockers: Vec<Blocker>,
    },
    /// A statement left running on the server by a run that died was ended.
    OrphanEnded {
        pid: u64,
        query: String,
    },
    /// A blocker was terminated under the idle-in-transaction kill policy.
    BlockerTerminated {
        step: usize,
        pid: u64,
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
    /// An online rebuild moved to `phase`; `rows_done`: rows copied so far (over every
    /// run of the step), `estimated_rows`: the table's estimate (None: unknown).
    RebuildPhase {
        step: usize,
        phase: RebuildPhase,
        rows_done: u64,
        estimated_rows: Option<u64>,
    },
    /// An online rebuild resumed with a copy it cannot trust starts it again (`reason`).
    RebuildRestarted {
        step: usize,
        reason: String,
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

/// A duration as the events' whole milliseconds.
pub fn ms(d: Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

/// The `reason` of a `throttled` event while a replica lags.
pub fn lag_reason(lag: Duration) -> String {
    format!("replica lag {:.1} s", lag.as_secs_f64())
}

/// The `reason` of a `throttled` event while a replica's lag cannot be read.
pub fn unknown_reason(why: &str) -> String {
    format!("replica lag unknown ({why})")
}

/// The `reason` of a `throttled` event while more sessions run statements than allowed.
pub fn busy_reason(busy: u32, max: u32) -> String {
    format!("{busy} sessions running statements, more than {max}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event, once (the match below fails to compile when one is added, so the
    /// documentation check cannot miss it).
    fn all() -> Vec<Event> {
        let step = 0;
        let events = vec![
            Event::StepStarted {
                step,
                total: 1,
                description: String::new(),
            },
            Event::StepAlreadyDone { step },
            Event::StepDone {
                step,
                attempts: 1,
                elapsed_ms: 0,
                rows: 0,
            },
            Event::Retry {
                step,
                attempt: 1,
                reason: RetryReason::LockTimeout,
                delay_ms: 0,
                blockers: Vec::new(),
            },
            Event::OrphanEnded {
                pid: 1,
                query: String::new(),
            },
            Event::BlockerTerminated { step, pid: 1 },
            Event::InvalidIndexDropped {
                step,
                index: String::new(),
            },
            Event::BackfillStarted {
                step,
                key: Vec::new(),
                rows_done: 0,
                estimated_rows: None,
            },
            Event::RebuildPhase {
                step,
                phase: RebuildPhase::Copy,
                rows_done: 0,
                estimated_rows: None,
            },
            Event::RebuildRestarted {
                step,
                reason: String::new(),
            },
            Event::Batch {
                step,
                rows: 0,
                batch_size: 1,
                batch_ms: 0,
                rows_per_sec: 0.0,
            },
            Event::Throttled {
                step,
                reason: String::new(),
                delay_ms: 0,
            },
            Event::Paused { step },
            Event::Resumed { step },
            Event::StepFailed {
                step,
                error: String::new(),
            },
            Event::Finished {
                steps: 1,
                elapsed_ms: 0,
            },
        ];
        for e in &events {
            match e {
                Event::StepStarted { .. }
                | Event::StepAlreadyDone { .. }
                | Event::StepDone { .. }
                | Event::Retry { .. }
                | Event::OrphanEnded { .. }
                | Event::BlockerTerminated { .. }
                | Event::InvalidIndexDropped { .. }
                | Event::BackfillStarted { .. }
                | Event::RebuildPhase { .. }
                | Event::RebuildRestarted { .. }
                | Event::Batch { .. }
                | Event::Throttled { .. }
                | Event::Paused { .. }
                | Event::Resumed { .. }
                | Event::StepFailed { .. }
                | Event::Finished { .. } => {}
            }
        }
        events
    }

    #[test]
    fn every_rebuild_phase_is_documented() {
        let doc = include_str!("../../../docs/apply-events.md");
        let row = doc
            .lines()
            .find(|l| l.contains("`rebuild_phase`"))
            .expect("rebuild_phase row");
        for phase in [
            RebuildPhase::Copy,
            RebuildPhase::CatchUp,
            RebuildPhase::Verify,
            RebuildPhase::CutoverPostponed,
            RebuildPhase::Cutover,
        ] {
            let name = serde_json::to_value(phase).expect("json");
            let name = name.as_str().expect("a name");
            assert!(row.contains(&format!("`{name}`")), "phase {name}: {row}");
        }
    }

    #[test]
    fn every_event_and_its_fields_are_documented() {
        let doc = include_str!("../../../docs/apply-events.md");
        for e in all() {
            let v = serde_json::to_value(&e).expect("json");
            let name = v["event"].as_str().expect("event name");
            let row = doc
                .lines()
                .find(|l| l.contains(&format!("`{name}`")))
                .unwrap_or_else(|| panic!("event {name} is not in docs/apply-events.md"));
            for field in v
                .as_object()
                .expect("object")
                .keys()
                .filter(|k| *k != "event")
            {
                assert!(
                    row.contains(&format!("`{field}`")),
                    "field {field} of {name} is not documented: {row}"
                );
            }
        }
    }
}
