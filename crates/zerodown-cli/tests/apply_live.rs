//! `zerodown apply` against the real PostgreSQL while clients keep writing: no client
//! error, every row right afterwards, constraints valid, and no client waiting longer
//! than the lock timeout plus a margin.

mod common;

use std::time::Duration;

use common::{client_url, migration, zerodown};
use tokio_postgres::Client;
use zerodown_load::{Op, Spec};
use zerodown_testkit::{connect, TestDatabase};

async fn setup(db: &Client, rows: i64) {
    db.batch_execute(&format!(
        "CREATE TABLE r (id int PRIMARY KEY);
         INSERT INTO r SELECT generate_series(1, 100);
         CREATE TABLE t (id bigserial PRIMARY KEY, name text, qty int, r_id int);
         INSERT INTO t (name, qty, r_id) SELECT 'n' || g, g, 1 + g % 100 FROM generate_series(1, {rows}) g;
         ANALYZE;"
    ))
    .await
    .expect("setup");
}

/// Updates and inserts that keep the invariant qty = id, so rows can be checked after.
fn workload(url: &str, keys: i64) -> Spec {
    Spec {
        conn: url.to_owned(),
        clients: 4,
        ops: vec![
            Op { name: "update".into(), sql: "UPDATE t SET name = md5(random()::text), qty = id WHERE id = $1".into(), weight: 80, fresh_keys: false },
            Op {
                name: "insert".into(),
                sql: "WITH n AS (SELECT nextval('t_id_seq') AS id) INSERT INTO t (id, name, qty, r_id) SELECT id, 'new', id, 1 FROM n".into(),
                weight: 20,
 fresh_keys: false,
            },
        ],
        keys,
        think: Some(Duration::from_millis(2)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn apply_under_load_keeps_clients_running_and_rows_right() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "apply").await;
    let db = tdb.connect().await;
    setup(&db, 200_000).await;
    let url = tdb.url();
    let load = zerodown_load::start(workload(&client_url(&tdb), 200_000))
        .await
        .expect("load");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m = migration(
        "ALTER TABLE t ADD COLUMN c uuid NOT NULL DEFAULT gen_random_uuid();
         ALTER TABLE t ADD CONSTRAINT t_qty_pos CHECK (qty > 0);
         CREATE INDEX t_name_idx ON t (name);
         ALTER TABLE t ADD CONSTRAINT t_r_fk FOREIGN KEY (r_id) REFERENCES r (id);
         ALTER TABLE t ALTER COLUMN qty TYPE bigint;",
    );
    let path = m.path().to_str().expect("utf8").to_owned();
    let url2 = url.clone();
    let out = tokio::task::spawn_blocking(move || {
        zerodown()
            .args(["apply", &path, "--database-url", &url2, "--yes"])
            .output()
            .expect("run zerodown")
    })
    .await
    .expect("join");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stats = load.stop().await.expect("stats");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let check: (i64, i64, i64, i64, bool, String) = {
        let r = db
            .query_one(
                "SELECT count(*) FILTER (WHERE c IS NULL), count(*) FILTER (WHERE qty <> id), count(*) - count(DISTINCT c), count(*),
                        (SELECT bool_and(convalidated) FROM pg_constraint WHERE conrelid = 't'::regclass AND conname IN ('t_qty_pos', 't_r_fk'))
                          AND (SELECT count(*) = 2 FROM pg_constraint WHERE conrelid = 't'::regclass AND conname IN ('t_qty_pos', 't_r_fk'))
                          AND (SELECT indisvalid FROM pg_index WHERE indexrelid = 't_name_idx'::regclass)
                          AND (SELECT attnotnull FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'c'),
                        (SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'qty')
                   FROM t",
                &[],
            )
            .await
            .expect("check");
        (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5))
    };
    drop(db);
    tdb.drop(&admin).await;
    eprintln!(
        "clients: {} ops ({:.0}/s), {} errors, p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {:.1} ms; rows after: {}",
        stats.ops, stats.ops_per_sec(), stats.errors, stats.percentile_ms(0.5), stats.percentile_ms(0.99),
        stats.percentile_ms(0.999), stats.max_ms(), check.3
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stats.errors, 0, "client errors: {:?}", stats.error_samples);
    assert!(check.3 > 200_000, "clients inserted rows during the run");
    assert_eq!(
        (check.0, check.1, check.2),
        (0, 0, 0),
        "every row has a distinct c and kept qty = id"
    );
    assert!(check.4, "constraints validated, index valid, c NOT NULL");
    assert_eq!(check.5, "bigint");
    // The lock timeout (100 ms) bounds a wait behind a queued DDL lock; a backfill batch
    // holds its rows for about its 10 ms target. Margin: 50 ms for a shared machine.
    assert!(
        stats.max_ms() < 100.0 + 50.0,
        "worst client wait {:.1} ms",
        stats.max_ms()
    );
}
