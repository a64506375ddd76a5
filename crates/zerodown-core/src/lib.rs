//! zerodown-core: the pure planner. SQL text and a server profile in, impact and a
//! phased plan out. Nothing here does I/O or reads a clock.
//!
//! Each engine's front half (parse, catalog and its simulation, analysis, planning,
//! synthetic data) lives in its own folder, [`pg`] and [`mysql`]; what both share sits
//! beside them, and [`pipeline`] is where the engine is chosen.

pub mod analysis;
pub mod assumptions;
pub mod capabilities;
pub mod check;
pub mod engine;
pub mod estimate;
pub mod findings;
pub mod history;
pub mod lock;
pub mod migrations;
pub mod mysql;
pub mod pg;
pub mod pipeline;
pub mod plan;
pub mod report;
pub mod sql;
