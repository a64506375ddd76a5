//! A standby killed in the middle of a backfill is lag unknown, not "no lag": the
//! backfill holds (and says why) until the standby streams again, then goes on; with a
//! short --max-lag-unknown-secs it stops cleanly instead (exit 5) and `resume` finishes
//! once the standby is back. No row is lost either way, on the primary or the standby.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{exit_by, migration, zerodown};
use zerodown_pg::cluster::Cluster;

async fn scalar(url: &str, sql: &str) -> i64 {
    let c = zerodown_pg::connect(url).await.expect("connect");
    c.query_one(sql, &[]).await.expect("query").get(0)
}

async fn wait_streaming(url: &str) {
    for _ in 0..200 {
        let n = scalar(
            url,
            "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
        )
        .await;
        if n == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the standby does not stream");
}

/// Rows the running migration's backfill has recorded.
async fn rows_done(url: &str) -> i64 {
    scalar(url, "SELECT COALESCE(sum(rows_done), 0)::bigint FROM zerodown.steps s JOIN zerodown.migrations m ON m.id = s.migration_id WHERE m.status = 'running'").await
}

/// `apply` of `sql` with JSON events read on a channel.
fn apply(
    url: &str,
    sql: &str,
    unknown_secs: &str,
) -> (
    Child,
    mpsc::Receiver<serde_json::Value>,
    tempfile::NamedTempFile,
) {
    let m = migration(sql);
    let mut run = zerodown()
        .args([
            "apply",
            m.path().to_str().expect("utf8"),
            "--database-url",
            url,
        ])
        .args([
            "--yes",
            "--log-format",
            "json",
            "--max-rows-per-sec",
            "20000",
        ])
        .args(["--max-lag-unknown-secs", unknown_secs])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let (tx, rx) = mpsc::channel();
    let stdout = run.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                let _ = tx.send(v);
            }
        }
    });
    (run, rx, m)
}

/// Waits for an event matching `want`; panics after `secs`.
fn event(
    rx: &mpsc::Receiver<serde_json::Value>,
    secs: u64,
    want: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Ok(v) = rx.recv_timeout(Duration::from_millis(100)) {
            if want(&v) {
                return v;
            }
        }
    }
    panic!("no such event within {secs} s");
}

fn unknown(v: &serde_json::Value) -> bool {
    v["event"] == "throttled"
        && v["reason"]
            .as_str()
            .is_some_and(|r| r.contains("replica lag unknown"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_standby_holds_the_backfill_until_it_is_back_or_stops_it_cleanly() {
    let primary = Cluster::start(&[]).expect("primary cluster");
    let url = primary.url("postgres");
    zerodown_pg::connect(&url)
        .await
        .expect("connect")
        .batch_execute(
            "CREATE TABLE t (id bigserial PRIMARY KEY, name text);
             INSERT INTO t (name) SELECT 'n' || g FROM generate_series(1, 200000) g; ANALYZE t;",
        )
        .await
        .expect("setup");
    let standby = primary
        .standby(&[("wal_receiver_status_interval", "1s")])
        .expect("standby");
    wait_streaming(&url).await;

    // 1. Held until the standby is back, then finished.
    let (mut run, rx, _m) = apply(
        &url,
        "ALTER TABLE t ADD COLUMN a uuid DEFAULT gen_random_uuid();",
        "120",
    );
    event(&rx, 60, |v| v["event"] == "batch");
    standby.stop_immediately().expect("kill the standby");
    let said = event(&rx, 30, unknown);
    let held_at = rows_done(&url).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let still = rows_done(&url).await;
    standby.restart().expect("standby back");
    wait_streaming(&url).await;
    let finished = exit_by(&mut run, Instant::now() + Duration::from_secs(90)).await;
    let stderr1 = run
        .wait_with_output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default();
    assert_eq!(finished.and_then(|s| s.code()), Some(0), "{stderr1}");
    assert!(
        said["reason"]
            .as_str()
            .is_some_and(|r| r.contains("left pg_stat_replication")),
        "{said}"
    );
    assert!(
        held_at > 0 && held_at < 200_000,
        "killed mid-backfill: {held_at}"
    );
    assert_eq!(still, held_at, "no batch while the standby was gone");
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM t WHERE a IS NULL").await,
        0
    );

    // 2. With a short bound: a clean stop, then resume once it is back.
    let (mut run, rx, _m) = apply(
        &url,
        "ALTER TABLE t ADD COLUMN b uuid DEFAULT gen_random_uuid();",
        "3",
    );
    event(&rx, 60, |v| v["event"] == "batch");
    standby.stop_immediately().expect("kill the standby");
    let stopped = exit_by(&mut run, Instant::now() + Duration::from_secs(60)).await;
    let stderr2 = run
        .wait_with_output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default();
    let kept = scalar(&url, "SELECT count(*) FROM t WHERE b IS NOT NULL").await;
    standby.restart().expect("standby back");
    wait_streaming(&url).await;
    let resumed = zerodown()
        .args(["resume", "--database-url", &url])
        .output()
        .expect("resume");
    let nulls_primary = scalar(&url, "SELECT count(*) FROM t WHERE b IS NULL").await;
    let mut nulls_standby: i64 = -1;
    for _ in 0..100 {
        let c = zerodown_pg::connect(&standby.url("postgres"))
            .await
            .expect("standby");
        nulls_standby = c
            .query_one("SELECT count(*) FROM t WHERE a IS NULL OR b IS NULL", &[])
            .await
            .map_or(-1, |r| r.get(0));
        if nulls_standby == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(stopped.and_then(|s| s.code()), Some(5), "{stderr2}");
    assert!(
        stderr2.contains("could not be read") && stderr2.contains("resume"),
        "{stderr2}"
    );
    assert!(kept > 0 && kept < 200_000, "stopped mid-backfill: {kept}");
    assert_eq!(
        resumed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(nulls_primary, 0, "no row lost on the primary");
    assert_eq!(nulls_standby, 0, "the standby has every row too");
}
