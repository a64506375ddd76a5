//! One run of a rehearsal: synthetic clients before, during and after the migration
//! (as written, or zerodown's plan), the server's locks watched throughout, and what was
//! seen. What differs by engine (watching locks, running the SQL as written, the driver
//! zerodown's executor uses) is a [`Target`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use zerodown_core::analysis::StatementAnalysis;
use zerodown_core::lock::LockMode;
use zerodown_core::mysql::online::Online;
use zerodown_core::plan::{Plan, StepKind};
use zerodown_exec::{Database, Event, EventSink, Executor, MigrationStatus, Options, StateStore};
use zerodown_load::Spec;

use crate::report::{self, Mode, PhaseSummary, Run, Second, Stall, StatementStats, StepObserved};
use crate::watch::Sample;
use crate::{Progress, RehearseError};

pub const PHASES: [&str; 3] = ["before", "during", "after"];

/// What a run needs besides its database.
pub struct RunInput<'a> {
    pub url: String,
    pub mode: Mode,
    /// Statements as written, with their analysis (for the declared locks).
    pub statements: &'a [StatementAnalysis],
    pub plan: &'a Plan,
    /// Migration id, checksum and source names, for zerodown's state.
    pub identity: (String, String, String),
    pub spec: Spec,
    pub before: Duration,
    pub after: Duration,
    /// Tables whose locks are watched (`schema.table`).
    pub watched: Vec<String>,
    pub max_stall_ms: f64,
    pub interrupt: Arc<AtomicBool>,
}

/// A step's span, by the clock of the run.
pub struct Span {
    pub description: String,
    /// The lock the analysis expects (pg_locks' name, or MySQL's algorithm and lock).
    pub declared: Option<String>,
    pub started: Instant,
    pub ended: Option<Instant>,
}

/// What a run does on one engine.
pub trait Target {
    /// Starts sampling the locks on the watched tables; `clients` are the synthetic
    /// clients' session ids (where the engine has no other way to tell them apart).
    async fn watch(&mut self, input: &RunInput<'_>, clients: &[u64]) -> Result<(), RehearseError>;
    /// The busiest statements since the last call, if the server counts them.
    async fn statements(&mut self, phase: &'static str) -> Vec<StatementStats>;
    async fn unwatch(&mut self) -> Result<Vec<Sample>, RehearseError>;
    /// The statements as written, on one session, each span recorded.
    async fn as_written(&mut self, input: &RunInput<'_>) -> (Vec<Span>, Option<String>);
    /// zerodown's plan through the executor.
    async fn apply(&mut self, input: &RunInput<'_>, rec: &mut Recorder<'_>) -> Result<(), String>;
}

pub async fn run(
    input: RunInput<'_>,
    target: &mut impl Target,
    progress: &dyn Progress,
) -> Result<Run, RehearseError> {
    let mut pgss: Vec<StatementStats> = Vec::new();
    let _ = target.statements("setup").await;
    let load = zerodown_load::start(input.spec.clone())
        .await
        .map_err(RehearseError::Load)?;
    if let Err(e) = target.watch(&input, load.sessions()).await {
        let _ = load.stop().await;
        return Err(e);
    }
    let origin = Instant::now() - load.elapsed();
    progress.stage(&format!(
        "{}: traffic for {} s before the migration",
        input.mode.label(),
        input.before.as_secs()
    ));
    if let Err(e) = wait(input.before, &input.interrupt).await {
        let _ = load.stop().await;
        let _ = target.unwatch().await;
        return Err(e);
    }
    pgss.extend(target.statements("before").await);
    load.set_phase(1);
    progress.stage(&format!("{}: migrating under traffic", input.mode.label()));
    let started = Instant::now();
    let (spans, error) = match input.mode {
        Mode::AsWritten => target.as_written(&input).await,
        Mode::Zerodown => zerodown(&input, target, progress).await,
    };
    let ended = Instant::now();
    load.set_phase(2);
    pgss.extend(target.statements("during").await);
    progress.stage(&format!(
        "{}: traffic for {} s after the migration",
        input.mode.label(),
        input.after.as_secs()
    ));
    let after = wait(input.after, &input.interrupt).await;
    pgss.extend(target.statements("after").await);
    let stats = load.stop().await.map_err(RehearseError::Load)?;
    let samples = target.unwatch().await?;
    after?;
    if let Some(e) = &error {
        if input.interrupt.load(Ordering::Relaxed) {
            return Err(RehearseError::Interrupted);
        }
        progress.stage(&format!(
            "{}: the migration failed: {e}",
            input.mode.label()
        ));
    }
    let ms = |at: Instant| {
        u64::try_from(at.saturating_duration_since(origin).as_millis()).unwrap_or(u64::MAX)
    };
    let durations = [
        started.saturating_duration_since(origin),
        ended - started,
        stats
            .elapsed
            .saturating_sub(ended.saturating_duration_since(origin)),
    ];
    let phases = PHASES
        .iter()
        .zip(durations)
        .enumerate()
        .map(|(i, (name, d))| summary(name, d, stats.per_phase.get(i)))
        .collect();
    let steps = spans
        .iter()
        .enumerate()
        .map(|(i, s)| observe(i + 1, s, &samples, ms))
        .collect();
    let worst_stall = stats.worst.as_ref().map(|w| {
        let began = origin + w.began_after;
        Stall {
            ms: w.latency_ms,
            began_ms: ms(began),
            operation: w.op.clone(),
            phase: PHASES[if began < started {
                0
            } else if began < ended {
                1
            } else {
                2
            }]
            .to_owned(),
        }
    });
    let mut run = Run {
        mode: input.mode,
        verdict: report::Verdict {
            ok: false,
            summary: String::new(),
        },
        migration_started_ms: ms(started),
        migration_ended_ms: ms(ended),
        migration_error: error,
        worst_stall,
        phases,
        // Whole seconds only: the last one, cut short by the stop, would look like a dip.
        timeline: stats
            .per_second
            .iter()
            .filter(|s| (s.second + 1) as f64 <= stats.elapsed.as_secs_f64())
            .map(|s| Second {
                t_ms: s.second * 1000,
                ops: s.ops,
                errors: s.errors,
                p50_ms: s.p50_ms,
                p99_ms: s.p99_ms,
                max_ms: s.max_ms,
            })
            .collect(),
        steps,
        error_samples: stats.error_samples.clone(),
        statements: pgss,
    };
    run.verdict = report::judge(&run, input.max_stall_ms);
    Ok(run)
}

fn summary(name: &str, d: Duration, p: Option<&zerodown_load::Phase>) -> PhaseSummary {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    match p {
        Some(p) => PhaseSummary {
            name: name.to_owned(),
            duration_ms: ms,
            ops: p.ops,
            errors: p.errors,
            ops_per_sec: (p.ops as f64 / d.as_secs_f64().max(1e-3) * 10.0).round() / 10.0,
            p50_ms: p.percentile_ms(0.5),
            p99_ms: p.percentile_ms(0.99),
            p999_ms: p.percentile_ms(0.999),
            max_ms: p.max_ms(),
        },
        None => PhaseSummary {
            name: name.to_owned(),
            duration_ms: ms,
            ops: 0,
            errors: 0,
            ops_per_sec: 0.0,
            p50_ms: 0.0,
            p99_ms: 0.0,
            p999_ms: 0.0,
            max_ms: 0.0,
        },
    }
}

/// What the pg_locks samples taken during step `s` show.
fn observe(n: usize, s: &Span, samples: &[Sample], ms: impl Fn(Instant) -> u64) -> StepObserved {
    let end = s.ended.unwrap_or(s.started);
    let during: Vec<&Sample> = samples
        .iter()
        .filter(|x| x.at >= s.started && x.at <= end)
        .collect();
    StepObserved {
        n,
        description: s.description.clone(),
        started_ms: ms(s.started),
        ended_ms: ms(end),
        declared_lock: s.declared.clone(),
        observed_lock: during
            .iter()
            .filter_map(|x| x.holding)
            .max()
            .map(|l| l.name.to_owned()),
        observed_wait: during
            .iter()
            .filter_map(|x| x.waiting)
            .max()
            .map(|l| l.name.to_owned()),
        clients_waiting_max: during.iter().map(|x| x.clients_waiting).max().unwrap_or(0),
        samples: u32::try_from(during.len()).unwrap_or(u32::MAX),
    }
}

/// The lock a statement or step is expected to take, as the run report shows it
/// (`rebuild`: an online rebuild step, which locks the table only for its cut-over).
pub fn declared(lock: Option<LockMode>, online: Option<Online>, rebuild: bool) -> Option<String> {
    match (lock, online) {
        (Some(l), _) => Some(l.pg_locks_name().to_owned()),
        (None, Some(o)) => Some(format!(
            "ALGORITHM={}, LOCK={}",
            o.algorithm.name(),
            o.lock.name()
        )),
        (None, None) if rebuild => Some("cut-over only".to_owned()),
        (None, None) => None,
    }
}

/// Waits `d`, or less if the rehearsal is interrupted.
async fn wait(d: Duration, interrupt: &AtomicBool) -> Result<(), RehearseError> {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if interrupt.load(Ordering::Relaxed) {
            return Err(RehearseError::Interrupted);
        }
        tokio::time::sleep((end - Instant::now()).min(Duration::from_millis(100))).await;
    }
    Ok(())
}

pub fn one_line(sql: &str) -> String {
    let flat: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 90 {
        format!("{}...", flat.chars().take(87).collect::<String>())
    } else {
        flat
    }
}

/// Records when each step starts and ends, and passes events on to the progress display.
pub struct Recorder<'a> {
    plan: &'a Plan,
    progress: &'a dyn Progress,
    spans: Vec<Span>,
}

impl EventSink for Recorder<'_> {
    fn emit(&mut self, event: &Event) {
        match event {
            Event::StepStarted { step, .. } => {
                let s = self.plan.steps().nth(*step);
                self.spans.push(Span {
                    description: s.map(|s| s.description.clone()).unwrap_or_default(),
                    declared: s.and_then(|s| {
                        declared(
                            s.lock,
                            s.online.as_deref().copied(),
                            s.kind == StepKind::OnlineRebuild,
                        )
                    }),
                    started: Instant::now(),
                    ended: None,
                });
            }
            Event::StepDone { .. } | Event::StepFailed { .. } | Event::StepAlreadyDone { .. } => {
                if let Some(last) = self.spans.last_mut() {
                    last.ended.get_or_insert_with(Instant::now);
                }
            }
            _ => {}
        }
        self.progress.event(event);
    }
}

/// zerodown's plan, run by the executor as `zerodown apply` runs it.
async fn zerodown(
    input: &RunInput<'_>,
    target: &mut impl Target,
    progress: &dyn Progress,
) -> (Vec<Span>, Option<String>) {
    let mut rec = Recorder {
        plan: input.plan,
        progress,
        spans: Vec::new(),
    };
    let result = target.apply(input, &mut rec).await;
    (rec.spans, result.err())
}

/// Records the migration in `db`'s state and runs the plan as `zerodown apply` does.
pub async fn apply_with<D: Database + StateStore>(
    db: &mut D,
    input: &RunInput<'_>,
    rec: &mut Recorder<'_>,
) -> Result<(), String> {
    let (id, checksum, source) = &input.identity;
    let err = |e: zerodown_exec::DriverError| e.to_string();
    if !db.try_lock_run(id).await.map_err(err)? {
        return Err("another zerodown run holds the run lock".into());
    }
    let plan_json = serde_json::to_value(input.plan).map_err(|e| e.to_string())?;
    let steps: Vec<_> = input.plan.steps().cloned().collect();
    db.create(id, checksum, source, &plan_json, &steps)
        .await
        .map_err(err)?;
    let state = db
        .load(id)
        .await
        .map_err(err)?
        .ok_or("the migration's state was not recorded")?;
    db.set_status(id, MigrationStatus::Running, None)
        .await
        .map_err(err)?;
    let opts = Options {
        interrupt: input.interrupt.clone(),
        ..Options::default()
    };
    Executor::new(db, rec, id, opts)
        .run(input.plan, &state)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}
