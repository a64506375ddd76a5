//! What a rehearsal found, as data (the JSON contract in docs/rehearse-report.md) and as
//! text for the terminal. Times are milliseconds since the synthetic clients started.

use serde::{Deserialize, Serialize};

/// Version of the JSON document; bumped when a field changes meaning or goes away.
pub const REPORT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub report_version: u32,
    /// The migration's files, as given.
    pub migration: Vec<String>,
    pub server: ServerInfo,
    pub workload: WorkloadInfo,
    /// Rows generated per table (`schema.table`).
    pub rows: Vec<(String, u64)>,
    /// The migration as written first when compared, then zerodown's plan.
    pub runs: Vec<Run>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// `PostgreSQL`, `MariaDB` or `MySQL`.
    #[serde(default = "postgres")]
    pub engine: String,
    /// `server_version` (PostgreSQL) or `VERSION()` (MySQL/MariaDB) of the rehearsal server.
    pub version: String,
    /// A throwaway cluster started for the rehearsal, or a scratch server (redacted URL).
    pub kind: String,
    pub pg_stat_statements: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkloadInfo {
    pub table: String,
    pub clients: usize,
    /// Weights of each operation, and the SQL it runs.
    pub operations: Vec<Operation>,
    pub before_ms: u64,
    pub after_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub name: String,
    pub weight: u32,
    pub sql: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The SQL as written, statement by statement.
    AsWritten,
    /// zerodown's phased plan, run by the executor.
    Zerodown,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::AsWritten => "as written",
            Mode::Zerodown => "zerodown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub mode: Mode,
    pub verdict: Verdict,
    /// When the migration began and ended.
    pub migration_started_ms: u64,
    pub migration_ended_ms: u64,
    /// The error that ended the migration early, if any.
    pub migration_error: Option<String>,
    pub worst_stall: Option<Stall>,
    /// before, during, after.
    pub phases: Vec<PhaseSummary>,
    pub timeline: Vec<Second>,
    pub steps: Vec<StepObserved>,
    pub error_samples: Vec<String>,
    /// Busiest statements of each phase (pg_stat_statements), when available.
    pub statements: Vec<StatementStats>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub ok: bool,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stall {
    pub ms: f64,
    pub began_ms: u64,
    pub operation: String,
    pub phase: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseSummary {
    pub name: String,
    pub duration_ms: u64,
    pub ops: u64,
    pub errors: u64,
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Second {
    pub t_ms: u64,
    pub ops: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// A step of the plan (or a statement as written) and what was seen while it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepObserved {
    pub n: usize,
    pub description: String,
    pub started_ms: u64,
    pub ended_ms: u64,
    /// The lock the plan (or the analysis) said the step takes, as pg_locks names it.
    pub declared_lock: Option<String>,
    /// The strongest table lock the migration's sessions were seen holding.
    pub observed_lock: Option<String>,
    /// The strongest lock they were seen waiting for.
    pub observed_wait: Option<String>,
    /// Most client sessions seen waiting on a lock of the migration's tables at once.
    pub clients_waiting_max: u32,
    /// pg_locks samples taken during the step.
    pub samples: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatementStats {
    pub phase: String,
    pub query: String,
    pub calls: i64,
    pub mean_ms: f64,
    pub max_ms: f64,
    pub total_ms: f64,
}

impl Run {
    pub fn phase(&self, name: &str) -> Option<&PhaseSummary> {
        self.phases.iter().find(|p| p.name == name)
    }

    pub fn migration_ms(&self) -> u64 {
        self.migration_ended_ms
            .saturating_sub(self.migration_started_ms)
    }
}

/// The verdict on one run: no client error, no stall beyond `max_stall_ms`, and the
/// migration finished.
pub fn judge(run: &Run, max_stall_ms: f64) -> Verdict {
    let during = run.phase("during");
    let errors = during.map_or(0, |p| p.errors);
    let worst = during.map_or(0.0, |p| p.max_ms);
    let base = run.phase("before").map_or(0.0, |p| p.p99_ms);
    let mut problems = Vec::new();
    if let Some(e) = &run.migration_error {
        problems.push(format!("the migration failed: {e}"));
    }
    if errors > 0 {
        problems.push(format!("clients saw {errors} errors during the migration"));
    }
    if worst > max_stall_ms {
        problems.push(format!(
            "a client stalled {worst:.0} ms (budget {max_stall_ms:.0} ms)"
        ));
    }
    if problems.is_empty() {
        Verdict {
            ok: true,
            summary: format!(
                "invisible: worst client wait {worst:.1} ms during the migration (p99 before it {base:.1} ms), no errors"
            ),
        }
    } else {
        Verdict {
            ok: false,
            summary: problems.join("; "),
        }
    }
}

fn secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

fn postgres() -> String {
    "PostgreSQL".into()
}

/// The report for people: one column per run.
pub fn render_text(r: &Report) -> String {
    let mut out = format!(
        "rehearsal of {} on {} {} ({})\n",
        r.migration.join(", "),
        r.server.engine,
        r.server.version,
        r.server.kind
    );
    let rows: Vec<String> = r.rows.iter().map(|(t, n)| format!("{t}: {n}")).collect();
    out.push_str(&format!(
        "data: {} rows; traffic: {} clients on {} ({})\n\n",
        rows.join(", "),
        r.workload.clients,
        r.workload.table,
        r.workload
            .operations
            .iter()
            .map(|o| format!("{} {}", o.name, o.weight))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let mut table: Vec<(String, Vec<String>)> = vec![
        ("".into(), vec![]),
        ("migration took".into(), vec![]),
        ("worst client wait".into(), vec![]),
        ("  at".into(), vec![]),
    ];
    for name in ["before", "during", "after"] {
        table.push((format!("{name}: ops/s"), vec![]));
        table.push((format!("{name}: p50 / p99 / p99.9 ms"), vec![]));
        table.push((format!("{name}: max ms, errors"), vec![]));
    }
    table.push(("verdict".into(), vec![]));
    for run in &r.runs {
        let mut col = vec![
            run.mode.label().to_owned(),
            secs(run.migration_ms()),
            run.worst_stall
                .as_ref()
                .map_or("-".into(), |s| format!("{:.1} ms ({})", s.ms, s.phase)),
            run.worst_stall.as_ref().map_or("-".into(), |s| {
                format!("{} ({})", secs(s.began_ms), s.operation)
            }),
        ];
        for name in ["before", "during", "after"] {
            match run.phase(name) {
                Some(p) => {
                    col.push(format!("{:.0}", p.ops_per_sec));
                    col.push(format!(
                        "{:.1} / {:.1} / {:.1}",
                        p.p50_ms, p.p99_ms, p.p999_ms
                    ));
                    col.push(format!("{:.1}, {}", p.max_ms, p.errors));
                }
                None => col.extend(["-".into(), "-".into(), "-".into()]),
            }
        }
        col.push(if run.verdict.ok { "ok" } else { "FAIL" }.into());
        for (row, v) in table.iter_mut().zip(col) {
            row.1.push(v);
        }
    }
    for (label, cells) in &table {
        out.push_str(&format!("{label:<30}"));
        for c in cells {
            out.push_str(&format!("{c:>26}"));
        }
        out.push('\n');
    }
    for run in &r.runs {
        out.push_str(&format!(
            "\n{}: {}\n",
            run.mode.label(),
            run.verdict.summary
        ));
        out.push_str(&format!(
            "  step  {:<27} {:<25} {:<31} {:>15} {:>6}  what\n",
            "declared lock", "seen holding", "seen waiting for", "clients waiting", "ms"
        ));
        for s in &run.steps {
            out.push_str(&format!(
                "  {:>4}  {:<27} {:<25} {:<31} {:>15} {:>6}  {}\n",
                s.n,
                s.declared_lock.as_deref().unwrap_or("-"),
                s.observed_lock.as_deref().unwrap_or("-"),
                s.observed_wait.as_deref().unwrap_or("-"),
                s.clients_waiting_max,
                s.ended_ms.saturating_sub(s.started_ms),
                s.description
            ));
        }
        for e in run.error_samples.iter().take(3) {
            out.push_str(&format!("  client error: {e}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(during_max: f64, errors: u64, failed: Option<&str>) -> Run {
        let phase = |name: &str, max_ms: f64, errors: u64| PhaseSummary {
            name: name.into(),
            duration_ms: 1000,
            ops: 100,
            errors,
            ops_per_sec: 100.0,
            p50_ms: 0.5,
            p99_ms: 2.0,
            p999_ms: 3.0,
            max_ms,
        };
        Run {
            mode: Mode::Zerodown,
            verdict: Verdict {
                ok: false,
                summary: String::new(),
            },
            migration_started_ms: 1000,
            migration_ended_ms: 2000,
            migration_error: failed.map(str::to_owned),
            worst_stall: None,
            // A slow "before" never fails the migration's verdict: only "during" counts.
            phases: vec![
                phase("before", 900.0, 3),
                phase("during", during_max, errors),
                phase("after", 5.0, 0),
            ],
            timeline: vec![],
            steps: vec![],
            error_samples: vec![],
            statements: vec![],
        }
    }

    #[test]
    fn verdict_fails_on_a_stall_over_budget_errors_or_a_failed_migration() {
        let ok = judge(&run(249.0, 0, None), 250.0);
        assert!(ok.ok && ok.summary.starts_with("invisible"), "{ok:?}");
        let stalled = judge(&run(251.0, 0, None), 250.0);
        assert!(
            !stalled.ok && stalled.summary.contains("stalled 251 ms"),
            "{stalled:?}"
        );
        let errors = judge(&run(1.0, 2, None), 250.0);
        assert!(
            !errors.ok && errors.summary.contains("2 errors"),
            "{errors:?}"
        );
        let failed = judge(&run(1.0, 0, Some("boom")), 250.0);
        assert!(!failed.ok && failed.summary.contains("boom"), "{failed:?}");
    }
}
