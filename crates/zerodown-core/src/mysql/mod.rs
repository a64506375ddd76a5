//! MySQL/MariaDB's front half: SQL read with sqlparser's MySQL dialect, ALTER TABLE
//! read into actions against the table, the algorithm and lock the server gives each,
//! the catalog advanced statement by statement, the impact of each statement, the
//! ladder of steps, and synthetic rows for rehearsals.

pub mod actions;
mod alter_extra;
pub mod analyze;
pub mod catalog;
pub mod online;
pub mod parse;
pub mod plan;
pub mod synth;
pub mod tokens;
mod written;

pub use alter_extra::ExtraOp;
