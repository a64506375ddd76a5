//! The keyset backfill's batches on a live server: the range update is an index range
//! scan (a join on the batch's keys made the planner hash the whole table), and walking a
//! composite key whose parts sort differently as text and as numbers updates every row
//! once, with the checkpoint committed alongside.

use std::time::Duration;

use zerodown_core::plan::{Assignment, BackfillSpec};
use zerodown_exec::{BackfillKey, Checkpoint, Database};
use zerodown_pg::state::STATE_SCHEMA;
use zerodown_pg::{update_sql, BatchCheckpoint, PgDriver};
use zerodown_testkit::{connect, TestDatabase};

fn spec(table: &str, filter: &str) -> BackfillSpec {
    BackfillSpec {
        table: table.to_owned(),
        key: Vec::new(),
        set: vec![Assignment {
            column: "c".to_owned(),
            expr: "md5(k1::text || k2)".to_owned(),
        }],
        filter: Some(filter.to_owned()),
        batch_size: 7,
        target_batch_ms: 10,
        verify: None,
    }
}

const SETUP: &str = "
    CREATE TABLE t (k1 int, k2 text, v int, c text, PRIMARY KEY (k1, k2));
    -- k1 runs 0..10 (100 rows each), k2 '1'..'100' as text ('99' is the last). The
    -- second batch of 600 spans k1 = 9 and 10, which sort the other way round as text.
    INSERT INTO t SELECT g / 100, (g % 100 + 1)::text, g, NULL FROM generate_series(0, 1099) g;
    INSERT INTO zerodown.migrations (id, checksum, source, plan, status)
         VALUES ('m-test', 'x', 'test.sql', '{}', 'running');
    INSERT INTO zerodown.steps (migration_id, step_no, phase, kind, description)
         VALUES ('m-test', 1, 'backfill', 'backfill', 'backfill t.c');
    ANALYZE t;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn composite_text_keys_are_walked_once_in_key_order() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "backfill").await;
    let db = tdb.connect().await;
    db.batch_execute(STATE_SCHEMA).await.expect("state schema");
    db.batch_execute(SETUP).await.expect("setup");

    let spec = spec("public.t", "c IS NULL");
    let mut driver = PgDriver::new(&tdb.url());
    let key = driver.backfill_key(&spec).await.expect("key");
    assert_eq!(key.columns, ["k1", "k2"]);
    let at = Checkpoint {
        migration: "m-test",
        step: 1,
    };
    let (mut after, mut batches, mut updated) = (None::<Vec<String>>, 0, 0);
    loop {
        let out = driver
            .backfill_batch(
                &at,
                &spec,
                &key,
                after.as_deref(),
                600,
                Duration::from_millis(100),
                None,
            )
            .await
            .expect("batch");
        if out.scanned == 0 {
            break;
        }
        batches += 1;
        updated += out.updated;
        after = out.last_key;
        if out.scanned < 600 {
            break;
        }
    }
    let row = db
        .query_one(
            "SELECT (SELECT count(*) FROM t WHERE c IS DISTINCT FROM md5(k1::text || k2)),
                    (SELECT rows_done FROM zerodown.steps WHERE step_no = 1),
                    (SELECT last_key FROM zerodown.steps WHERE step_no = 1)",
            &[],
        )
        .await
        .expect("check");
    let (wrong, rows_done, last_key): (i64, i64, Vec<String>) =
        (row.get(0), row.get(1), row.get(2));
    assert_eq!(wrong, 0, "every row backfilled");
    assert_eq!(updated, 1100);
    assert_eq!(rows_done, 1100, "the checkpoint counted each batch once");
    assert_eq!(batches, 2);
    // The last key in key order, not in text order ('9' > '10').
    assert_eq!(last_key, ["10", "99"]);
    assert_eq!(
        after.as_deref(),
        Some(&["10".to_owned(), "99".to_owned()][..])
    );

    // A second walk finds nothing left to change.
    let again = driver
        .backfill_batch(
            &at,
            &spec,
            &key,
            None,
            5000,
            Duration::from_millis(100),
            None,
        )
        .await
        .expect("batch");
    assert_eq!((again.scanned, again.updated), (1100, 0));
    drop(driver);
    tdb.drop(&admin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_updates_its_range_through_the_key_index() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "backfill_plan").await;
    let db = tdb.connect().await;
    db.batch_execute(STATE_SCHEMA).await.expect("state schema");
    db.batch_execute(
        "CREATE TABLE big (id bigint PRIMARY KEY, c text);
         INSERT INTO big SELECT g, NULL FROM generate_series(1, 200000) g;
         ANALYZE big;",
    )
    .await
    .expect("setup");
    let key = BackfillKey {
        columns: vec!["id".to_owned()],
        types: vec!["bigint".to_owned()],
        estimated_rows: Some(200_000),
    };
    let mut spec = spec("public.big", "c IS NULL");
    spec.set[0].expr = "md5(id::text)".to_owned();
    let at = BatchCheckpoint {
        migration: "m-test",
        step: 1,
        batch_size: 20_000,
    };
    // 20,000 keys (10% of the table, the largest batch the executor makes): a join on
    // them was planned as a hash join over a sequential scan of the whole table.
    let sql = update_sql(
        &spec,
        &key,
        Some(&["50000".to_owned()]),
        &["70000".to_owned()],
        &at,
    );
    let plan: Vec<String> = db
        .query(&format!("EXPLAIN {sql}"), &[])
        .await
        .expect("explain")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let plan = plan.join("\n");
    assert!(
        !plan.contains("Seq Scan on big"),
        "range update scans the table:\n{plan}"
    );
    assert!(plan.contains("big_pkey"), "uses the key index:\n{plan}");
    tdb.drop(&admin).await;
}
