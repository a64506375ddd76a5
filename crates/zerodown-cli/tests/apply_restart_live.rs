//! A server restart in the middle of a backfill (a throwaway cluster stopped as a crash
//! would, then started again 1.5 s later): the run waits for the server, goes on from the
//! checkpoint the server kept (batches committed asynchronously just before the crash are
//! lost with it, and redone), and finishes with every row right.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{exit_by, migration, zerodown};
use zerodown_pg::cluster::Cluster;

/// rows_done of the migration, None while the server is down or the state is not there.
async fn rows_done(url: &str) -> Option<i64> {
    let c = zerodown_pg::connect(url).await.ok()?;
    let r = c
        .query_one(
            "SELECT COALESCE(sum(rows_done), 0)::bigint FROM zerodown.steps",
            &[],
        )
        .await
        .ok()?;
    Some(r.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_restart_mid_backfill_is_waited_out_and_loses_no_row() {
    let cluster = Cluster::start(&[]).expect("cluster");
    let url = cluster.url("postgres");
    zerodown_pg::connect(&url)
        .await
        .expect("connect")
        .batch_execute(
            "CREATE TABLE t (id bigserial PRIMARY KEY, name text);
             INSERT INTO t (name) SELECT 'n' || g FROM generate_series(1, 100000) g; ANALYZE t;",
        )
        .await
        .expect("setup");
    let m = migration(
        "ALTER TABLE t ADD COLUMN c text NOT NULL DEFAULT md5(random()::text);\nCREATE INDEX t_c_idx ON t (c);",
    );
    let path = m.path().to_str().expect("utf8").to_owned();
    // Capped so the backfill lasts 5 s and the restart lands inside it.
    let mut run = zerodown()
        .args(["apply", &path, "--database-url", &url, "--yes"])
        .args(["--max-rows-per-sec", "20000", "--retry-budget-secs", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut before = 0;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        before = rows_done(&url).await.unwrap_or(0);
        if before > 0 {
            break;
        }
    }
    cluster.stop_immediately().expect("stop");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.restart().expect("restart");

    let first = exit_by(&mut run, Instant::now() + Duration::from_secs(90)).await;
    let first_err = run
        .wait_with_output()
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .unwrap_or_default();
    let c = zerodown_pg::connect(&url).await.expect("connect");
    let row = c
        .query_one(
            "SELECT (SELECT count(*) FROM t WHERE c IS NULL),
                    (SELECT status FROM zerodown.migrations),
                    (SELECT indisvalid FROM pg_index WHERE indexrelid = 't_c_idx'::regclass),
                    (SELECT attnotnull FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'c')",
            &[],
        )
        .await
        .expect("check");
    let (nulls, status, valid, not_null): (i64, String, bool, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3));

    assert!(
        before > 0 && before < 100_000,
        "the restart landed mid-backfill ({before} rows done)"
    );
    assert_eq!(first.and_then(|s| s.code()), Some(0), "{first_err}");
    assert!(
        first_err.contains("connection lost"),
        "the run saw the restart: {first_err}"
    );
    assert_eq!((nulls, status.as_str()), (0, "completed"), "{first_err}");
    assert!(valid && not_null, "index valid, column NOT NULL");
}
