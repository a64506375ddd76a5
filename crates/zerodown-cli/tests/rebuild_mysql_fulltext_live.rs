//! A FULLTEXT index is built by the server with writes blocked for the whole build
//! (LOCK=SHARED is the least it takes). On a table the online rebuild can take, zerodown
//! builds it there instead: the shadow gets the index while empty, the copy and the
//! binary log fill it, and the cut-over swaps the tables (on a throwaway MariaDB).

mod common;

use common::{applied_online, mysql_app_t};
use mysql_async::prelude::Queryable;
use zerodown_mysql::server::Server;

const ROWS: u64 = 20_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fulltext_index_is_built_by_the_online_rebuild() {
    let server = Server::start(&[]).expect("throwaway MariaDB");
    let mut c = mysql_app_t(&server, ROWS).await;
    c.query_drop("ALTER TABLE t ADD COLUMN note VARCHAR(40) NOT NULL DEFAULT 'a quiet note'")
        .await
        .expect("note column");
    applied_online(
        "CREATE FULLTEXT INDEX t_note ON t (note);",
        &server.url("app"),
    );
    let kind: Option<String> = c
        .query_first("SELECT INDEX_TYPE FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 't' AND INDEX_NAME = 't_note'")
        .await
        .expect("index");
    assert_eq!(kind.as_deref(), Some("FULLTEXT"));
    let rows: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM app.t WHERE MATCH (note) AGAINST ('quiet')")
        .await
        .expect("search");
    assert_eq!(rows, Some(ROWS), "every row is in the index");
}
