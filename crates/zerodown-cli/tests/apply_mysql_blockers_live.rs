//! Metadata-lock blockers on the real MariaDB: a session idle in a transaction that read
//! the table holds a metadata lock the ALTER needs. The ALTER waits at most
//! lock_wait_timeout (1 s), so clients queued behind it never wait longer; it backs off,
//! names the holder, retries, and finishes once the holder ends (or, with
//! `--kill-blockers idle-in-transaction`, ends the holder itself).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{migration, zerodown};
use mysql_async::prelude::Queryable;
use zerodown_testkit::MyTestDatabase;

/// Reads rows one by one until stopped; returns the worst latency and the errors.
async fn reader(url: String, stop: Arc<AtomicBool>) -> (Duration, u64, Vec<String>) {
    let mut c = mysql_async::Conn::from_url(url).await.expect("reader");
    let (mut worst, mut ops, mut errors) = (Duration::ZERO, 0, Vec::new());
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        if let Err(e) = c
            .exec_drop(
                "SELECT note FROM t WHERE id = ?",
                (fastrand::u32(1..=1000),),
            )
            .await
        {
            errors.push(e.to_string());
        }
        worst = worst.max(started.elapsed());
        ops += 1;
    }
    (worst, ops, errors)
}

async fn setup(tag: &str) -> (MyTestDatabase, mysql_async::Conn, u32) {
    let db = MyTestDatabase::create(tag).await;
    let mut c = db.connect().await;
    c.query_drop(
        "CREATE TABLE t (id INT PRIMARY KEY, note VARCHAR(20));
         INSERT INTO t SELECT seq, 'x' FROM seq_1_to_1000;",
    )
    .await
    .expect("table");
    let mut holder = db.connect().await;
    holder
        .query_drop("BEGIN; SELECT COUNT(*) FROM t")
        .await
        .expect("hold");
    let id = holder.id();
    // The holder stays open: returned to the caller through the first connection's
    // place, so it ends when the test says.
    drop(c);
    (db, holder, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_alter_waits_briefly_retries_and_finishes_after_the_holder_ends() {
    let (db, mut holder, holder_id) = setup("mdl").await;
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| tokio::spawn(reader(db.url(), stop.clone())))
        .collect();
    let m = migration("ALTER TABLE t ADD COLUMN extra INT;");
    let mut child = zerodown()
        .args([
            "apply",
            &m.path().to_string_lossy(),
            "--database-url",
            &db.url(),
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("apply");
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        child.try_wait().expect("wait").is_none(),
        "the ALTER cannot finish while the holder is open"
    );
    holder.query_drop("COMMIT").await.expect("commit");
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .expect("apply ends")
    .expect("join")
    .expect("output");
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("pid {holder_id} (")),
        "the holder is named: {stderr}"
    );
    assert!(took >= Duration::from_secs(4));
    for r in readers {
        let (worst, ops, errors) = r.await.expect("reader");
        assert!(errors.is_empty(), "{errors:?}");
        assert!(ops > 100, "{ops}");
        // Queued behind the waiting ALTER for at most lock_wait_timeout (1 s).
        assert!(
            worst < Duration::from_millis(1500),
            "a reader waited {worst:?}"
        );
        eprintln!("reader: {ops} reads, worst {worst:?}");
    }
    drop(holder);
    db.drop().await;
}

/// The kill policy ends only sessions the server says hold a lock on the table: MariaDB
/// tells with its bundled `metadata_lock_info` plugin, which this test installs on the
/// test server (zerodown never installs anything on a user's server).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kill_policy_ends_an_idle_holder_and_no_one_else() {
    let mut admin = zerodown_testkit::my_admin().await;
    let active: Option<u64> = admin
        .query_first("SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE'")
        .await
        .expect("plugins");
    if active != Some(1) {
        admin
            .query_drop("INSTALL SONAME 'metadata_lock_info'")
            .await
            .expect("install metadata_lock_info on the test server");
    }
    // An idle transaction on another table: open, but no holder of t's lock.
    let (db, holder, holder_id) = setup("mdlkill").await;
    let mut bystander = db.connect().await;
    bystander
        .query_drop("CREATE TABLE other (id INT PRIMARY KEY); BEGIN; SELECT COUNT(*) FROM other")
        .await
        .expect("bystander");
    let bystander_id = bystander.id();
    let m = migration("ALTER TABLE t ADD COLUMN extra INT;");
    let out = zerodown()
        .args([
            "apply",
            &m.path().to_string_lossy(),
            "--database-url",
            &db.url(),
            "--kill-blockers",
            "idle-in-transaction",
        ])
        .output()
        .expect("apply");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains(&holder_id.to_string()), "{stderr}");
    let mut c = db.connect().await;
    let alive: Option<u64> = c
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = ?",
            (holder_id,),
        )
        .await
        .expect("processlist");
    assert_eq!(alive, Some(0), "the idle holder was ended");
    bystander
        .query_drop("COMMIT")
        .await
        .unwrap_or_else(|e| panic!("session {bystander_id} (not a holder) was ended: {e}"));
    drop(holder);
    drop(c);
    db.drop().await;
}

/// A busy server holds the backfill back: while more sessions run statements than
/// `--max-threads-running`, no batch starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_busy_server_throttles_the_backfill() {
    let db = MyTestDatabase::create("busy").await;
    let mut c = db.connect().await;
    c.query_drop(
        "CREATE TABLE t (id INT PRIMARY KEY, note VARCHAR(20));
         INSERT INTO t SELECT seq, 'x' FROM seq_1_to_5000;",
    )
    .await
    .expect("table");
    let sleepers: Vec<_> = (0..3)
        .map(|_| {
            let url = db.url();
            tokio::spawn(async move {
                let mut s = mysql_async::Conn::from_url(url).await.expect("sleeper");
                s.query_drop("SELECT SLEEP(3)").await.expect("sleep");
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let m = migration("UPDATE t SET note = 'y';");
    let started = Instant::now();
    let out = zerodown()
        .args([
            "apply",
            &m.path().to_string_lossy(),
            "--database-url",
            &db.url(),
            "--max-threads-running",
            "1",
        ])
        .output()
        .expect("apply");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("sessions running statements, more than 1"),
        "{stderr}"
    );
    assert!(
        took >= Duration::from_millis(2_000),
        "the backfill waited for the sleepers ({took:?})"
    );
    for s in sleepers {
        s.await.expect("sleeper");
    }
    let left: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM t WHERE note <> 'y'")
        .await
        .expect("check");
    assert_eq!(left, Some(0));
    drop(c);
    db.drop().await;
}
