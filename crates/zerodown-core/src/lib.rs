//! zerodown-core: the pure planner. SQL text and a server profile in, impact and a
//! phased plan out. Nothing here does I/O or reads a clock.

pub mod analyze;
pub mod capabilities;
pub mod catalog;
pub mod check;
pub mod engine;
pub mod findings;
pub mod ir;
pub mod lock;
pub mod migrations;
pub mod pipeline;
pub mod plan;
pub mod report;
pub mod sql;
pub mod synth;
pub mod synth_mysql;
