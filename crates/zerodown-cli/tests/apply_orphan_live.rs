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
