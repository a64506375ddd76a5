//! SQL text helpers both engines share: quoting, names, source positions and
//! diagnostics. Each engine's parser lives in its own folder.

pub mod name;
pub mod quote;
pub mod source;
