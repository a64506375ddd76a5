//! A run killed while its CREATE INDEX CONCURRENTLY builds leaves that statement running
//! on the server (the server does not see the client go until it answers). `resume` ends
//! it first; otherwise the resumed run's cleanup and the orphan wait for each other (a
//! deadlock, seen in the kill -9 test).

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{migration, zerodown};
use zerodown_testkit::{connect, TestDatabase};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resume_ends_the_statement_a_killed_run_left_running() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "orphan").await;
    let db = tdb.connect().await;
    db.batch_execute(
        "CREATE TABLE t (id bigserial PRIMARY KEY, name text);
         INSERT INTO t (name) SELECT 'n' || g FROM generate_series(1, 300) g;
         -- 10 ms per row: the build takes 3 s, in no lock wait (lock_timeout does not end it).
         CREATE FUNCTION slow(text) RETURNS text IMMUTABLE LANGUAGE sql
             AS $$ SELECT pg_sleep(0.01)::text || $1 $$;",
    )
    .await
    .expect("setup");
    let m = migration("CREATE INDEX t_name_idx ON t (slow(name));");
    let (path, url) = (m.path().to_str().expect("utf8").to_owned(), tdb.url());
    let mut first = zerodown()
        .args(["apply", &path, "--database-url", &url, "--yes"])
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Wait until the build runs on the server, then kill the client.
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY%' AND state = 'active'";
    let deadline = Instant::now() + Duration::from_secs(30);
    while db
        .query_one(waiting, &[])
        .await
        .expect("q")
        .get::<_, i64>(0)
        == 0
    {
        assert!(Instant::now() < deadline, "the build started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.kill().expect("kill");
    let _ = first.wait();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let orphaned: i64 = db.query_one(waiting, &[]).await.expect("q").get(0);

    let out = zerodown()
        .args(["resume", "--database-url", &url])
        .output()
        .expect("resume");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let indexes: Vec<(String, bool)> = db
        .query(
            "SELECT c.relname::text, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
              WHERE i.indrelid = 't'::regclass AND NOT i.indisprimary",
            &[],
        )
        .await
        .expect("indexes")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    drop(db);
    tdb.drop(&admin).await;

    assert_eq!(
        orphaned, 1,
        "the killed run's build kept running on the server"
    );
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("left running by an interrupted run"),
        "resume ended the orphan: {err}"
    );
    assert_eq!(indexes, [("t_name_idx".to_owned(), true)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropping_an_invalid_leftover_waits_within_the_lock_timeout_and_retries() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "leftover").await;
    let db = tdb.connect().await;
    db.batch_execute(
        "CREATE TABLE t (id bigserial PRIMARY KEY, v int);
         INSERT INTO t (v) SELECT g % 10 FROM generate_series(1, 1000) g;",
    )
    .await
    .expect("setup");
    // A failed unique build leaves an invalid index of the name the migration builds.
    let failed = db
        .batch_execute("CREATE UNIQUE INDEX CONCURRENTLY t_v_idx ON t (v)")
        .await;
    assert!(failed.is_err(), "duplicates make the unique build fail");
    // A reader idle in its transaction: DROP INDEX CONCURRENTLY waits for it.
    let (reader, _pid) = common::idle_reader(&tdb).await;
    let m = migration("CREATE INDEX t_v_idx ON t (v);");
    let run = zerodown()
        .args(["apply", m.path().to_str().expect("utf8"), "--database-url"])
        .arg(tdb.url())
        .args(["--yes", "--log-format", "json"])
        // The build and the drop wait 300 ms for older transactions, then retry.
        .args(["--nonblocking-lock-timeout-ms", "300"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    tokio::time::sleep(Duration::from_secs(2)).await;
    reader.batch_execute("COMMIT").await.expect("end reader");
    let out = tokio::task::spawn_blocking(move || run.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    let valid: bool = db
        .query_one(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 't_v_idx'::regclass",
            &[],
        )
        .await
        .expect("index")
        .get(0);
    drop((db, reader));
    tdb.drop(&admin).await;

    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "retry" && e["reason"] == "lock_timeout"),
        "the drop timed out while the reader was there, and was retried: {events:?}"
    );
    assert!(
        events.iter().any(|e| e["event"] == "invalid_index_dropped"),
        "{events:?}"
    );
    assert!(valid, "the index was built again, valid");
}

/// A run killed while it created its state schema leaves that transaction open on the
/// server (seen in the kill -9 test: the next apply's CREATE SCHEMA IF NOT EXISTS waited
/// for it, and failed with a duplicate key when it committed). The next run ends the
/// orphan before it touches the state.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apply_ends_a_killed_run_caught_creating_its_state() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "orphanstate").await;
    let db = tdb.connect().await;
    db.batch_execute("CREATE TABLE t (id bigserial PRIMARY KEY, v int)")
        .await
        .expect("setup");
    // The killed run's work session, as the server still sees it.
    let (orphan, conn) = tokio_postgres::connect(
        &format!("{}?application_name=zerodown%20apply", tdb.url()),
        tokio_postgres::NoTls,
    )
    .await
    .expect("orphan session");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    orphan
        .batch_execute("BEGIN; CREATE SCHEMA zerodown;")
        .await
        .expect("orphan's half-made state");
    let m = migration("ALTER TABLE t ADD COLUMN c int;");
    let run = zerodown()
        .args(["apply", m.path().to_str().expect("utf8"), "--database-url"])
        .arg(tdb.url())
        .arg("--yes")
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Had the orphan lived on, it would have committed now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let orphan_committed = orphan.batch_execute("COMMIT").await.is_ok();
    let out = tokio::task::spawn_blocking(move || run.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    let has_c: bool = db
        .query_one(
            "SELECT count(*) = 1 FROM information_schema.columns WHERE table_name = 't' AND column_name = 'c'",
            &[],
        )
        .await
        .expect("column")
        .get(0);
    drop((db, orphan));
    tdb.drop(&admin).await;

    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        !orphan_committed,
        "the orphan was ended before the state was made"
    );
    assert!(has_c, "the migration ran");
}
