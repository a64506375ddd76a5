//! Synthetic rows on the real server: tables read from the live catalog are filled with
//! the generator's SQL, parents first and in chunks, and the server itself enforces what
//! the rows must respect (types, NOT NULL, unique keys, foreign keys, CHECKs).

use std::collections::BTreeMap;

use zerodown_core::pg::ir::QualName;
use zerodown_core::pg::synth::{fill_order, fill_sql, SynthError};
use zerodown_core::pipeline::References;
use zerodown_testkit::{connect, TestDatabase};

const SCHEMA: &str = "
    CREATE TABLE accounts (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        email varchar(40) NOT NULL UNIQUE,
        plan text NOT NULL,
        balance numeric(10,2) NOT NULL CHECK (balance >= 0),
        active boolean NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        note text,
        profile jsonb);
    CREATE TABLE orders (
        id bigserial PRIMARY KEY,
        account_id uuid NOT NULL REFERENCES accounts (id),
        parent_id bigint REFERENCES orders (id),
        qty int NOT NULL CHECK (qty >= 0),
        day date NOT NULL,
        total numeric(12,2));
    CREATE TABLE lines (
        order_id bigint NOT NULL REFERENCES orders (id),
        line int2 NOT NULL,
        sku char(8) NOT NULL,
        PRIMARY KEY (order_id, line));
    -- A CHECK random values often fail: those rows are left out, never inserted wrong.
    CREATE TABLE events (id bigserial PRIMARY KEY, score int NOT NULL CHECK (score % 2 = 0));";

fn names() -> Vec<QualName> {
    ["accounts", "orders", "lines", "events"]
        .into_iter()
        .map(|t| QualName::new(Some("public"), t))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_rows_satisfy_every_constraint_the_server_enforces() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "synth").await;
    let db = tdb.connect().await;
    db.batch_execute(SCHEMA).await.expect("schema");
    let refs = References {
        tables: names().into_iter().collect(),
        ..References::default()
    };
    let live = zerodown_pg::introspect(&db, &refs)
        .await
        .expect("introspect");
    let tables: Vec<_> = names()
        .iter()
        .map(|n| live.catalog.table(n).expect("table").clone())
        .collect();
    let refs: Vec<_> = tables.iter().rev().collect();
    let order = fill_order(&refs).expect("order");
    let at = |t: &str| order.iter().position(|n| n.name == t).expect("in order");
    assert!(
        at("accounts") < at("orders") && at("orders") < at("lines"),
        "parents first: {order:?}"
    );

    let planned: BTreeMap<QualName, u64> = names()
        .into_iter()
        .zip([2_000, 5_000, 3_000, 1_000])
        .collect();
    let rows_of = |n: &QualName| planned.get(n).copied();
    for name in &order {
        let t = tables.iter().find(|t| &t.name == name).expect("table");
        let total = planned[name];
        // Two chunks, as a rehearsal fills a large table.
        for (first, last) in [(1, total / 2), (total / 2 + 1, total)] {
            let sql = fill_sql(t, first, last, &rows_of).expect("fill sql");
            db.batch_execute(&sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}\n{e:?}"));
        }
    }
    let row = db
        .query_one(
            "SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM orders), (SELECT count(*) FROM lines),
                    (SELECT count(DISTINCT account_id) FROM orders),
                    (SELECT count(*) FROM accounts WHERE note IS NULL),
                    (SELECT count(DISTINCT active) FROM accounts),
                    (SELECT count(*) FROM events), (SELECT count(*) FROM events WHERE score % 2 <> 0)",
            &[],
        )
        .await
        .expect("counts");
    let counts: Vec<i64> = (0..8).map(|i| row.get(i)).collect();

    // A key that cannot hold the rows, and a type with no generator, are refused clearly.
    let lines = tables
        .iter()
        .find(|t| t.name.name == "lines")
        .expect("lines");
    let too_many = fill_sql(lines, 1, 40_000, &rows_of);
    db.batch_execute(
        "CREATE TYPE mood AS ENUM ('ok', 'sad'); CREATE TABLE moods (m mood NOT NULL);",
    )
    .await
    .expect("enum");
    let moods_refs = References {
        tables: [QualName::new(Some("public"), "moods")]
            .into_iter()
            .collect(),
        ..References::default()
    };
    let moods = zerodown_pg::introspect(&db, &moods_refs)
        .await
        .expect("introspect");
    let moods = moods
        .catalog
        .table(&QualName::new(Some("public"), "moods"))
        .expect("moods")
        .clone();
    let no_generator = fill_sql(&moods, 1, 10, &rows_of);
    drop(db);
    tdb.drop(&admin).await;

    assert_eq!(
        &counts[..3],
        [2_000, 5_000, 3_000],
        "every planned row was accepted"
    );
    assert!(
        counts[3] > 1_000,
        "orders spread over the accounts: {}",
        counts[3]
    );
    assert_eq!(
        counts[4], 0,
        "no null_frac measured on a new table: no NULLs"
    );
    assert_eq!(counts[5], 2, "booleans take both values");
    assert!(
        (300..=700).contains(&counts[6]) && counts[7] == 0,
        "the CHECK kept about half of the events, all valid: {counts:?}"
    );
    assert!(
        matches!(too_many, Err(SynthError::KeyTooNarrow { ref column, .. }) if column == "line"),
        "{too_many:?}"
    );
    let msg = no_generator.expect_err("enum").to_string();
    assert!(msg.contains("public.moods.m is mood"), "{msg}");
}
