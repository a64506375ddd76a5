//! What a person (or a log pipeline) sees while a migration runs.

use std::io::IsTerminal;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use zerodown::exec::{Event, EventSink, RebuildPhase, RetryReason};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people on stderr, and a progress bar on a terminal.
    Text,
    /// One JSON object per event on stdout, with a `ts` (Unix milliseconds).
    Json,
}

/// Renders executor events.
pub struct Sink {
    format: LogFormat,
    bar: Option<ProgressBar>,
    last_line: Instant,
    /// When the current step started (the online rebuild's phases say how far in).
    step_started: Instant,
}

impl Sink {
    pub fn new(format: LogFormat) -> Self {
        Sink {
            format,
            bar: None,
            last_line: Instant::now(),
            step_started: Instant::now(),
        }
    }

    /// A progress bar of rows on a terminal (none in a log).
    fn start_bar(&mut self, estimated_rows: Option<u64>, rows_done: u64) {
        if !std::io::stderr().is_terminal() {
            return;
        }
        let bar = match estimated_rows {
            Some(n) => ProgressBar::new(n.max(rows_done)),
            None => ProgressBar::no_length(),
        };
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("      {bar:30} {pos}/{len} rows, {msg}, ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_position(rows_done);
        self.bar = Some(bar);
    }

    fn line(&self, s: String) {
        match &self.bar {
            Some(bar) => bar.println(s),
            None => eprintln!("{s}"),
        }
    }
}

fn blockers_text(b: &[zerodown::exec::Blocker]) -> String {
    if b.is_empty() {
        return "no blocker left".to_owned();
    }
    b.iter()
        .map(|b| {
            let age = b
                .transaction_seconds
                .map(|s| format!(", transaction {s:.0} s"))
                .unwrap_or_default();
            let q: String = b
                .query
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .take(80)
                .collect();
            format!("pid {} ({}{age}): {q}", b.pid, b.state)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Now, in Unix milliseconds (the `ts` of JSON event lines).
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl EventSink for Sink {
    fn emit(&mut self, event: &Event) {
        if self.format == LogFormat::Json {
            let ts = unix_ms();
            let mut v = serde_json::to_value(event).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("ts".into(), ts.into());
            }
            println!("{v}");
            return;
        }
        match event {
            Event::StepStarted {
                step,
                total,
                description,
            } => {
                self.step_started = Instant::now();
                self.line(format!("[{}/{total}] {description}", step + 1))
            }
            Event::StepAlreadyDone { step } => self.line(format!(
                "[{}] already done before the interruption: skipped",
                step + 1
            )),
            Event::StepDone {
                attempts,
                elapsed_ms,
                rows,
                ..
            } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                let rows = if *rows > 0 {
                    format!(", {rows} rows")
                } else {
                    String::new()
                };
                self.line(format!(
                    "      done in {elapsed_ms} ms ({attempts} attempt{}){rows}",
                    if *attempts == 1 { "" } else { "s" }
                ));
            }
            Event::Retry {
                attempt,
                reason,
                delay_ms,
                blockers,
                ..
            } => self.line(match reason {
                RetryReason::LockTimeout | RetryReason::Deadlock => format!(
                    "      {} (attempt {attempt}); blocked by {}; retrying in {delay_ms} ms",
                    reason.text(),
                    blockers_text(blockers)
                ),
                _ => format!(
                    "      {} (attempt {attempt}); retrying in {delay_ms} ms",
                    reason.text()
                ),
            }),
            Event::OrphanEnded { pid, query } => self.line(format!(
                "ended pid {pid}, a statement left running by an interrupted run: {}",
                query.chars().take(80).collect::<String>()
            )),
            Event::BlockerTerminated { pid, .. } => self.line(format!(
                "      terminated idle-in-transaction blocker pid {pid}"
            )),
            Event::InvalidIndexDropped { index, .. } => {
                self.line(format!("      dropped invalid leftover index {index}"))
            }
            Event::BackfillStarted {
                key,
                rows_done,
                estimated_rows,
                ..
            } => {
                self.line(format!(
                    "      batches by ({}){}",
                    key.join(", "),
                    if *rows_done > 0 {
                        format!(", resuming after {rows_done} rows")
                    } else {
                        String::new()
                    }
                ));
                self.start_bar(*estimated_rows, *rows_done);
            }
            Event::RebuildPhase {
                phase,
                rows_done,
                estimated_rows,
                ..
            } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                let at = self.step_started.elapsed().as_secs_f64();
                let rows = match phase {
                    RebuildPhase::Copy if *rows_done > 0 => {
                        format!(", resuming after {rows_done} rows")
                    }
                    RebuildPhase::Copy => String::new(),
                    _ => format!(" ({rows_done} rows copied)"),
                };
                self.line(format!("      {at:.1} s: {}{rows}", phase.text()));
                if *phase == RebuildPhase::Copy {
                    self.start_bar(*estimated_rows, *rows_done);
                }
            }
            Event::RebuildRestarted { reason, .. } => {
                self.line(format!("      starting the copy again: {reason}"))
            }
            Event::Batch {
                rows,
                batch_size,
                rows_per_sec,
                ..
            } => match &self.bar {
                Some(bar) => {
                    if bar.length().is_some_and(|l| *rows > l) {
                        bar.set_length(*rows);
                    }
                    bar.set_position(*rows);
                    bar.set_message(format!("{rows_per_sec:.0} rows/s, batch {batch_size}"));
                }
                None if self.last_line.elapsed() > Duration::from_secs(5) => {
                    self.last_line = Instant::now();
                    eprintln!("      {rows} rows, {rows_per_sec:.0} rows/s, batch {batch_size}");
                }
                None => {}
            },
            Event::Throttled {
                reason, delay_ms, ..
            } => self.line(format!("      throttled ({reason}): waiting {delay_ms} ms")),
            Event::Paused { .. } => self.line("      paused (zerodown unpause to go on)".into()),
            Event::Resumed { .. } => self.line("      unpaused".into()),
            Event::StepFailed { error, .. } => {
                if let Some(bar) = self.bar.take() {
                    bar.abandon();
                }
                self.line(format!("      stopped: {error}"));
            }
            Event::Finished { steps, elapsed_ms } => self.line(format!(
                "all {steps} steps done in {:.1} s",
                *elapsed_ms as f64 / 1000.0
            )),
        }
    }
}
