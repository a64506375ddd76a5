//! Lock blockers, the retry budget, and a second runner, against the real PostgreSQL.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{client_url, idle_reader, migration, zerodown};
use zerodown_load::{Op, Spec};
use zerodown_testkit::{connect, TestDatabase};

async fn small_table(tdb: &TestDatabase, rows: i64) {
    tdb.connect()
        .await
        .batch_execute(&format!(
            "CREATE TABLE t (id bigserial PRIMARY KEY, name text, qty int);
             INSERT INTO t (name, qty) SELECT 'n' || g, g FROM generate_series(1, {rows}) g; ANALYZE t;"
        ))
        .await
        .expect("setup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_blocker_delays_the_migration_but_never_the_clients() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "block").await;
    small_table(&tdb, 10_000).await;
    // A transaction that read the table and sits idle: its ACCESS SHARE lock blocks
    // the ACCESS EXCLUSIVE of ADD COLUMN.
    let (holder, pid) = idle_reader(&tdb).await;
    let load = zerodown_load::start(Spec {
        conn: client_url(&tdb),
        clients: 4,
        ops: vec![
            Op {
                name: "read".into(),
                sql: "SELECT name FROM t WHERE id = $1".into(),
                weight: 50,
                fresh_keys: false,
            },
            Op {
                name: "update".into(),
                sql: "UPDATE t SET qty = qty + 1 WHERE id = $1".into(),
                weight: 50,
                fresh_keys: false,
            },
        ],
        keys: 10_000,
        think: Some(Duration::from_millis(2)),
    })
    .await
    .expect("load");

    let m = migration("ALTER TABLE t ADD COLUMN note text;");
    let (path, url) = (m.path().to_str().expect("utf8").to_owned(), tdb.url());
    let child = zerodown()
        .args(["apply", &path, "--database-url", &url, "--yes"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    tokio::time::sleep(Duration::from_secs(3)).await;
    holder.batch_execute("ROLLBACK").await.expect("release");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    let stats = load.stop().await.expect("stats");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!(
        "clients during a 3 s blocker: {} ops, {} errors, p99 {:.1} ms, max {:.1} ms",
        stats.ops,
        stats.errors,
        stats.percentile_ms(0.99),
        stats.max_ms()
    );

    // With a budget shorter than the blocker, the run stops cleanly and names it.
    let (holder2, pid2) = idle_reader(&tdb).await;
    let m2 = migration("ALTER TABLE t ADD COLUMN other text;");
    let path2 = m2.path().to_str().expect("utf8").to_owned();
    let url2 = tdb.url();
    let out2 = tokio::task::spawn_blocking(move || {
        zerodown()
            .args([
                "apply",
                &path2,
                "--database-url",
                &url2,
                "--yes",
                "--retry-budget-secs",
                "1",
            ])
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    let stderr2 = String::from_utf8_lossy(&out2.stderr).into_owned();
    holder2.batch_execute("ROLLBACK").await.expect("release");
    // ...and resumes once the blocker is gone.
    let url3 = tdb.url();
    let out3 = tokio::task::spawn_blocking(move || {
        zerodown()
            .args(["resume", "--database-url", &url3])
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    let cols: i64 = tdb
        .connect()
        .await
        .query_one("SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname IN ('note', 'other')", &[])
        .await
        .expect("cols")
        .get(0);
    tdb.drop(&admin).await;

    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("blocked by pid {pid} (idle in transaction")),
        "blocker named before retrying: {stderr}"
    );
    assert_eq!(stats.errors, 0, "{:?}", stats.error_samples);
    // Each failed attempt made clients queue for at most the 100 ms lock timeout.
    assert!(
        stats.max_ms() < 100.0 + 150.0,
        "worst client wait {:.1} ms",
        stats.max_ms()
    );
    assert_eq!(out2.status.code(), Some(5), "{stderr2}");
    assert!(
        stderr2.contains(&format!("pid {pid2} (idle in transaction"))
            && stderr2.contains("zerodown resume"),
        "{stderr2}"
    );
    assert_eq!(
        out3.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out3.stderr)
    );
    assert_eq!(cols, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_runner_is_refused_and_pause_holds_the_backfill() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "runners").await;
    small_table(&tdb, 100_000).await;
    let m = migration("ALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid();");
    let (path, url) = (m.path().to_str().expect("utf8").to_owned(), tdb.url());
    // Capped at 20,000 rows/s so the backfill lasts 5 s: the pause lands mid-way even
    // on a fast machine (uncapped it takes well under a second).
    let first = zerodown()
        .args(["apply", &path, "--database-url", &url, "--yes"])
        .args(["--max-rows-per-sec", "20000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let db = tdb.connect().await;
    let mut recorded = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if db
            .query_one("SELECT to_regclass('zerodown.migrations') IS NOT NULL AND EXISTS (SELECT 1 FROM zerodown.migrations)", &[])
            .await
            .map(|r| r.get::<_, bool>(0))
            .unwrap_or(false)
        {
            recorded = true;
            break;
        }
    }
    assert!(recorded, "the first run recorded its migration");
    let pause = zerodown()
        .args(["pause", "--database-url", &url])
        .output()
        .expect("pause");
    // Paused means the checkpoint stops moving (the runner sees the flag between batches).
    let mut held = None;
    for _ in 0..20 {
        let a: i64 = db
            .query_one(
                "SELECT COALESCE(sum(rows_done), 0)::bigint FROM zerodown.steps",
                &[],
            )
            .await
            .expect("rows")
            .get(0);
        tokio::time::sleep(Duration::from_millis(800)).await;
        let b: i64 = db
            .query_one(
                "SELECT COALESCE(sum(rows_done), 0)::bigint FROM zerodown.steps",
                &[],
            )
            .await
            .expect("rows")
            .get(0);
        if a == b {
            held = Some(b);
            break;
        }
    }
    let second_file = migration("ALTER TABLE t ADD COLUMN d int;");
    let second = zerodown()
        .args([
            "apply",
            second_file.path().to_str().expect("utf8"),
            "--database-url",
            &url,
            "--yes",
        ])
        .output()
        .expect("second");
    let status = zerodown()
        .args(["status", "--database-url", &url, "--format", "json"])
        .output()
        .expect("status");
    let unpause = zerodown()
        .args(["unpause", "--database-url", &url])
        .output()
        .expect("unpause");
    let out = tokio::task::spawn_blocking(move || first.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    let nulls: i64 = db
        .query_one("SELECT count(*) FROM t WHERE c IS NULL", &[])
        .await
        .expect("q")
        .get(0);
    drop(db);
    tdb.drop(&admin).await;

    assert_eq!(
        pause.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&pause.stderr)
    );
    assert!(
        held.is_some_and(|rows| rows < 100_000),
        "the backfill stopped advancing mid-way while paused: {held:?}"
    );
    let second_err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(7), "{second_err}");
    assert!(
        second_err.contains("another zerodown run holds the run lock on this database (pid "),
        "{second_err}"
    );
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("json");
    assert_eq!(status["migrations"][0]["paused"], true, "{status}");
    assert_eq!(unpause.status.code(), Some(0));
    let first_err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{first_err}");
    assert!(
        first_err.contains("paused (zerodown unpause to go on)") && first_err.contains("unpaused"),
        "{first_err}"
    );
    assert_eq!(nulls, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_in_transaction_blockers_are_ended_only_when_asked() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "kill").await;
    // --kill-blockers ends other roles' sessions: a DBA grants it (checked before the run).
    tdb.grant(&admin, "pg_signal_backend").await;
    small_table(&tdb, 1_000).await;
    let (holder, pid) = idle_reader(&tdb).await;
    let m = migration("ALTER TABLE t ADD COLUMN note text;");
    let (path, url) = (m.path().to_str().expect("utf8").to_owned(), tdb.url());
    let out = tokio::task::spawn_blocking(move || {
        zerodown()
            .args([
                "apply",
                &path,
                "--database-url",
                &url,
                "--yes",
                "--kill-blockers",
                "idle-in-transaction",
                "--retry-budget-secs",
                "20",
            ])
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    let holder_alive = holder.query_one("SELECT 1", &[]).await.is_ok();
    tdb.drop(&admin).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!("terminated idle-in-transaction blocker pid {pid}")),
        "{err}"
    );
    assert!(!holder_alive, "the idle blocker's session was ended");
}

/// The kill policy ends only the sessions that block the step's own lock: a session idle
/// in a transaction whose lock does not conflict with it is left alone (before, every
/// idle holder of any lock stronger than ACCESS SHARE on the table was ended).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_kill_policy_ends_only_sessions_that_block_the_steps_lock() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "killonly").await;
    // --kill-blockers ends other roles' sessions: a DBA grants it (checked before the run).
    tdb.grant(&admin, "pg_signal_backend").await;
    small_table(&tdb, 1_000).await;
    tdb.connect()
        .await
        .batch_execute("ALTER TABLE t ADD CONSTRAINT t_qty_pos CHECK (qty > 0) NOT VALID")
        .await
        .expect("constraint");
    // ROW EXCLUSIVE: no conflict with VALIDATE's SHARE UPDATE EXCLUSIVE.
    let writer = tdb.connect().await;
    writer
        .batch_execute("BEGIN; UPDATE t SET qty = qty WHERE id = 1;")
        .await
        .expect("writer");
    // SHARE UPDATE EXCLUSIVE (ANALYZE in a transaction): VALIDATE waits for it.
    let analyzer = tdb.connect().await;
    analyzer
        .batch_execute("BEGIN; ANALYZE t;")
        .await
        .expect("analyzer");
    let m = migration("ALTER TABLE t VALIDATE CONSTRAINT t_qty_pos;");
    let (path, url) = (m.path().to_str().expect("utf8").to_owned(), tdb.url());
    let out = tokio::task::spawn_blocking(move || {
        zerodown()
            .args(["apply", &path, "--database-url", &url, "--yes"])
            .args([
                "--kill-blockers",
                "idle-in-transaction",
                "--retry-budget-secs",
                "20",
            ])
            // VALIDATE blocks no traffic while it waits: its lock wait is long unless told.
            .args(["--nonblocking-lock-timeout-ms", "300"])
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    let writer_alive = writer.query_one("SELECT 1", &[]).await.is_ok();
    let analyzer_alive = analyzer.query_one("SELECT 1", &[]).await.is_ok();
    drop((writer, analyzer));
    tdb.drop(&admin).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        !analyzer_alive,
        "the session blocking VALIDATE was ended: {err}"
    );
    assert!(
        writer_alive,
        "the session that did not block VALIDATE was kept: {err}"
    );
}
