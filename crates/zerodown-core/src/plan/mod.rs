//! The plan both engines produce: phases (expand -> backfill -> contract) of steps
//! that each declare what they expect, and the knobs of the plan. Each engine's
//! planner (`pg::plan`, `mysql::plan`) builds it.

pub mod step;

use serde::{Deserialize, Serialize};

pub use step::*;

/// Knobs of the plan; the executor may change some while running (batch size, rate).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanOptions {
    /// lock_timeout for steps whose lock blocks traffic: short, so a waiting DDL never
    /// holds up the queue behind it for long.
    pub lock_timeout_ms: u64,
    /// lock_timeout for steps whose lock blocks no reads or writes (VALIDATE, CONCURRENTLY).
    pub nonblocking_lock_timeout_ms: u64,
    /// statement_timeout for brief DDL: a safety net if a step is slower than expected.
    pub ddl_statement_timeout_ms: u64,
    pub batch_size: u32,
    pub target_batch_ms: u32,
    pub batch_statement_timeout_ms: u64,
    pub retry: RetryPolicy,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            lock_timeout_ms: 100,
            nonblocking_lock_timeout_ms: 60_000,
            ddl_statement_timeout_ms: 5_000,
            batch_size: 1_000,
            target_batch_ms: 10,
            batch_statement_timeout_ms: 30_000,
            retry: RetryPolicy {
                max_attempts: 50,
                initial_backoff_ms: 100,
                max_backoff_ms: 5_000,
                budget_ms: 300_000,
                jitter: true,
            },
        }
    }
}

/// Steps of one phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseSteps {
    pub name: Phase,
    pub steps: Vec<Step>,
}

/// A phased plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub phases: Vec<PhaseSteps>,
    /// No step holds a traffic-blocking lock while it rewrites or scans an existing table.
    pub safe: bool,
    /// What the plan could not make safe, and other things a person must know.
    pub notes: Vec<String>,
    /// The rows the team's migration tool gets once each file is applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<crate::history::HistoryPlan>,
}

impl Plan {
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.phases.iter().flat_map(|p| p.steps.iter())
    }
}
