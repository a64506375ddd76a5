//! The online rebuild keeps the table's AUTO_INCREMENT counter. The table's last rows were
//! deleted and an insert rolled back, so its counter is past its highest id; a shadow
//! made with `CREATE TABLE … LIKE` and filled by the copy would count on from that id,
//! and hand the deleted rows' ids out again after the swap (on a throwaway MariaDB with a
//! row binary log).

mod common;

use common::{applied_online, mysql_qty_type};
use mysql_async::prelude::Queryable;
use zerodown_mysql::server::Server;

const ROWS: u64 = 20_000;

/// The counter in `app.t`'s SHOW CREATE TABLE, which asks the engine.
async fn counter(c: &mut mysql_async::Conn) -> Option<u64> {
    let create: Option<(String, String)> = c
        .query_first("SHOW CREATE TABLE app.t")
        .await
        .expect("definition");
    let (_, text) = create?;
    let (_, rest) = text.split_once(" AUTO_INCREMENT=")?;
    rest.split(' ').next()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rebuilt_table_counts_on_from_the_tables_counter() {
    let server = Server::start(&[]).expect("throwaway MariaDB");
    let mut c = mysql_async::Conn::from_url(server.url("mysql"))
        .await
        .expect("admin");
    c.query_drop(format!(
        "CREATE DATABASE app; USE app;
         CREATE TABLE t (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, qty INT NOT NULL);
         INSERT INTO t (qty) SELECT seq FROM seq_1_to_{ROWS};
         DELETE FROM t WHERE id > {ROWS} - 500;
         START TRANSACTION; INSERT INTO t (qty) VALUES (0); ROLLBACK;"
    ))
    .await
    .expect("table");
    let before = counter(&mut c).await.expect("a counter");
    assert!(
        before > ROWS,
        "the counter is past the deleted rows: {before}"
    );

    applied_online(
        "ALTER TABLE t MODIFY qty BIGINT NOT NULL;",
        &server.url("app"),
    );
    assert_eq!(mysql_qty_type(&mut c).await.as_deref(), Some("bigint"));

    assert_eq!(
        counter(&mut c).await,
        Some(before),
        "the counter carried over"
    );
    c.query_drop("INSERT INTO app.t (qty) VALUES (1)")
        .await
        .expect("insert");
    assert_eq!(
        c.last_insert_id(),
        Some(before),
        "no deleted row's id given again"
    );
}
