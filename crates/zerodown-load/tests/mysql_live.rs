//! The workload on MariaDB: clients with server-side prepared statements, their session
//! ids reported, inserts on fresh keys, and a table lock we take on purpose showing as the
//! worst stall.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use zerodown_load::{Op, Spec};
use zerodown_testkit::MyTestDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prepared_clients_on_mariadb_see_a_table_lock_as_their_worst_stall() {
    let tdb = MyTestDatabase::create("load").await;
    let mut db = tdb.connect().await;
    db.query_drop("CREATE TABLE t (id BIGINT PRIMARY KEY, v INT NOT NULL)")
        .await
        .expect("table");
    db.query_drop("INSERT INTO t SELECT seq, 0 FROM seq_1_to_100")
        .await
        .expect("rows");
    let spec = Spec {
        conn: tdb.url(),
        clients: 2,
        ops: vec![
            Op {
                name: "update".into(),
                sql: "UPDATE t SET v = v + 1 WHERE id = ?".into(),
                weight: 3,
                fresh_keys: false,
            },
            Op {
                name: "insert".into(),
                sql: "INSERT INTO t (id, v) VALUES (?, 1)".into(),
                weight: 1,
                fresh_keys: true,
            },
        ],
        keys: 100,
        think: Some(Duration::from_millis(2)),
    };
    let run = zerodown_load::start(spec).await.expect("start");
    let mut ids = run.sessions().to_vec();
    ids.sort_unstable();
    let mut seen: Vec<u64> = db
        .exec(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID() ORDER BY ID",
            (&tdb.name,),
        )
        .await
        .expect("processlist");
    seen.sort_unstable();
    assert_eq!(ids, seen, "the two clients' connection ids");
    tokio::time::sleep(Duration::from_millis(800)).await;
    run.set_phase(1);
    db.query_drop("LOCK TABLES t WRITE").await.expect("lock");
    tokio::time::sleep(Duration::from_millis(400)).await;
    db.query_drop("UNLOCK TABLES").await.expect("unlock");
    run.set_phase(2);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = run.stop().await.expect("stop");
    let (updates, inserted): (u64, u64) = db
        .query_first("SELECT SUM(v) - SUM(id > 100), SUM(id > 100) FROM t")
        .await
        .expect("count")
        .expect("row");
    drop(db);
    tdb.drop().await;

    assert_eq!(stats.errors, 0, "{:?}", stats.error_samples);
    assert_eq!(
        updates + inserted,
        stats.ops,
        "every operation wrote one row"
    );
    assert!(inserted > 0, "inserts ran on fresh keys");
    let worst = stats.worst.expect("worst");
    assert!(
        worst.latency_ms >= 350.0,
        "the lock is the worst stall: {worst:?}"
    );
    assert!(stats.per_phase[1].max_ms() >= 350.0);
    assert!(
        stats.per_phase[0].max_ms() < 200.0,
        "no stall before the lock"
    );
}
