//! Keeps our facts honest: for every impact class, run the statement on the real
//! PostgreSQL inside a transaction, observe the locks it took (`pg_locks`), whether it
//! rewrote a table (`pg_class.relfilenode`) and whether it scanned one
//! (`pg_stat_xact_user_tables.seq_scan`, or an index rebuilt), roll back, and compare
//! with what the analyzer declares for the live server's version.

mod common;

use std::collections::BTreeMap;

use common::{observe, setup, Observed};
use tokio_postgres::Client;
use zerodown_core::analysis::Impact;
use zerodown_core::estimate::CostModel;
use zerodown_core::lock::LockMode;
use zerodown_core::migrations::classify;
use zerodown_core::pipeline;
use zerodown_core::plan::PlanOptions;
use zerodown_testkit::{connect, TestSchema};

async fn declared(c: &Client, sql: &str) -> Impact {
    let src = classify("case.sql", sql);
    let (files, diags) = pipeline::parse_sources(&[src]);
    assert!(diags.is_empty(), "{sql}: {diags:?}");
    let live = zerodown_pg::introspect(c, &pipeline::references(&files))
        .await
        .expect("introspect");
    let out = pipeline::run(
        &files,
        &live.catalog,
        &live.profile,
        &CostModel::default(),
        &PlanOptions::default(),
    )
    .unwrap_or_else(|d| panic!("{sql}: {d:?}"));
    out.statements[0].impact.clone()
}

/// Compares; returns a description of every disagreement.
fn compare(sql: &str, s: &str, d: &Impact, o: &Observed) -> Vec<String> {
    let mut errs = Vec::new();
    let prefix = format!("{s}.");
    let mut declared_locks: BTreeMap<String, LockMode> = BTreeMap::new();
    for l in &d.tables {
        declared_locks.insert(l.table.trim_start_matches(&prefix).to_owned(), l.lock);
    }
    for (table, lock) in &declared_locks {
        match o.locks.get(table) {
            Some(seen) if seen == lock => {}
            seen => errs.push(format!(
                "{sql}\n    lock on {table}: declared {lock}, observed {seen:?}"
            )),
        }
    }
    for (table, seen) in &o.locks {
        if !declared_locks.contains_key(table) && *seen > LockMode::AccessShare {
            errs.push(format!("{sql}\n    undeclared lock {seen} on {table}"));
        }
    }
    for table in &o.emptied {
        if !declared_locks.contains_key(table)
            && !table.contains("_idx")
            && !table.ends_with("_key")
            && !table.ends_with("_pkey")
        {
            errs.push(format!(
                "{sql}\n    {table} emptied, no lock declared on it"
            ));
        }
    }
    let rewrote = !o.rewritten.is_empty();
    if d.rewrites_table != rewrote {
        errs.push(format!(
            "{sql}\n    rewrite: declared {}, observed {:?}",
            d.rewrites_table, o.rewritten
        ));
    }
    if !d.rewrites_table {
        let scanned = !o.scanned.is_empty();
        if d.scans_table != scanned {
            errs.push(format!(
                "{sql}\n    scan: declared {}, observed {:?}",
                d.scans_table, o.scanned
            ));
        }
    }
    errs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_impact_matches_the_server() {
    let c = connect().await;
    let schema = TestSchema::create(&c, "impact").await;
    let s = schema.name.clone();
    setup(&c, &s).await;
    let t = format!("\"{s}\".t");
    let cases = [
        format!("ALTER TABLE {t} ADD COLUMN x int"),
        format!("ALTER TABLE {t} ADD COLUMN x int NOT NULL DEFAULT 5"),
        format!("ALTER TABLE {t} ADD COLUMN x timestamptz DEFAULT now()"),
        format!("ALTER TABLE {t} ADD COLUMN x uuid DEFAULT gen_random_uuid()"),
        format!("ALTER TABLE {t} ADD COLUMN x timestamptz NOT NULL DEFAULT clock_timestamp()"),
        // Volatile calls inside what pg_query's own walker skips.
        format!("ALTER TABLE {t} ADD COLUMN x int[] DEFAULT ARRAY[(random() * 10)::int]"),
        format!(
            "ALTER TABLE {t} ADD COLUMN x text DEFAULT (gen_random_uuid()::text COLLATE \"C\")"
        ),
        format!("ALTER TABLE {t} ADD COLUMN x bigint GENERATED ALWAYS AS IDENTITY"),
        format!("ALTER TABLE {t} ADD COLUMN x bigserial"),
        format!("ALTER TABLE {t} ADD COLUMN x int GENERATED ALWAYS AS (a * 2) STORED"),
        format!("ALTER TABLE {t} ADD COLUMN x int REFERENCES \"{s}\".r (id)"),
        format!("ALTER TABLE {t} ADD COLUMN x int DEFAULT 1 REFERENCES \"{s}\".r (id)"),
        format!("ALTER TABLE {t} ADD COLUMN x int CHECK (x > 0)"),
        format!("ALTER TABLE {t} ADD COLUMN x int UNIQUE"),
        format!("ALTER TABLE {t} ADD COLUMN x int DEFAULT 1 CHECK (x > 0)"),
        format!("ALTER TABLE {t} ADD COLUMN x \"{s}\".posint"),
        format!("ALTER TABLE {t} ADD COLUMN x \"{s}\".label"),
        format!("REINDEX INDEX \"{s}\".t_b_idx"),
        format!("REINDEX TABLE {t}"),
        format!("ALTER TABLE {t} ALTER COLUMN b TYPE varchar(40)"),
        format!("ALTER TABLE {t} ALTER COLUMN b TYPE text"),
        format!("ALTER TABLE {t} ALTER COLUMN b TYPE varchar(10)"),
        format!("ALTER TABLE {t} ALTER COLUMN a TYPE bigint"),
        format!("ALTER TABLE {t} ALTER COLUMN c TYPE numeric(12,2)"),
        format!("ALTER TABLE {t} ALTER COLUMN c TYPE numeric(12,3)"),
        format!("ALTER TABLE {t} ALTER COLUMN ts TYPE timestamptz"),
        format!("ALTER TABLE {t} ALTER COLUMN ts TYPE timestamptz USING ts"),
        format!("ALTER TABLE {t} ALTER COLUMN ts TYPE timestamptz USING ts AT TIME ZONE 'UTC'"),
        format!("ALTER TABLE {t} ALTER COLUMN b TYPE varchar(40) USING b::varchar(40)"),
        format!("ALTER TABLE {t} ALTER COLUMN n SET NOT NULL"),
        format!("ALTER TABLE {t} ALTER COLUMN a SET NOT NULL"),
        format!("ALTER TABLE {t} ALTER COLUMN n SET DEFAULT 'x'"),
        format!("ALTER TABLE {t} ALTER COLUMN id DROP DEFAULT"),
        format!("ALTER TABLE {t} ADD CONSTRAINT k CHECK (c > 0)"),
        format!("ALTER TABLE {t} ADD CONSTRAINT k CHECK (c > 0) NOT VALID"),
        format!("ALTER TABLE {t} VALIDATE CONSTRAINT t_pos"),
        format!("ALTER TABLE {t} ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES \"{s}\".r (id)"),
        format!(
            "ALTER TABLE {t} ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES \"{s}\".r (id) NOT VALID"
        ),
        format!("ALTER TABLE {t} ADD CONSTRAINT uq UNIQUE (a)"),
        format!("ALTER TABLE {t} ADD CONSTRAINT uq UNIQUE USING INDEX t_u_key"),
        format!("ALTER TABLE {t} ADD CONSTRAINT ex EXCLUDE USING btree (a WITH =)"),
        format!("ALTER TABLE {t} DROP CONSTRAINT t_pos"),
        format!("CREATE INDEX t_a_idx ON {t} (a)"),
        format!("DROP INDEX \"{s}\".t_b_idx"),
        format!("ALTER TABLE {t} DROP COLUMN n"),
        format!("ALTER TABLE {t} RENAME COLUMN n TO n2"),
        format!("ALTER TABLE {t} RENAME TO t2"),
        format!(
            "CREATE TRIGGER t_trg2 AFTER INSERT ON {t} FOR EACH ROW EXECUTE FUNCTION \"{s}\".trg()"
        ),
        format!("DROP TRIGGER t_trg ON {t}"),
        format!("ALTER TABLE {t} SET (fillfactor = 90)"),
        format!("ALTER TABLE {t} ALTER COLUMN a SET STATISTICS 500"),
        format!("ALTER TABLE {t} SET UNLOGGED"),
        format!("ALTER TABLE \"{s}\".p ATTACH PARTITION \"{s}\".p1 FOR VALUES FROM (0) TO (10)"),
        format!("UPDATE {t} SET u = u + 0"),
        format!("DELETE FROM {t} WHERE a > 1990"),
        format!("UPDATE {t} SET a = r.id FROM \"{s}\".r WHERE r.id = {t}.id"),
        format!("INSERT INTO \"{s}\".r SELECT id + 5000 FROM {t}"),
        format!("INSERT INTO \"{s}\".r VALUES (9001), (9002)"),
        format!("CREATE TABLE \"{s}\".t9 AS SELECT id, a FROM {t}"),
        format!("ALTER TYPE \"{s}\".mood ADD VALUE 'meh'"),
        format!(
            "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS a int NOT NULL DEFAULT (random() * 10)::int"
        ),
        format!("TRUNCATE {t}"),
        format!("TRUNCATE \"{s}\".r CASCADE"),
    ];
    let mut errors = Vec::new();
    for sql in &cases {
        let d = declared(&c, sql).await;
        let o = observe(&c, &s, std::slice::from_ref(sql), false).await;
        errors.extend(compare(sql, &s, &d, &o));
    }
    schema.drop(&c).await;
    assert!(
        errors.is_empty(),
        "{} of {} cases disagree with the server:\n{}",
        errors.len(),
        cases.len(),
        errors.join("\n")
    );
}
