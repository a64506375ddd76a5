//! Helpers shared by the binary's live tests.
#![allow(dead_code)] // each test file uses a part

use std::process::Command;

/// The `zerodown` binary, never picking up the developer's DATABASE_URL.
pub fn zerodown() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zerodown"));
    c.env_remove("DATABASE_URL");
    c
}

/// A migration file with `sql` (removed when dropped).
pub fn migration(sql: &str) -> tempfile::NamedTempFile {
    let f = tempfile::Builder::new()
        .suffix(".sql")
        .tempfile()
        .expect("tmp");
    std::fs::write(f.path(), sql).expect("write");
    f
}
