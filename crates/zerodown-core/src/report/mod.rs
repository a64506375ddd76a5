//! Reports of a plan: JSON (a documented, versioned contract: docs/json-format.md)
//! and text for people.

mod text;

use serde::Serialize;

use crate::analysis::{StatementAnalysis, Verdict};
use crate::engine::ServerProfile;
use crate::pipeline::Outcome;
use crate::plan::{Phase, Step};
pub use text::{human_seconds, render_text, write_text};

/// Version of the JSON document; bumped on any incompatible change.
pub const JSON_FORMAT_VERSION: u32 = 1;

/// Where the facts came from.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    /// "live" (read from a database) or "offline" (a named target version).
    pub source: &'static str,
    /// The database URL with any password removed, when live.
    pub database: Option<String>,
    /// Offline: what was taken for granted ([`crate::assumptions`]).
    pub assumptions: Vec<String>,
    /// The team's migration tool whose history the files are read against and written to.
    pub history: Option<HistoryMeta>,
}

/// What the report says of the migration tool's history.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryMeta {
    #[serde(flatten)]
    pub chosen: crate::history::Chosen,
    /// The files the tool had applied already: left out of the plan.
    pub applied: Vec<String>,
    /// The files planned, each recorded in the tool's table as it completes.
    pub pending: usize,
}

struct Summary {
    statements: usize,
    safe: usize,
    caution: usize,
    unsafe_: usize,
    verdict: Verdict,
}

#[derive(Serialize)]
struct JsonStep<'a> {
    /// The statements joined, as one SQL text.
    sql: String,
    #[serde(flatten)]
    step: &'a Step,
}

#[derive(Serialize)]
struct JsonPhase<'a> {
    name: Phase,
    steps: Vec<JsonStep<'a>>,
}

#[derive(Serialize)]
struct JsonPlan<'a> {
    safe: bool,
    phases: Vec<JsonPhase<'a>>,
    notes: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<&'a crate::history::HistoryPlan>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    format_version: u32,
    engine: String,
    version: String,
    source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    assumptions: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    history: Option<&'a HistoryMeta>,
    statements: &'a [StatementAnalysis],
    plan: JsonPlan<'a>,
    summary: serde_json::Value,
}

/// The worst verdict of all statements (Safe when there are none).
pub fn overall_verdict(outcome: &Outcome) -> Verdict {
    outcome
        .statements
        .iter()
        .map(|s| s.verdict)
        .max()
        .unwrap_or(Verdict::Safe)
}

fn summary(outcome: &Outcome) -> Summary {
    let count = |v: Verdict| outcome.statements.iter().filter(|s| s.verdict == v).count();
    Summary {
        statements: outcome.statements.len(),
        safe: count(Verdict::Safe),
        caution: count(Verdict::Caution),
        unsafe_: count(Verdict::Unsafe),
        verdict: overall_verdict(outcome),
    }
}

/// The JSON report.
pub fn to_json(profile: &ServerProfile, meta: &Meta, outcome: &Outcome) -> serde_json::Value {
    let s = summary(outcome);
    let report = JsonReport {
        format_version: JSON_FORMAT_VERSION,
        engine: profile.engine.to_string(),
        version: profile.version.to_string(),
        source: meta.source,
        database: meta.database.as_deref(),
        assumptions: &meta.assumptions,
        history: meta.history.as_ref(),
        statements: &outcome.statements,
        plan: JsonPlan {
            safe: outcome.plan.safe,
            phases: outcome
                .plan
                .phases
                .iter()
                .map(|p| JsonPhase {
                    name: p.name,
                    steps: p
                        .steps
                        .iter()
                        .map(|step| JsonStep {
                            sql: step.statements.join(";\n"),
                            step,
                        })
                        .collect(),
                })
                .collect(),
            notes: &outcome.plan.notes,
            history: outcome.plan.history.as_ref(),
        },
        summary: serde_json::json!({
            "statements": s.statements,
            "safe": s.safe,
            "caution": s.caution,
            "unsafe": s.unsafe_,
            "verdict": s.verdict,
        }),
    };
    serde_json::to_value(report).unwrap_or(serde_json::Value::Null)
}
