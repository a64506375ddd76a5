//! The migration tools the history tests drive, installed by `scripts/tools.sh` into
//! `$ZERODOWN_TOOLS` (default `~/.cache/zerodown/tools`).

use std::path::PathBuf;

fn root() -> PathBuf {
    match std::env::var_os("ZERODOWN_TOOLS") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/zerodown/tools"),
    }
}

fn installed(path: PathBuf) -> PathBuf {
    assert!(
        path.is_file(),
        "{} is missing: run `bash scripts/tools.sh` (scripts/test.sh does)",
        path.display()
    );
    path
}

/// dbmate, from npm.
pub fn dbmate() -> PathBuf {
    installed(root().join("dbmate/node_modules/.bin/dbmate"))
}

/// sqlx-cli's `sqlx`, from crates.io.
pub fn sqlx() -> PathBuf {
    installed(root().join("sqlx/bin/sqlx"))
}
