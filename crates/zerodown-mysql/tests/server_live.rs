//! A throwaway MariaDB starts with a row binary log, survives a crash, and is removed.

use mysql_async::prelude::Queryable;
use zerodown_mysql::server::Server;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_with_a_row_binlog_and_restarts_after_a_crash() {
    let mut server = Server::start(&[]).expect("throwaway MariaDB");
    let mut c = mysql_async::Conn::from_url(server.url("mysql"))
        .await
        .expect("connect");
    let (log_bin, format): (u64, String) = c
        .query_first("SELECT @@log_bin, @@binlog_format")
        .await
        .expect("vars")
        .expect("row");
    assert_eq!((log_bin, format.as_str()), (1, "ROW"));
    c.query_drop(
        "CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY); INSERT INTO d.t VALUES (1)",
    )
    .await
    .expect("write");
    drop(c);
    server.crash_and_restart(&[]).expect("restart");
    let mut c = mysql_async::Conn::from_url(server.url("d"))
        .await
        .expect("reconnect");
    let n: Option<u64> = c.query_first("SELECT COUNT(*) FROM t").await.expect("read");
    assert_eq!(n, Some(1), "the committed row survived the crash");
    drop(c);
    drop(server);
}

/// A throwaway server holds a copy of a real schema: root logins over TCP need its
/// generated password (before, any local user got in as root without one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_needs_the_servers_password() {
    let server = Server::start(&[]).expect("throwaway MariaDB");
    let with = mysql_async::Conn::from_url(server.url("mysql")).await;
    let without =
        mysql_async::Conn::from_url(format!("mysql://root@127.0.0.1:{}/mysql", server.port)).await;
    let shown = format!("{server:?}");
    let password = server.password().to_owned();
    drop(server);
    assert!(with.is_ok(), "its URL logs in: {:?}", with.err());
    assert!(without.is_err(), "no password, no login");
    assert!(password.len() >= 32);
    assert!(!shown.contains(&password), "Debug does not print it");
}
