//! A rebuild resumed after the binary log it was reading from was purged (a run killed
//! on Friday, resumed on Monday after `expire_logs_days`): the changes made meanwhile
//! can no longer be read, so the shadow table cannot be trusted. The resumed run must
//! start the copy again from a new position, say so, and end with every change in the
//! new table (on a throwaway MariaDB with a row binary log).

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{control, migration, mysql_app_t, mysql_qty_type, mysql_rows_copied, zerodown};
use mysql_async::prelude::Queryable;
use zerodown_mysql::server::Server;

const ROWS: u64 = 100_000;

/// The binary log file the server writes now.
async fn binlog_file(c: &mut mysql_async::Conn) -> String {
    let status: Option<mysql_async::Row> =
        c.query_first("SHOW MASTER STATUS").await.expect("status");
    status
        .and_then(|r| r.get::<String, _>(0))
        .expect("binary log on")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_the_binary_log_was_purged_starts_the_copy_again() {
    let server = Server::start(&[]).expect("throwaway MariaDB");
    let mut c = mysql_app_t(&server, ROWS).await;
    let url = server.url("app");
    let m = migration("ALTER TABLE t MODIFY qty BIGINT NOT NULL;");
    // Capped, so the copy is still under way when it is killed.
    let mut child = zerodown()
        .args(["apply", &m.path().to_string_lossy(), "--database-url", &url])
        .args(["--max-rows-per-sec", "20000"])
        .stderr(Stdio::null())
        .spawn()
        .expect("apply");
    let deadline = Instant::now() + Duration::from_secs(30);
    while mysql_rows_copied(&mut c).await < 10_000 {
        assert!(Instant::now() < deadline, "the copy did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    // Changes in rows already copied, then the binary log they are in is purged.
    c.query_drop("UPDATE app.t SET qty = -1 WHERE id IN (1, 2); DELETE FROM app.t WHERE id = 3")
        .await
        .expect("changes");
    let file = binlog_file(&mut c).await;
    // The killed run's binary log reader may linger on the server until it next writes
    // to the closed socket; a purge skips the files a reader is on.
    let readers: Vec<u64> = c
        .query("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")
        .await
        .expect("readers");
    for id in readers {
        let _ = c.query_drop(format!("KILL {id}")).await;
    }
    c.query_drop("FLUSH BINARY LOGS").await.expect("rotate");
    let next = binlog_file(&mut c).await;
    // Purged once no reader holds it (a killed reader goes within moments).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        c.query_drop(format!("PURGE BINARY LOGS TO '{next}'"))
            .await
            .expect("purge the first file");
        let logs: Vec<(String, u64)> = c.query("SHOW BINARY LOGS").await.expect("logs");
        if !logs.iter().any(|(f, _)| *f == file) {
            break;
        }
        assert!(Instant::now() < deadline, "{file} was not purged: {logs:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let (code, stderr) = control(&["resume"], &url);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("starting the copy again: the binary log {file}"))
            && stderr.contains("no longer on the server"),
        "the restart is said: {stderr}"
    );
    assert_eq!(mysql_qty_type(&mut c).await.as_deref(), Some("bigint"));
    let wrong: Option<u64> = c
        .query_first(
            "SELECT COUNT(*) FROM app.t WHERE NOT (qty = id OR (id IN (1, 2) AND qty = -1))",
        )
        .await
        .expect("rows");
    assert_eq!(wrong, Some(0), "every change in the new table");
    let count: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM app.t")
        .await
        .expect("count");
    assert_eq!(count, Some(ROWS - 1), "the delete carried over");
}
