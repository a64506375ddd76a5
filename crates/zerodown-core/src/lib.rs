//! zerodown-core: the pure planner. SQL text and a server profile in, impact and a
//! phased plan out. Nothing here does I/O or reads a clock.

pub mod capabilities;
pub mod engine;
pub mod ir;
pub mod lock;
pub mod migrations;
pub mod sql;
