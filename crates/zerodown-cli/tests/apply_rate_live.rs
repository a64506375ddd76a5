//! `apply --max-rows-per-sec` and `zerodown rate`: the cap holds while the backfill runs,
//! `status` shows it, and lifting it from another terminal lets the backfill finish.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{exit_by, migration, zerodown};
use tokio_postgres::Client;
use zerodown_testkit::{connect, TestDatabase};

const ROWS: i64 = 100_000;
const CAP: i64 = 2_000;

/// Rows backfilled so far (0 until the run has created its state tables: the query
/// fails while zerodown.steps does not exist).
async fn rows_done(db: &Client) -> i64 {
    db.query_one(
        "SELECT COALESCE(sum(rows_done), 0)::bigint FROM zerodown.steps",
        &[],
    )
    .await
    .map_or(0, |r| r.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rate_cap_holds_and_can_be_lifted_while_running() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "rate").await;
    let db = tdb.connect().await;
    db.batch_execute(&format!(
        "CREATE TABLE t (id bigserial PRIMARY KEY, name text);
         INSERT INTO t (name) SELECT 'n' || g FROM generate_series(1, {ROWS}) g; ANALYZE t;"
    ))
    .await
    .expect("setup");
    let m = migration("ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid();");
    let (path, url) = (m.path().to_str().expect("utf8").to_owned(), tdb.url());
    let cap = CAP.to_string();
    let mut run = zerodown()
        .args(["apply", &path, "--database-url", &url, "--yes"])
        .args(["--max-rows-per-sec", &cap])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");

    // Under the cap the backfill needs ROWS / CAP = 50 s: sample it once it is under way.
    let mut started = false;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if rows_done(&db).await > 0 {
            started = true;
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (a, t0) = (rows_done(&db).await, Instant::now());
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (b, window) = (rows_done(&db).await, t0.elapsed());
    let status = zerodown()
        .args(["status", "--database-url", &url, "--format", "json"])
        .output()
        .expect("status");
    let lifted = zerodown()
        .args(["rate", "off", "--database-url", &url])
        .output()
        .expect("rate off");
    // With the cap still on, the rest would take 40 s or more.
    let deadline = Instant::now() + Duration::from_secs(30);
    let finished = exit_by(&mut run, deadline).await;
    let nulls: i64 = db
        .query_one("SELECT count(*) FROM t WHERE c IS NULL", &[])
        .await
        .expect("nulls")
        .get(0);
    let stderr = run
        .wait_with_output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default();
    drop(db);
    tdb.drop(&admin).await;

    assert!(started, "the backfill started: {stderr}");
    let rate = (b - a) as f64 / window.as_secs_f64();
    assert!(b > a, "the capped backfill advanced ({a} -> {b})");
    // One batch (CAP / 10 rows) of slack on top of the cap.
    assert!(
        rate <= CAP as f64 * 1.1 + (CAP / 10) as f64,
        "capped at {CAP} rows/s, ran at {rate:.0} rows/s"
    );
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(status["migrations"][0]["max_rows_per_sec"], CAP, "{status}");
    assert_eq!(
        lifted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&lifted.stderr)
    );
    assert!(
        String::from_utf8_lossy(&lifted.stderr).contains("rate cap lifted"),
        "{}",
        String::from_utf8_lossy(&lifted.stderr)
    );
    let code = finished.and_then(|s| s.code());
    assert_eq!(
        code,
        Some(0),
        "the backfill finished once the cap was lifted: {stderr}"
    );
    assert_eq!(nulls, 0);
}
