//! Synthetic traffic for rehearsals, tests and benchmarks: `clients` connections each
//! running a weighted mix of SQL operations as fast as they can (or at a pace), every
//! operation's latency recorded in an HDR histogram (overall and per second of the run),
//! every error kept, and the slowest operation with the moment it began.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use tokio::sync::watch;
use tokio::time::Instant;

mod session;

use session::Session;
pub use session::APP_NAME;

/// One kind of operation. `$1` (`?` on MySQL), when present, is bound to a random key in `1..=keys`,
/// or with `fresh_keys` to a key no operation used before (above `keys`: for inserts).
#[derive(Debug, Clone, Default)]
pub struct Op {
    pub name: String,
    pub sql: String,
    pub weight: u32,
    pub fresh_keys: bool,
}

/// The workload to run.
#[derive(Debug, Clone)]
pub struct Spec {
    pub conn: String,
    pub clients: usize,
    pub ops: Vec<Op>,
    /// Keys are drawn uniformly from 1..=keys.
    pub keys: i64,
    /// Pause between operations of one client (None: back to back).
    pub think: Option<Duration>,
}

/// What the clients saw.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Latency of every operation, microseconds.
    pub latency_us: Histogram<u64>,
    pub ops: u64,
    pub errors: u64,
    /// The first errors, verbatim.
    pub error_samples: Vec<String>,
    pub elapsed: Duration,
    /// When the run began (Unix milliseconds), to line the timeline up with other events.
    pub started_unix_ms: u64,
    /// One entry per second of the run, by when operations began.
    pub per_second: Vec<Second>,
    /// The slowest operation: its latency, when it began, which kind it was.
    pub worst: Option<Worst>,
    /// One entry per phase ([`Running::set_phase`]; phase 0 until the first call), by
    /// when operations began.
    pub per_phase: Vec<Phase>,
}

/// What the clients saw during one phase of the run.
#[derive(Debug, Clone)]
pub struct Phase {
    pub ops: u64,
    pub errors: u64,
    /// Latency of every operation of the phase, microseconds.
    pub latency_us: Histogram<u64>,
}

impl Phase {
    fn new() -> Phase {
        Phase {
            ops: 0,
            errors: 0,
            latency_us: histogram(),
        }
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        self.latency_us.value_at_quantile(p) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.latency_us.max() as f64 / 1000.0
    }
}

/// What the clients saw in one second of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Second {
    /// Seconds since the run began.
    pub second: u64,
    pub ops: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The slowest operation of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Worst {
    pub latency_ms: f64,
    /// When it began, since the run began.
    pub began_after: Duration,
    pub op: String,
}

impl Stats {
    pub fn max_ms(&self) -> f64 {
        self.latency_us.max() as f64 / 1000.0
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        self.latency_us.value_at_quantile(p) as f64 / 1000.0
    }

    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A running workload; [`Running::stop`] ends it and returns the merged stats.
pub struct Running {
    stop: watch::Sender<bool>,
    phase: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<Result<ClientStats, String>>>,
    started: Instant,
    started_unix_ms: u64,
    sessions: Vec<u64>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

struct ClientStats {
    hist: Histogram<u64>,
    ops: u64,
    errors: u64,
    samples: Vec<String>,
    /// Per second of the run: operations, errors, latencies (2 significant digits,
    /// auto-sized: a few KB per second).
    seconds: Vec<(u64, u64, Histogram<u64>)>,
    worst: Option<Worst>,
    phases: Vec<Phase>,
}

impl ClientStats {
    fn record(&mut self, began: Duration, phase: usize, us: u64, failed: bool, op: &str) {
        let _ = self.hist.record(us.max(1));
        self.ops += 1;
        self.errors += u64::from(failed);
        if phase < 64 {
            while self.phases.len() <= phase {
                self.phases.push(Phase::new());
            }
            let p = &mut self.phases[phase];
            p.ops += 1;
            p.errors += u64::from(failed);
            let _ = p.latency_us.record(us.max(1));
        }
        let i = usize::try_from(began.as_secs()).unwrap_or(usize::MAX);
        if i < 86_400 {
            while self.seconds.len() <= i {
                self.seconds.push((0, 0, second_histogram()));
            }
            let (ops, errors, hist) = &mut self.seconds[i];
            *ops += 1;
            *errors += u64::from(failed);
            let _ = hist.record(us.max(1));
        }
        let ms = us as f64 / 1000.0;
        if self.worst.as_ref().is_none_or(|w| ms > w.latency_ms) {
            self.worst = Some(Worst {
                latency_ms: ms,
                began_after: began,
                op: op.to_owned(),
            });
        }
    }
}

fn second_histogram() -> Histogram<u64> {
    Histogram::new(2).expect("valid histogram precision")
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 1 hour at 3 significant digits: constant, valid bounds.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Starts the clients (each on its own connection). Fails if a client cannot connect.
pub async fn start(spec: Spec) -> Result<Running, String> {
    let (stop, rx) = watch::channel(false);
    let phase = Arc::new(AtomicUsize::new(0));
    let spec = Arc::new(spec);
    let total: u32 = spec.ops.iter().map(|o| o.weight).sum();
    if total == 0 {
        return Err("workload has no operation with a weight".into());
    }
    let mut tasks = Vec::new();
    let mut ready = Vec::new();
    // Set once every client is connected; until then clients wait for it.
    let (epoch_tx, epoch_rx) = watch::channel(None::<Instant>);
    for i in 0..spec.clients {
        let spec = Arc::clone(&spec);
        let phase = Arc::clone(&phase);
        let mut rx = rx.clone();
        let mut epoch_rx = epoch_rx.clone();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<Option<u64>, String>>();
        ready.push(ready_rx);
        tasks.push(tokio::spawn(async move {
            let mut session = match Session::open(&spec.conn, &spec.ops).await {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.clone()));
                    return Err(e);
                }
            };
            let _ = ready_tx.send(Ok(session.server_id()));
            let epoch = loop {
                if let Some(at) = *epoch_rx.borrow_and_update() {
                    break at;
                }
                if epoch_rx.changed().await.is_err() {
                    session.close().await;
                    return Err("the workload was dropped before it started".to_owned());
                }
            };
            let mut rng = fastrand::Rng::with_seed(0x10ad + i as u64);
            let mut s = ClientStats {
                hist: histogram(),
                ops: 0,
                errors: 0,
                samples: Vec::new(),
                seconds: Vec::new(),
                worst: None,
                phases: Vec::new(),
            };
            // Fresh keys: this client's share of the numbers above `keys`.
            let mut fresh = spec.keys.max(0) + 1 + i as i64;
            // Ends when stopped, when the Running is dropped, or when the server goes.
            while !*rx.borrow_and_update() && rx.has_changed().is_ok() && !session.is_closed() {
                let mut pick = rng.u32(0..total);
                let idx = spec.ops.iter().position(|o| {
                    if pick < o.weight {
                        true
                    } else {
                        pick -= o.weight;
                        false
                    }
                });
                let Some(idx) = idx else { continue };
                let key = if spec.ops[idx].fresh_keys {
                    fresh += spec.clients as i64;
                    fresh - spec.clients as i64
                } else {
                    rng.i64(1..=spec.keys.max(1))
                };
                let in_phase = phase.load(Ordering::Relaxed);
                let t0 = Instant::now();
                let result = session.run(idx, key).await;
                let us = t0.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
                s.record(
                    t0.saturating_duration_since(epoch),
                    in_phase,
                    us,
                    result.is_err(),
                    &spec.ops[idx].name,
                );
                if let Err(e) = result {
                    if s.samples.len() < 10 {
                        s.samples.push(format!("{}: {e}", spec.ops[idx].name));
                    }
                }
                if let Some(t) = spec.think {
                    tokio::select! {
                        _ = tokio::time::sleep(t) => {}
                        _ = rx.changed() => {}
                    }
                }
            }
            session.close().await;
            Ok(s)
        }));
    }
    let mut sessions = Vec::new();
    for r in ready {
        match r.await {
            Ok(Ok(id)) => sessions.extend(id),
            Ok(Err(e)) => return Err(format!("a client could not start: {e}")),
            Err(_) => return Err("a client ended before starting".into()),
        }
    }
    let started = Instant::now();
    let _ = epoch_tx.send(Some(started));
    Ok(Running {
        stop,
        phase,
        tasks,
        started,
        started_unix_ms: unix_ms(),
        sessions,
    })
}

impl Running {
    /// Operations that begin from now on count in phase `i` (e.g. 0 before, 1 during,
    /// 2 after a migration).
    pub fn set_phase(&self, i: usize) {
        self.phase.store(i, Ordering::Relaxed);
    }

    /// The clients' server session ids (MySQL connection ids; empty on PostgreSQL, whose
    /// clients carry [`APP_NAME`]).
    pub fn sessions(&self) -> &[u64] {
        &self.sessions
    }

    /// Time since the clients started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops every client and merges what they saw.
    pub async fn stop(self) -> Result<Stats, String> {
        let _ = self.stop.send(true);
        let elapsed = self.started.elapsed();
        let mut stats = Stats {
            latency_us: histogram(),
            ops: 0,
            errors: 0,
            error_samples: Vec::new(),
            elapsed,
            started_unix_ms: self.started_unix_ms,
            per_second: Vec::new(),
            worst: None,
            per_phase: Vec::new(),
        };
        let mut seconds: Vec<(u64, u64, Histogram<u64>)> = Vec::new();
        for t in self.tasks {
            let s = t.await.map_err(|e| e.to_string())??;
            stats.latency_us.add(&s.hist).map_err(|e| e.to_string())?;
            stats.ops += s.ops;
            stats.errors += s.errors;
            stats.error_samples.extend(s.samples);
            for (i, (ops, errors, hist)) in s.seconds.into_iter().enumerate() {
                if seconds.len() <= i {
                    seconds.resize_with(i + 1, || (0, 0, second_histogram()));
                }
                seconds[i].0 += ops;
                seconds[i].1 += errors;
                seconds[i].2.add(&hist).map_err(|e| e.to_string())?;
            }
            for (i, p) in s.phases.into_iter().enumerate() {
                if stats.per_phase.len() <= i {
                    stats.per_phase.resize_with(i + 1, Phase::new);
                }
                let merged = &mut stats.per_phase[i];
                merged.ops += p.ops;
                merged.errors += p.errors;
                merged
                    .latency_us
                    .add(&p.latency_us)
                    .map_err(|e| e.to_string())?;
            }
            if let Some(w) = s.worst {
                if stats
                    .worst
                    .as_ref()
                    .is_none_or(|x| w.latency_ms > x.latency_ms)
                {
                    stats.worst = Some(w);
                }
            }
        }
        let ms = |us: u64| us as f64 / 1000.0;
        stats.per_second = seconds
            .into_iter()
            .enumerate()
            .map(|(i, (ops, errors, h))| Second {
                second: i as u64,
                ops,
                errors,
                p50_ms: ms(h.value_at_quantile(0.5)),
                p99_ms: ms(h.value_at_quantile(0.99)),
                max_ms: ms(h.max()),
            })
            .collect();
        Ok(stats)
    }
}
