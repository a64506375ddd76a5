//! The two facts the online rebuild's sentry cut-over stands on, on the real MariaDB, in
//! the order zerodown now takes its steps (the rename sent as soon as the tables are
//! locked, before the last changes are copied):
//! - a lock session that ends without dropping the sentry (it died, or its catch-up
//!   failed) leaves the table as it was: the queued rename fails on the sentry, and a
//!   client's write queued meanwhile lands in the table;
//! - once the sentry is dropped and the lock goes, the queued rename runs before a
//!   client's write that queued earlier than it, so the write lands in the new table.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Pool};
use zerodown_mysql::mdl::{processlist, MDL_WAIT_STATE};

fn url() -> String {
    std::env::var("ZERODOWN_TEST_MYSQL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// A database of its own with `t` (INT values), its shadow `t_zdnew` (BIGINT values) and
/// the sentry `t_zdold`, row 1 in both tables.
async fn tables(pool: &Pool, db: &str) {
    let mut admin = pool
        .get_conn()
        .await
        .expect("MariaDB (scripts/setup.sh starts it)");
    admin
        .query_drop(format!(
            "DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db}; USE {db};
             CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL);
             CREATE TABLE t_zdnew (id INT PRIMARY KEY, v BIGINT NOT NULL);
             CREATE TABLE t_zdold (sentry INT);
             INSERT INTO t VALUES (1, 10); INSERT INTO t_zdnew VALUES (1, 10)"
        ))
        .await
        .expect("tables");
}

async fn session(pool: &Pool, db: &str) -> Conn {
    let mut c = pool.get_conn().await.expect("conn");
    c.query_drop(format!("USE {db}")).await.expect("use");
    c
}

/// Waits until session `id` waits for a metadata lock.
async fn queued(observer: &mut Conn, id: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let sessions = processlist(observer).await.expect("processlist");
        if sessions
            .iter()
            .any(|s| s.id == u64::from(id) && s.state.as_deref() == Some(MDL_WAIT_STATE))
        {
            return;
        }
        assert!(Instant::now() < deadline, "session {id} never queued");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A holds the cut-over's locks; a client's UPDATE and then the rename queue behind it.
/// With `drop_sentry` A drops the sentry before it unlocks. Returns the rename's outcome
/// and the type of `t.v` and the value of row 1 in `t` and in `t_zdold` afterwards.
async fn cut_over(db: &str, drop_sentry: bool) -> (Result<(), String>, String, i64, Option<i64>) {
    let pool = Pool::new(url().as_str());
    tables(&pool, db).await;
    let mut a = session(&pool, db).await;
    a.query_drop("LOCK TABLES t WRITE, t_zdnew WRITE, t_zdold WRITE")
        .await
        .expect("lock");
    let mut observer = session(&pool, db).await;
    let mut client = session(&pool, db).await;
    let client_id = client.id();
    let write = tokio::spawn(async move {
        client
            .query_drop("UPDATE t SET v = v + 1 WHERE id = 1")
            .await
            .expect("client write");
    });
    queued(&mut observer, client_id).await;
    let mut c = session(&pool, db).await;
    let c_id = c.id();
    let rename = tokio::spawn(async move {
        c.query_drop("RENAME TABLE t TO t_zdold, t_zdnew TO t")
            .await
            .map_err(|e| e.to_string())
    });
    queued(&mut observer, c_id).await;
    if drop_sentry {
        a.query_drop("DROP TABLE t_zdold")
            .await
            .expect("drop sentry");
    }
    a.query_drop("UNLOCK TABLES").await.expect("unlock");
    let renamed = rename.await.expect("rename task");
    write.await.expect("write task");
    let column_type: String = observer
        .query_first("SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 't' AND COLUMN_NAME = 'v'")
        .await
        .expect("type")
        .expect("t.v");
    let in_t: i64 = observer
        .query_first("SELECT v FROM t WHERE id = 1")
        .await
        .expect("t")
        .expect("row 1");
    let in_old: Option<i64> = match drop_sentry {
        true => observer
            .query_first("SELECT v FROM t_zdold WHERE id = 1")
            .await
            .expect("old"),
        false => None,
    };
    observer
        .query_drop(format!("DROP DATABASE {db}"))
        .await
        .expect("clean up");
    (renamed, column_type, in_t, in_old)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_session_ending_with_the_sentry_in_place_leaves_the_table_as_it_was() {
    let db = format!("zdt_sentry_kept_{}", std::process::id());
    let (renamed, column_type, in_t, _) = cut_over(&db, false).await;
    let err = renamed.expect_err("the rename must fail on the sentry");
    assert!(err.contains("t_zdold"), "{err}");
    assert_eq!(column_type, "int", "the table was swapped");
    assert_eq!(in_t, 11, "the client's write landed in the table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rename_goes_before_a_write_queued_ahead_of_it() {
    let db = format!("zdt_sentry_dropped_{}", std::process::id());
    let (renamed, column_type, in_t, in_old) = cut_over(&db, true).await;
    renamed.expect("the rename");
    assert_eq!(column_type, "bigint", "the shadow is the table now");
    assert_eq!(in_t, 11, "the client's write landed in the new table");
    assert_eq!(in_old, Some(10), "the old table kept its row unchanged");
}
