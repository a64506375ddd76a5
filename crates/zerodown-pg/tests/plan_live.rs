//! Runs generated plans step by step on the real PostgreSQL, committing as the
//! executor will, and checks for every step that the lock, rewrite and scan it
//! declares are what the server does, that its done-check then holds, and that the
//! migration reaches the intended end state.

mod common;

use common::{observe, setup};
use tokio_postgres::Client;
use zerodown_core::estimate::CostModel;
use zerodown_core::migrations::classify;
use zerodown_core::pipeline;
use zerodown_core::plan::{Plan, PlanOptions, StepKind};
use zerodown_testkit::{connect, TestSchema};

async fn make_plan(c: &Client, sql: &str) -> Plan {
    let mut src = classify("migration.sql", sql);
    src.implicit_transaction = false;
    let (files, diags) = pipeline::parse_sources(&[src]);
    assert!(diags.is_empty(), "{diags:?}");
    let live = zerodown_pg::introspect(c, &pipeline::references(&files))
        .await
        .expect("introspect");
    pipeline::run(
        &files,
        &live.catalog,
        &live.profile,
        &CostModel::default(),
        &PlanOptions::default(),
    )
    .expect("plan")
    .plan
}

/// Runs every step; returns each disagreement between declaration and server.
async fn run_plan(c: &Client, s: &str, plan: &Plan) -> Vec<String> {
    let mut errors = Vec::new();
    for step in plan.steps() {
        let statements: Vec<String> = step
            .statements
            .iter()
            .map(|q| {
                q.replace("($1)", "(-9223372036854775808)")
                    .replace("($2)", "(9223372036854775807)")
            })
            .collect();
        if step.transactional {
            let o = observe(c, s, &statements, true).await;
            let seen = o.locks.values().max().copied();
            let what = format!("step '{}'", step.description);
            if seen != step.lock
                && !(step.lock.is_none()
                    && seen <= Some(zerodown_core::lock::LockMode::AccessShare))
            {
                errors.push(format!(
                    "{what}: lock declared {:?}, observed {seen:?}",
                    step.lock
                ));
            }
            let (rewrote, scanned) = (!o.rewritten.is_empty(), !o.scanned.is_empty());
            if step.rewrites_table != rewrote {
                errors.push(format!(
                    "{what}: rewrite declared {}, observed {:?}",
                    step.rewrites_table, o.rewritten
                ));
            }
            if step.kind != StepKind::Backfill
                && !step.rewrites_table
                && step.scans_table != scanned
            {
                errors.push(format!(
                    "{what}: scan declared {}, observed {:?}",
                    step.scans_table, o.scanned
                ));
            }
        } else {
            for q in &statements {
                c.batch_execute(q)
                    .await
                    .unwrap_or_else(|e| panic!("{q}: {e}"));
            }
        }
        if let Some(check) = &step.done_check {
            let done: bool = c
                .query_one(check.as_str(), &[])
                .await
                .unwrap_or_else(|e| panic!("{check}: {e}"))
                .get(0);
            if !done {
                errors.push(format!(
                    "step '{}': done-check false after running it",
                    step.description
                ));
            }
        }
    }
    errors
}

async fn check(c: &Client, sql: &str) -> bool {
    c.query_one(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_run_and_do_what_they_declare() {
    let c = connect().await;
    // (migration, end-state check); {t} and {r} are the test tables.
    let cases = [
        (
            "ALTER TABLE {t} ADD COLUMN tok uuid NOT NULL DEFAULT gen_random_uuid()",
            "SELECT (SELECT attnotnull FROM pg_attribute WHERE attrelid = '{t}'::regclass AND attname = 'tok')
                AND (SELECT count(DISTINCT tok) = 2000 FROM {t})
                AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = '{t}'::regclass AND conname LIKE 'zd_%')",
        ),
        (
            "ALTER TABLE {t} ADD COLUMN buyer int REFERENCES {r} (id)",
            "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = '{t}'::regclass AND contype = 'f' AND convalidated)",
        ),
        (
            // Metadata clauses mixed with others: each kept once, as PostgreSQL prints it.
            "ALTER TABLE {t} ALTER COLUMN b SET STATISTICS 500, ADD COLUMN x int, SET (fillfactor = 80)",
            "SELECT (SELECT attstattarget = 500 FROM pg_attribute WHERE attrelid = '{t}'::regclass AND attname = 'b')
                AND EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '{t}'::regclass AND attname = 'x')
                AND (SELECT reloptions = '{fillfactor=80}' FROM pg_class WHERE oid = '{t}'::regclass)",
        ),
        (
            "REINDEX INDEX {s}.t_b_idx",
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('{s}.t_b_idx')",
        ),
        (
            "ALTER TABLE {t} ALTER COLUMN n SET NOT NULL",
            "SELECT attnotnull FROM pg_attribute WHERE attrelid = '{t}'::regclass AND attname = 'n'",
        ),
        (
            "ALTER TABLE {t} ADD CONSTRAINT k CHECK (c > 0); ALTER TABLE {t} ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES {r} (id)",
            "SELECT count(*) = 2 FROM pg_constraint WHERE conrelid = '{t}'::regclass AND conname IN ('k', 'f') AND convalidated",
        ),
        (
            "ALTER TABLE {t} ADD CONSTRAINT uq UNIQUE (b)",
            "SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = '{t}'::regclass AND conname = 'uq' AND contype = 'u')",
        ),
        (
            "CREATE INDEX t_a_idx ON {t} (a)",
            "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('{s}.t_a_idx')",
        ),
        (
            "ALTER TABLE {t} ALTER COLUMN u TYPE bigint; ALTER TABLE {t} ALTER COLUMN ts TYPE timestamptz; ALTER TABLE {t} ALTER COLUMN id TYPE bigint",
            "SELECT (SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ',' ORDER BY attname) FROM pg_attribute
                      WHERE attrelid = '{t}'::regclass AND attname IN ('u', 'ts', 'id'))
                    = 'id:bigint,ts:timestamp with time zone,u:bigint'
                AND (SELECT sum(u) = 2001000 AND sum(id) = 2001000 FROM {t})
                AND EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = '{t}'::regclass AND contype = 'p')
                AND to_regclass('{s}.t_ts_idx') IS NOT NULL AND to_regclass('{s}.t_u_key') IS NOT NULL
                AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = '{t}'::regclass AND tgname LIKE 'zd_%')",
        ),
        (
            // a has a validated CHECK (t_a_nn), a NOT VALID one (t_pos), and gets a FK:
            // all three must survive the swap, in the same validation state.
            "ALTER TABLE {t} ADD CONSTRAINT fa FOREIGN KEY (a) REFERENCES {r} (id); ALTER TABLE {t} ALTER COLUMN a TYPE bigint",
            "SELECT (SELECT format_type(atttypid, atttypmod) = 'bigint' FROM pg_attribute WHERE attrelid = '{t}'::regclass AND attname = 'a')
                AND (SELECT string_agg(conname || ':' || convalidated || ':' || pg_get_constraintdef(oid), ' | ' ORDER BY conname)
                       FROM pg_constraint WHERE conrelid = '{t}'::regclass AND contype IN ('c', 'f'))
                    = 'fa:true:FOREIGN KEY (a) REFERENCES {s}.r(id) | t_a_nn:true:CHECK ((a IS NOT NULL)) | t_pos:false:CHECK ((a > 0)) NOT VALID'
                AND (SELECT sum(a) = 2001000 FROM {t})",
        ),
        (
            "ALTER TABLE {t} ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY",
            "SELECT (SELECT attidentity = 'a' AND attnotnull FROM pg_attribute WHERE attrelid = '{t}'::regclass AND attname = 'seq')
                AND (SELECT count(DISTINCT seq) = 2000 FROM {t})",
        ),
        (
            "UPDATE {t} SET n = upper(n)",
            "SELECT bool_and(n = 'N') FROM {t}",
        ),
        (
            "ALTER TABLE {t} DROP COLUMN b",
            "SELECT to_regclass('{s}.t_b_idx') IS NULL AND NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '{t}'::regclass AND attname = 'b' AND NOT attisdropped)",
        ),
    ];
    let mut errors = Vec::new();
    for (migration, end_state) in cases {
        let schema = TestSchema::create(&c, "plan").await;
        let s = schema.name.clone();
        setup(&c, &s).await;
        let fill = |q: &str| {
            q.replace("{t}", &format!("\"{s}\".t"))
                .replace("{r}", &format!("\"{s}\".r"))
                .replace("{s}", &s)
        };
        let plan = make_plan(&c, &fill(migration)).await;
        if !plan.safe {
            errors.push(format!("{migration}: plan not safe: {:?}", plan.notes));
        }
        for e in run_plan(&c, &s, &plan).await {
            errors.push(format!("{migration}\n    {e}"));
        }
        if !check(&c, &fill(end_state)).await {
            let state: String = c
                .query_one(
                    &fill(
                        "SELECT (SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
                                   FROM pg_attribute WHERE attrelid = '{t}'::regclass AND attnum > 0 AND NOT attisdropped)
                             || E'\n    ' || COALESCE((SELECT string_agg(conname || ':' || convalidated || ':' || pg_get_constraintdef(oid), ' | ' ORDER BY conname)
                                   FROM pg_constraint WHERE conrelid = '{t}'::regclass), '')",
                    ),
                    &[],
                )
                .await
                .expect("state")
                .get(0);
            errors.push(format!(
                "{migration}\n    end state not reached; table is now:\n    {state}"
            ));
        }
        schema.drop(&c).await;
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
