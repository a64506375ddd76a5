//! Synthetic traffic for rehearsals, tests and benchmarks: `clients` connections each
//! running a weighted mix of SQL operations as fast as they can (or at a pace), every
//! operation's latency recorded in an HDR histogram, every error kept.

use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_postgres::NoTls;

/// One kind of operation. `$1`, when present, is bound to a random key in `1..=keys`.
#[derive(Debug, Clone)]
pub struct Op {
    pub name: String,
    pub sql: String,
    pub weight: u32,
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
    tasks: Vec<tokio::task::JoinHandle<Result<ClientStats, String>>>,
    started: Instant,
}

struct ClientStats {
    hist: Histogram<u64>,
    ops: u64,
    errors: u64,
    samples: Vec<String>,
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 1 hour at 3 significant digits: constant, valid bounds.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// Starts the clients (each on its own connection). Fails if a client cannot connect.
pub async fn start(spec: Spec) -> Result<Running, String> {
    let (stop, rx) = watch::channel(false);
    let spec = Arc::new(spec);
    let total: u32 = spec.ops.iter().map(|o| o.weight).sum();
    if total == 0 {
        return Err("workload has no operation with a weight".into());
    }
    let mut tasks = Vec::new();
    let mut ready = Vec::new();
    for i in 0..spec.clients {
        let spec = Arc::clone(&spec);
        let mut rx = rx.clone();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<(), String>>();
        ready.push(ready_rx);
        tasks.push(tokio::spawn(async move {
            let (client, conn) = match tokio_postgres::connect(&spec.conn, NoTls).await {
                Ok(c) => c,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return Err(e.to_string());
                }
            };
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let mut statements = Vec::new();
            for op in &spec.ops {
                statements.push(client.prepare(&op.sql).await.map_err(|e| e.to_string())?);
            }
            let _ = ready_tx.send(Ok(()));
            let mut rng = fastrand::Rng::with_seed(0x10ad + i as u64);
            let mut s = ClientStats {
                hist: histogram(),
                ops: 0,
                errors: 0,
                samples: Vec::new(),
            };
            while !*rx.borrow_and_update() {
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
                let stmt = &statements[idx];
                let key = rng.i64(1..=spec.keys.max(1));
                let t0 = Instant::now();
                let result = if stmt.params().is_empty() {
                    client.execute(stmt, &[]).await
                } else {
                    client.execute(stmt, &[&key]).await
                };
                let us = t0.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
                let _ = s.hist.record(us.max(1));
                s.ops += 1;
                if let Err(e) = result {
                    s.errors += 1;
                    if s.samples.len() < 10 {
                        s.samples.push(format!(
                            "{}: {}",
                            spec.ops[idx].name,
                            e.as_db_error()
                                .map_or_else(|| e.to_string(), |d| d.message().to_owned())
                        ));
                    }
                }
                if let Some(t) = spec.think {
                    tokio::select! {
                        _ = tokio::time::sleep(t) => {}
                        _ = rx.changed() => {}
                    }
                }
            }
            Ok(s)
        }));
    }
    for r in ready {
        match r.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("a client could not start: {e}")),
            Err(_) => return Err("a client ended before starting".into()),
        }
    }
    Ok(Running {
        stop,
        tasks,
        started: Instant::now(),
    })
}

impl Running {
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
        };
        for t in self.tasks {
            let s = t.await.map_err(|e| e.to_string())??;
            stats.latency_us.add(&s.hist).map_err(|e| e.to_string())?;
            stats.ops += s.ops;
            stats.errors += s.errors;
            stats.error_samples.extend(s.samples);
        }
        Ok(stats)
    }
}
