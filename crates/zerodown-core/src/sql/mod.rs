//! SQL front end (parsing into the IR) and back end (quoting and rendering).

pub mod parse_pg;
pub mod quote;
pub mod render;
pub mod source;
pub mod types;
