//! Metadata locks on the real MariaDB: a session idle in a transaction that read the table
//! blocks a DDL; with a short lock_wait_timeout the DDL gives up and a client queued behind
//! it waits no longer than that; the idle session is named as a possible holder while
//! others are seen waiting; once it ends, the DDL goes through.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use zerodown_mysql::mdl::{ddl_with_timeout, possible_holders, waiting, Attempt};

fn url() -> String {
    std::env::var("ZERODOWN_TEST_MYSQL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_lock_wait_bounds_the_queue_and_names_the_idle_holder() {
    let db = format!("zdt_mdl_{}", std::process::id());
    let pool = mysql_async::Pool::new(url().as_str());
    let mut admin = pool
        .get_conn()
        .await
        .expect("MariaDB (scripts/setup.sh starts it)");
    admin
        .query_drop(format!("DROP DATABASE IF EXISTS {db}"))
        .await
        .expect("drop");
    admin
        .query_drop(format!("CREATE DATABASE {db}"))
        .await
        .expect("create");
    let conn = || async {
        let mut c = pool.get_conn().await.expect("conn");
        c.query_drop(format!("USE {db}")).await.expect("use");
        c
    };
    let mut setup = conn().await;
    setup
        .query_drop("CREATE TABLE t (id INT PRIMARY KEY, a INT) ENGINE=InnoDB; INSERT INTO t SELECT seq, seq FROM seq_1_to_1000")
        .await
        .expect("table");

    // The blocker: read the table in a transaction, then sit idle.
    let mut holder = conn().await;
    holder.query_drop("START TRANSACTION").await.expect("begin");
    let _: Option<u64> = holder
        .query_first("SELECT COUNT(*) FROM t")
        .await
        .expect("read");
    let holder_id: u64 = holder
        .query_first("SELECT CONNECTION_ID()")
        .await
        .expect("id")
        .expect("id");

    let mut migrator = conn().await;
    let ddl = "ALTER TABLE t ADD COLUMN x INT, ALGORITHM=INSTANT, LOCK=NONE";
    let attempt = tokio::spawn(async move {
        let t0 = Instant::now();
        let r = ddl_with_timeout(&mut migrator, ddl, 1)
            .await
            .expect("attempt");
        (r, t0.elapsed(), migrator)
    });
    // A client arriving while the DDL waits queues behind it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut reader = conn().await;
    let read = tokio::spawn(async move {
        let t0 = Instant::now();
        let _: Option<u64> = reader
            .query_first("SELECT COUNT(*) FROM t")
            .await
            .expect("read");
        t0.elapsed()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut observer = conn().await;
    let holders = possible_holders(&mut observer).await.expect("holders");
    let queued = waiting(&mut observer).await.expect("waiting");

    let (first, waited, mut migrator) = attempt.await.expect("join");
    let read_took = read.await.expect("join");
    assert!(matches!(first, Attempt::LockTimeout), "{first:?}");
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "gave up after the 1 s timeout: {waited:?}"
    );
    assert!(
        read_took < Duration::from_millis(1500),
        "the queued read waited only until the DDL gave up: {read_took:?}"
    );
    let h = holders
        .iter()
        .find(|h| h.id == holder_id)
        .unwrap_or_else(|| panic!("idle holder {holder_id} named: {holders:?}"));
    assert_eq!(h.command, "Sleep", "{h:?}");
    assert!(
        queued >= 2,
        "the DDL and the reader were seen waiting: {queued}"
    );

    // The blocker ends: the same DDL goes through at once.
    holder.query_drop("COMMIT").await.expect("commit");
    let second = ddl_with_timeout(&mut migrator, ddl, 1)
        .await
        .expect("attempt");
    assert!(matches!(second, Attempt::Done), "{second:?}");

    drop((holder, migrator, observer, setup));
    admin
        .query_drop(format!("DROP DATABASE {db}"))
        .await
        .expect("cleanup");
    drop(admin);
    pool.disconnect().await.expect("disconnect");
}
