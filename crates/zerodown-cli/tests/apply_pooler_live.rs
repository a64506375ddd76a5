//! zerodown behind a real PgBouncer in transaction mode, as a team whose DATABASE_URL
//! is the pooled one runs it. Four clients write through the pooler while a blocker
//! (through the pooler too) holds a conflicting lock for 3 s: the migration waits for
//! it, no client waits longer than the lock timeout budget, a second runner is turned
//! away (with the pooled URL alone it is refused before anything runs, naming
//! --direct-url; with a direct one, the run lock holds), and the migration completes
//! once the blocker ends.

mod common;

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{migration, zerodown};
use zerodown_testkit::pgbouncer::{Pgbouncer, PoolMode};
use zerodown_testkit::{connect, TestDatabase};

/// A client of the pooler: single-row updates by random id in the simple protocol (a
/// pooler in transaction mode cannot carry named prepared statements); the worst wait
/// and the errors.
async fn client(conn: String, rows: i64, stop: Arc<AtomicBool>) -> (Duration, u64, Vec<String>) {
    let (c, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
        .await
        .expect("client through the pooler");
    tokio::spawn(connection);
    let (mut worst, mut ops, mut errors) = (Duration::ZERO, 0, Vec::new());
    while !stop.load(Ordering::Relaxed) {
        let id = fastrand::i64(1..=rows);
        let t0 = Instant::now();
        if let Err(e) = c
            .simple_query(&format!("UPDATE t SET qty = qty + 1 WHERE id = {id}"))
            .await
        {
            errors.push(e.to_string());
        }
        worst = worst.max(t0.elapsed());
        ops += 1;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    (worst, ops, errors)
}

fn apply(file: &str, args: &[&str]) -> std::process::Child {
    zerodown()
        .args(["apply", file, "--yes"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

fn finish(child: std::process::Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apply_through_pgbouncer_in_transaction_mode() {
    const ROWS: i64 = 20_000;
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "pooler").await;
    tdb.connect()
        .await
        .batch_execute(&format!(
            "CREATE TABLE t (id bigint PRIMARY KEY, qty int NOT NULL);
             INSERT INTO t SELECT g, 0 FROM generate_series(1, {ROWS}) g; ANALYZE t;"
        ))
        .await
        .expect("setup");
    let bouncer = Pgbouncer::start("127.0.0.1", 5432, "postgres", PoolMode::Transaction, 10);
    let pooled = bouncer.conn("postgres", &tdb.name);
    let direct = tdb.url();
    let m = migration("ALTER TABLE t ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();");
    let file = m.path().to_str().expect("utf8").to_owned();

    // With the pooled URL alone: refused before anything runs, naming the flag.
    let (code, stderr) = finish(apply(&file, &["--database-url", &pooled]));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--direct-url") && stderr.contains("pooler"),
        "{stderr}"
    );
    let touched: bool = tdb
        .connect()
        .await
        .query_one(
            "SELECT to_regnamespace('zerodown') IS NOT NULL
                 OR EXISTS (SELECT FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'token')",
            &[],
        )
        .await
        .expect("read")
        .get(0);
    assert!(!touched, "nothing was run");

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| tokio::spawn(client(pooled.clone(), ROWS, stop.clone())))
        .collect();
    // A blocker through the pooler: a transaction that read t holds ACCESS SHARE,
    // which the ADD COLUMN's ACCESS EXCLUSIVE waits for.
    let (blocker, connection) = tokio_postgres::connect(&pooled, tokio_postgres::NoTls)
        .await
        .expect("blocker");
    tokio::spawn(connection);
    blocker
        .batch_execute("BEGIN; SELECT count(*) FROM t;")
        .await
        .expect("hold");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let first = apply(&file, &["--database-url", &pooled, "--direct-url", &direct]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    // A second runner: with the pooled URL alone it is refused; with a direct one the
    // run lock turns it away.
    let second_pooled = finish(apply(&file, &["--database-url", &pooled]));
    let second_direct = finish(apply(
        &file,
        &["--database-url", &pooled, "--direct-url", &direct],
    ));
    tokio::time::sleep(Duration::from_millis(1700)).await;
    blocker.batch_execute("COMMIT").await.expect("release");
    let (code, stderr) = tokio::task::spawn_blocking(move || finish(first))
        .await
        .expect("join");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut worst, mut ops, mut errors) = (Duration::ZERO, 0, Vec::new());
    for c in clients {
        let (w, n, e) = c.await.expect("client");
        worst = worst.max(w);
        ops += n;
        errors.extend(e);
    }
    let filled: i64 = tdb
        .connect()
        .await
        .query_one("SELECT count(*) FROM t WHERE token IS NOT NULL", &[])
        .await
        .expect("count")
        .get(0);
    drop(bouncer);
    tdb.drop(&admin).await;
    eprintln!(
        "through PgBouncer (transaction mode), 4 clients during a 3 s blocker: {ops} ops, {} errors, worst {:.1} ms",
        errors.len(),
        worst.as_secs_f64() * 1000.0
    );

    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("blocked by pid"),
        "the blocker was named: {stderr}"
    );
    assert_eq!(filled, ROWS, "every row backfilled");
    assert_eq!(second_pooled.0, Some(2), "{}", second_pooled.1);
    assert!(
        second_pooled.1.contains("--direct-url"),
        "{}",
        second_pooled.1
    );
    assert_eq!(second_direct.0, Some(7), "{}", second_direct.1);
    assert!(errors.is_empty(), "{errors:?}");
    // Each failed attempt made clients queue for at most the 100 ms lock timeout.
    assert!(
        worst < Duration::from_millis(100 + 150),
        "worst client wait {:.1} ms",
        worst.as_secs_f64() * 1000.0
    );
}
