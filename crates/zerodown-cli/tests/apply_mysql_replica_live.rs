//! Replica lag holds copies back: a throwaway MariaDB primary and a replica of it
//! (`MASTER_DELAY` makes it lag on purpose). With `--replica` and `--max-replica-lag-secs
//! 1`, a backfill stops while the replica is 3 s behind and finishes once it catches up;
//! so does the online rebuild's copy.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{migration, zerodown};
use mysql_async::prelude::Queryable;
use zerodown_mysql::server::Server;

/// At the 5,000 rows/s cap both runs are given, 12 s of copying: still going when the
/// lag shows (about 1 s in).
const ROWS: u64 = 60_000;

async fn conn(server: &Server, db: &str) -> mysql_async::Conn {
    mysql_async::Conn::from_url(server.url(db))
        .await
        .expect("connect")
}

/// Points the replica at the primary's first binary log, with `delay` seconds of delay.
async fn replicate(replica: &mut mysql_async::Conn, primary: &Server, file: &str, delay: u32) {
    replica
        .query_drop(format!(
            "STOP SLAVE; CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={}, MASTER_USER='root',
             MASTER_PASSWORD='{}', MASTER_LOG_FILE='{file}', MASTER_LOG_POS=4, MASTER_DELAY={delay}; START SLAVE;",
            primary.port,
            primary.password()
        ))
        .await
        .expect("replicate");
}

async fn set_delay(replica: &mut mysql_async::Conn, delay: u32) {
    replica
        .query_drop(format!(
            "STOP SLAVE; CHANGE MASTER TO MASTER_DELAY={delay}; START SLAVE;"
        ))
        .await
        .expect("delay");
}

async fn wait_for(c: &mut mysql_async::Conn, sql: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ok: Option<u64> = c.query_first(sql).await.ok().flatten();
        if ok == Some(1) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn rows_done(c: &mut mysql_async::Conn) -> u64 {
    c.query_first::<Option<u64>, _>(
        "SELECT CAST(SUM(rows_done) AS UNSIGNED) FROM `_zerodown`.steps WHERE status <> 'done'",
    )
    .await
    .ok()
    .flatten()
    .flatten()
    .unwrap_or(0)
}

/// Starts `zerodown apply` on `sql` with the replica and a 1 s lag limit; its JSON
/// event lines come through the channel.
fn apply(
    sql: &str,
    primary: &str,
    replica: &str,
) -> (
    std::process::Child,
    mpsc::Receiver<String>,
    tempfile::NamedTempFile,
) {
    let m = migration(sql);
    let mut child = zerodown()
        .args([
            "apply",
            &m.path().to_string_lossy(),
            "--database-url",
            primary,
        ])
        .args(["--replica", replica, "--max-replica-lag-secs", "1"])
        .args([
            "--max-rows-per-sec",
            "5000",
            "--log-format",
            "json",
            "--yes",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("apply");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx, m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_replica_holds_the_backfill_and_the_online_copy_until_it_catches_up() {
    let primary = Server::start(&[]).expect("primary");
    let replica = Server::start(&["--server-id=2"]).expect("replica");
    let mut p = conn(&primary, "mysql").await;
    let first: Vec<(String, u64)> = p.query("SHOW BINARY LOGS").await.expect("binlogs");
    let mut r = conn(&replica, "mysql").await;
    replicate(&mut r, &primary, &first[0].0, 0).await;
    p.query_drop(format!(
        "CREATE DATABASE app; USE app;
         CREATE TABLE t (id INT NOT NULL PRIMARY KEY, v INT NOT NULL, q INT NOT NULL);
         INSERT INTO t SELECT seq, seq, seq FROM seq_1_to_{ROWS};"
    ))
    .await
    .expect("table");
    wait_for(
        &mut r,
        &format!("SELECT COUNT(*) = {ROWS} FROM app.t"),
        "the replica did not get the table",
    )
    .await;
    set_delay(&mut r, 3).await;

    // A backfill: throttled while the replica is 3 s behind, then done.
    let (mut child, events, _m) = apply(
        "ALTER TABLE t ADD COLUMN c INT NULL;\nUPDATE t SET c = v;",
        &primary.url("app"),
        &replica.url("app"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let throttled = loop {
        let line = events
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("a throttled event within 30 s");
        if line.contains("\"throttled\"") && line.contains("replica lag") {
            break line;
        }
    };
    let held_at = rows_done(&mut p).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let still = rows_done(&mut p).await;
    assert!(
        held_at < ROWS,
        "throttled mid-way: {held_at} rows, {throttled}"
    );
    assert_eq!(held_at, still, "no batch while the replica lags");
    set_delay(&mut r, 0).await;
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
    let nulls: Option<u64> = p
        .query_first("SELECT COUNT(*) FROM app.t WHERE c IS NULL")
        .await
        .expect("nulls");
    assert_eq!(nulls, Some(0));

    // The online rebuild's copy: held the same way, once the lag shows (the heartbeats
    // need about the 1 s limit to tell).
    set_delay(&mut r, 3).await;
    let (mut child, events, _m) = apply(
        "ALTER TABLE t MODIFY q BIGINT NOT NULL;",
        &primary.url("app"),
        &replica.url("app"),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held_at = rows_done(&mut p).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let still = rows_done(&mut p).await;
    let ended = child.try_wait().expect("wait");
    assert!(
        ended.is_none(),
        "still running: apply ended ({ended:?}) with {held_at} rows copied at 3 s; its events: {:?}",
        events.try_iter().collect::<Vec<_>>()
    );
    assert!(
        held_at < ROWS,
        "the copy waits for the replica: {held_at} rows copied"
    );
    assert_eq!(held_at, still, "no chunk while the replica lags");
    set_delay(&mut r, 0).await;
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
    wait_for(
        &mut r,
        "SELECT DATA_TYPE = 'bigint' FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 't' AND COLUMN_NAME = 'q'",
        "the replica did not get the rebuilt table",
    )
    .await;
    let counts: (Option<u64>, Option<u64>) = (
        p.query_first("SELECT COUNT(*) FROM app.t")
            .await
            .expect("count"),
        r.query_first("SELECT COUNT(*) FROM app.t")
            .await
            .expect("count"),
    );
    assert_eq!(counts, (Some(ROWS), Some(ROWS)));
}
