//! SQL front end (parsing into the IR) and back end (quoting and rendering).

mod mysql_alter_extra;
pub mod parse_mysql;
pub use mysql_alter_extra::ExtraOp;
pub mod parse_pg;
pub mod quote;
pub mod render;
pub mod source;
pub mod types;
