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
