//! Replica lag throttles the backfill. A throwaway primary and a streaming standby that
//! replays WAL 2 s late: `apply --max-replica-lag-secs 1` waits while the standby lags
//! and says so, goes on once the standby keeps up again, and the standby ends with every
//! row backfilled.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{exit_by, migration, zerodown};
use zerodown_pg::cluster::Cluster;

async fn scalar(url: &str, sql: &str) -> i64 {
    let c = zerodown_pg::connect(url).await.expect("connect");
    c.query_one(sql, &[]).await.expect("query").get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replica_lag_throttles_the_backfill_until_the_standby_keeps_up() {
    let primary = Cluster::start(&[]).expect("primary cluster");
    let url = primary.url("postgres");
    let db = zerodown_pg::connect(&url).await.expect("connect");
    db.batch_execute(
        "CREATE TABLE t (id bigserial PRIMARY KEY, name text);
         INSERT INTO t (name) SELECT 'n' || g FROM generate_series(1, 100000) g; ANALYZE t;",
    )
    .await
    .expect("setup");
    let standby = primary
        .standby(&[
            ("recovery_min_apply_delay", "2s"),
            ("wal_receiver_status_interval", "1s"),
        ])
        .expect("standby");
    let mut streaming = false;
    for _ in 0..100 {
        let n = scalar(
            &url,
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
        )
        .await;
        if n == 1 {
            streaming = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(streaming, "the standby streams from the primary");

    let m = migration("ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid();");
    // 10 s of backfill under the rate cap, so the lag is seen while it runs.
    let mut run = zerodown()
        .args([
            "apply",
            m.path().to_str().expect("utf8"),
            "--database-url",
            &url,
        ])
        .args([
            "--yes",
            "--log-format",
            "json",
            "--max-replica-lag-secs",
            "1",
        ])
        .args(["--max-rows-per-sec", "10000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let (tx, rx) = mpsc::channel::<serde_json::Value>();
    let stdout = run.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                let _ = tx.send(v);
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut throttled = None;
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(v) if v["event"] == "throttled" => {
                throttled = Some(v);
                break;
            }
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    // The standby catches up: the backfill must go on to the end.
    standby
        .reconfigure(&[("recovery_min_apply_delay", "0")])
        .expect("reload standby");
    let finished = exit_by(&mut run, deadline).await;
    let stderr = run
        .wait_with_output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default();
    let nulls_primary = scalar(&url, "SELECT count(*) FROM t WHERE c IS NULL").await;
    let mut nulls_standby: i64 = -1;
    for _ in 0..100 {
        // Fails (-1) until the standby has replayed the new column.
        let standby_db = zerodown_pg::connect(&standby.url("postgres"))
            .await
            .expect("connect standby");
        nulls_standby = standby_db
            .query_one("SELECT count(*) FROM t WHERE c IS NULL", &[])
            .await
            .map_or(-1, |r| r.get(0));
        if nulls_standby == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let throttled = throttled.unwrap_or_else(|| panic!("no throttled event: {stderr}"));
    assert!(
        throttled["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("replica lag")),
        "{throttled}"
    );
    assert_eq!(finished.and_then(|s| s.code()), Some(0), "{stderr}");
    assert_eq!(nulls_primary, 0);
    assert_eq!(nulls_standby, 0, "the standby has every row backfilled");
}
