//! PostgreSQL's front half: SQL parsed by the real parser into a small IR, the catalog
//! and its simulation statement by statement, the impact of each statement, the
//! phased plan (one file per operation under `plan/ops/`), and synthetic rows for
//! rehearsals.

pub mod analyze;
pub mod catalog;
pub mod ir;
pub mod parse;
pub mod plan;
pub mod render;
pub mod synth;
pub mod types;
