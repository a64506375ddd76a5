//! Crashes and operator commands on the real MariaDB: `kill -9` during a backfill, then
//! `status` says interrupted and `resume` finishes from the checkpoint with every row
//! right; a run stopped by a lock it could not get is undone by `abort`.

mod common;

use std::time::{Duration, Instant};

use common::{migration, zerodown};
use mysql_async::prelude::Queryable;
use zerodown_testkit::MyTestDatabase;

const ROWS: u64 = 300_000;

async fn rows_done(c: &mut mysql_async::Conn, db: &str) -> u64 {
    c.exec_first::<Option<u64>, _, _>(
        "SELECT CAST(SUM(rows_done) AS UNSIGNED) FROM `_zerodown`.steps WHERE db = ?",
        (db,),
    )
    .await
    .ok()
    .flatten()
    .flatten()
    .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_the_backfill_then_resume() {
    let db = MyTestDatabase::create("crash").await;
    let mut c = db.connect().await;
    c.query_drop(format!(
        "CREATE TABLE orders (id INT NOT NULL PRIMARY KEY, customer_id INT NOT NULL);
         INSERT INTO orders SELECT seq, seq % 100 FROM seq_1_to_{ROWS};"
    ))
    .await
    .expect("table");
    let m = migration(
        "ALTER TABLE orders ADD COLUMN total BIGINT NOT NULL DEFAULT 0;\n\
         UPDATE orders SET total = id * 3;\n\
         CREATE INDEX k_total ON orders (total);",
    );
    let path = m.path().to_string_lossy().to_string();
    let url = db.url();
    let mut child = zerodown()
        .args([
            "apply",
            &path,
            "--database-url",
            &url,
            "--max-rows-per-sec",
            "20000",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("apply");
    let deadline = Instant::now() + Duration::from_secs(30);
    while rows_done(&mut c, &db.name).await < 40_000 {
        assert!(Instant::now() < deadline, "the backfill did not get going");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    let at_kill = rows_done(&mut c, &db.name).await;
    assert!(at_kill < ROWS, "killed mid-way ({at_kill} rows done)");
    let status = zerodown()
        .args(["status", "--database-url", &url, "--format", "json"])
        .output()
        .expect("status");
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(doc["migrations"][0]["status"], "interrupted", "{doc}");
    // Operator commands work on the stored migration.
    for args in [vec!["pause"], vec!["unpause"], vec!["rate", "off"]] {
        let out = zerodown()
            .args(&args)
            .args(["--database-url", &url])
            .output()
            .expect("control");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = zerodown()
        .args(["resume", "--database-url", &url])
        .output()
        .expect("resume");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("resuming"), "{stderr}");
    let wrong: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM orders WHERE total <> id * 3")
        .await
        .expect("check");
    assert_eq!(wrong, Some(0));
    let count: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM orders")
        .await
        .expect("count");
    assert_eq!(count, Some(ROWS));
    let index: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'orders' AND INDEX_NAME = 'k_total'")
        .await
        .expect("index");
    assert_eq!(index, Some(1));
    // The checkpoint carried over: the resumed run did not start the table again.
    let total = rows_done(&mut c, &db.name).await;
    assert!(
        total < ROWS + 5_000,
        "rows done over both runs: {total} (killed at {at_kill})"
    );
    let status = zerodown()
        .args(["status", "--database-url", &url])
        .output()
        .expect("status");
    assert!(String::from_utf8_lossy(&status.stdout).contains("completed"));
    drop(c);
    db.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_run_is_undone_by_abort() {
    let db = MyTestDatabase::create("abort").await;
    let mut c = db.connect().await;
    c.query_drop(
        "CREATE TABLE t (id INT PRIMARY KEY, a INT);
         CREATE TABLE u (id INT PRIMARY KEY);
         INSERT INTO t SELECT seq, seq FROM seq_1_to_1000;",
    )
    .await
    .expect("tables");
    // A holder on u: the second statement cannot get its lock within the budget.
    let mut holder = db.connect().await;
    holder
        .query_drop("BEGIN; SELECT COUNT(*) FROM u")
        .await
        .expect("hold");
    let m = migration(
        "ALTER TABLE t ADD COLUMN b INT, ADD INDEX k_a (a);\nALTER TABLE u ADD COLUMN c INT;",
    );
    let url = db.url();
    let out = zerodown()
        .args([
            "apply",
            &m.path().to_string_lossy(),
            "--database-url",
            &url,
            "--retry-budget-secs",
            "3",
        ])
        .output()
        .expect("apply");
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    holder.query_drop("COMMIT").await.expect("release");
    let out = zerodown()
        .args(["abort", "--database-url", &url])
        .output()
        .expect("abort");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cols: Vec<String> = c
        .query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't' ORDER BY ORDINAL_POSITION")
        .await
        .expect("columns");
    assert_eq!(cols, vec!["id", "a"], "the added column was dropped");
    let idx: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't' AND INDEX_NAME = 'k_a'")
        .await
        .expect("index");
    assert_eq!(idx, Some(0), "the built index was dropped");
    let status: Option<String> = c
        .exec_first(
            "SELECT status FROM `_zerodown`.migrations WHERE db = ?",
            (db.name.clone(),),
        )
        .await
        .expect("state");
    assert_eq!(status.as_deref(), Some("aborted"));
    drop(holder);
    drop(c);
    db.drop().await;
}
