//! What the online rebuild tells the run's event sink: its phases, each chunk of the copy
//! (rows so far and the rate, for a progress bar with an ETA), pauses and throttling. A
//! rebuild of a large table copies for hours; without these it said nothing until done.

use std::time::{Duration, Instant};

use zerodown_exec::events::ms;
use zerodown_exec::{Event, EventSink, RebuildPhase};

pub(super) struct Progress<'a> {
    events: &'a mut dyn EventSink,
    step: usize,
    /// Rows copied so far, over every run of the step.
    pub rows: u64,
    /// The table's row estimate (information_schema), for the ETA.
    pub estimated: Option<u64>,
    /// Rows and time when this run's copy started (the rate counts this run only).
    copy_start: (u64, Instant),
    paused: bool,
}

impl<'a> Progress<'a> {
    pub fn new(events: &'a mut dyn EventSink, step: usize, rows: u64) -> Self {
        Progress {
            events,
            step,
            rows,
            estimated: None,
            copy_start: (rows, Instant::now()),
            paused: false,
        }
    }

    pub fn phase(&mut self, phase: RebuildPhase) {
        if phase == RebuildPhase::Copy {
            self.copy_start = (self.rows, Instant::now());
        }
        self.events.emit(&Event::RebuildPhase {
            step: self.step,
            phase,
            rows_done: self.rows,
            estimated_rows: self.estimated,
        });
    }

    /// A chunk of `rows` rows (at most `size`) committed after `took`.
    pub fn chunk(&mut self, rows: u64, size: u32, took: Duration) {
        self.rows += rows;
        let secs = self.copy_start.1.elapsed().as_secs_f64().max(1e-3);
        self.events.emit(&Event::Batch {
            step: self.step,
            rows: self.rows,
            batch_size: size,
            batch_ms: ms(took),
            rows_per_sec: self.rows.saturating_sub(self.copy_start.0) as f64 / secs,
        });
    }

    /// The copy is held by `zerodown pause` (`true`) or goes on (`false`); said once.
    pub fn paused(&mut self, paused: bool) {
        if paused == self.paused {
            return;
        }
        self.paused = paused;
        self.events.emit(&match paused {
            true => Event::Paused { step: self.step },
            false => Event::Resumed { step: self.step },
        });
    }

    /// The copy waits `delay` for `reason` (a lagging replica, busy sessions).
    pub fn throttled(&mut self, reason: String, delay: Duration) {
        self.events.emit(&Event::Throttled {
            step: self.step,
            reason,
            delay_ms: ms(delay),
        });
    }
}
