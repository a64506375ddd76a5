//! A `--replica` that cannot be reached is lag unknown, not "no lag": a backfill and an
//! online rebuild's copy wait for it (and say why), then stop cleanly after
//! --max-lag-unknown-secs, the table's rows and definition untouched by the copy.

mod common;

use std::time::Instant;

use common::{migration, mysql_definition, zerodown};
use mysql_async::prelude::Queryable;
use zerodown_mysql::server::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_replica_holds_copies_then_stops_them() {
    let server = Server::start(&[]).expect("throwaway MariaDB");
    let mut c = zerodown_mysql::connect(&server.url("mysql"))
        .await
        .expect("connect");
    c.query_drop(
        "CREATE DATABASE app;
         CREATE TABLE app.t (id BIGINT PRIMARY KEY, qty INT NOT NULL, note VARCHAR(20));
         INSERT INTO app.t SELECT seq, seq % 100, 'n' FROM seq_1_to_20000;",
    )
    .await
    .expect("setup");
    // Nothing listens there.
    let gone = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let replica = format!("mysql://root@127.0.0.1:{gone}/app");
    let url = server.url("app");
    let run = |sql: &str| {
        let m = migration(sql);
        let t0 = Instant::now();
        let out = zerodown()
            .args([
                "apply",
                m.path().to_str().expect("utf8"),
                "--database-url",
                &url,
                "--yes",
            ])
            .args(["--replica", &replica, "--max-lag-unknown-secs", "3"])
            .output()
            .expect("apply");
        (out, t0.elapsed())
    };

    let (backfill, took) = run("UPDATE t SET note = 'done';");
    let stderr = String::from_utf8_lossy(&backfill.stderr).into_owned();
    assert_eq!(backfill.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("replica lag unknown") && stderr.contains("could not be read"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(&server.password().to_owned()),
        "no password printed"
    );
    assert!(took.as_secs() >= 3, "waited for the bound: {took:?}");
    let done: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM app.t WHERE note = 'done'")
        .await
        .expect("count");
    assert_eq!(done, Some(0), "no batch raced ahead of the replica");

    let before = mysql_definition(&mut c, "app`.`t").await;
    let (rebuild, _) = run("ALTER TABLE t MODIFY qty BIGINT NOT NULL;");
    let stderr = String::from_utf8_lossy(&rebuild.stderr).into_owned();
    assert_ne!(rebuild.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("replica lag unknown") && stderr.contains("could not be read"),
        "{stderr}"
    );
    assert_eq!(
        mysql_definition(&mut c, "app`.`t").await,
        before,
        "the table is unchanged"
    );
}
