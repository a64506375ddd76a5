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

/// A session that read `t` inside a transaction and sits idle: its ACCESS SHARE lock
/// blocks the ACCESS EXCLUSIVE of DDL on `t`. Returns the session and its pid.
pub async fn idle_reader(db: &zerodown_testkit::TestDatabase) -> (tokio_postgres::Client, i32) {
    let holder = db.connect().await;
    holder
        .batch_execute("BEGIN; SELECT count(*) FROM t;")
        .await
        .expect("hold");
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    (holder, pid)
}

/// Waits for `child` to exit until `deadline`; kills it past the deadline (None).
pub async fn exit_by(
    child: &mut std::process::Child,
    deadline: std::time::Instant,
) -> Option<std::process::ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
