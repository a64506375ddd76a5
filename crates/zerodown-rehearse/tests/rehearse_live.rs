//! Rehearsals end to end on real servers: a scratch server (the shared one) for the
//! source copy and the side-by-side runs, a throwaway cluster for pg_stat_statements and
//! its removal, and an interrupted rehearsal that still cleans up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zerodown_core::migrations::classify;
use zerodown_core::pg::ir::QualName;
use zerodown_core::plan::PlanOptions;
use zerodown_rehearse::{
    rehearse, Config, Family, Mix, Mode, Progress, RehearseError, Report, Schema, Server,
};
use zerodown_testkit::{connect, pg_conn, TestDatabase};

/// Collects the stage lines; sets `interrupt` when a stage starts with `stop_at`.
struct Stages {
    seen: Mutex<Vec<String>>,
    stop_at: Option<(&'static str, Arc<AtomicBool>)>,
}

impl Progress for Stages {
    fn stage(&self, what: &str) {
        eprintln!("stage: {what}");
        self.seen.lock().expect("stages").push(what.to_owned());
        if let Some((prefix, flag)) = &self.stop_at {
            if what.starts_with(prefix) {
                flag.store(true, Ordering::Relaxed);
            }
        }
    }
}

fn stages(stop_at: Option<(&'static str, Arc<AtomicBool>)>) -> Stages {
    Stages {
        seen: Mutex::new(Vec::new()),
        stop_at,
    }
}

const MIGRATION: &str =
    "ALTER TABLE items ADD COLUMN token uuid NOT NULL DEFAULT gen_random_uuid();\n";

fn config(server: Server, schema: Schema, rows: Vec<(QualName, u64)>) -> Config {
    Config {
        family: Family::Postgres,
        sources: vec![classify("add_token.sql", MIGRATION)],
        server,
        schema,
        rows,
        default_rows: 1_000,
        clients: 2,
        mix: Mix::default(),
        settle: Duration::from_millis(1500),
        compare_as_written: true,
        plan: PlanOptions::default(),
        max_stall_ms: 250.0,
        interrupt: Arc::new(AtomicBool::new(false)),
    }
}

async fn rehearsal_databases(admin: &tokio_postgres::Client) -> i64 {
    let pattern = format!("zerodown_rehearse_{}_%", std::process::id());
    admin
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname LIKE $1",
            &[&pattern],
        )
        .await
        .expect("count")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_the_source_schema_sizes_from_its_estimates_and_compares_both_runs() {
    let admin = connect().await;
    let source = TestDatabase::create(&admin, "rehearse_src").await;
    let src = source.connect().await;
    src.batch_execute(
        "CREATE TABLE owners (id serial PRIMARY KEY, name text NOT NULL);
         CREATE TABLE items (id bigserial PRIMARY KEY, owner_id int NOT NULL REFERENCES owners (id),
                             label varchar(40) NOT NULL UNIQUE, qty int NOT NULL CHECK (qty >= 0));
         INSERT INTO owners (name) SELECT 'o' || g FROM generate_series(1, 300) g;
         INSERT INTO items (owner_id, label, qty) SELECT 1 + g % 300, 'l' || g, g % 7 FROM generate_series(1, 30000) g;
         ANALYZE;",
    )
    .await
    .expect("source");
    let objects = "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace";
    let before: i64 = src.query_one(objects, &[]).await.expect("objects").get(0);

    let cfg = config(
        Server::Scratch(pg_conn()),
        Schema::From(source.url()),
        Vec::new(),
    );
    let report = rehearse(&cfg, &stages(None)).await.expect("rehearsal");

    // Sized from the source's estimates, parents included; the source is unchanged.
    let rows: std::collections::BTreeMap<_, _> = report.rows.iter().cloned().collect();
    assert_eq!(rows.get("public.items"), Some(&30_000), "{:?}", report.rows);
    assert_eq!(rows.get("public.owners"), Some(&300), "{:?}", report.rows);
    let after: i64 = src.query_one(objects, &[]).await.expect("objects").get(0);
    assert_eq!(before, after, "the source gained no object");
    assert_eq!(
        rehearsal_databases(&admin).await,
        0,
        "scratch databases dropped"
    );

    let [as_written, zd] = report.runs.as_slice() else {
        panic!("two runs: {report:#?}");
    };
    assert_eq!(
        (as_written.mode, zd.mode),
        (Mode::AsWritten, Mode::Zerodown)
    );
    // The statement as written takes ACCESS EXCLUSIVE and rewrites the table: seen
    // holding it, with clients queued behind it.
    let step = &as_written.steps[0];
    assert_eq!(step.declared_lock.as_deref(), Some("AccessExclusiveLock"));
    assert_eq!(
        step.observed_lock.as_deref(),
        Some("AccessExclusiveLock"),
        "{step:?}"
    );
    assert!(step.clients_waiting_max >= 1, "{step:?}");
    // zerodown's backfill is seen holding only ROW EXCLUSIVE.
    let backfill = zd
        .steps
        .iter()
        .find(|s| s.description.starts_with("backfill"))
        .expect("backfill step");
    assert_eq!(
        backfill.observed_lock.as_deref(),
        Some("RowExclusiveLock"),
        "{backfill:?}"
    );
    assert!(zd.verdict.ok, "{:?}", zd.verdict);
    for run in &report.runs {
        let phases: Vec<&str> = run.phases.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(phases, ["before", "during", "after"]);
        let ops: u64 = run.phases.iter().map(|p| p.ops).sum();
        let timeline: u64 = run.timeline.iter().map(|s| s.ops).sum();
        // The timeline holds the run's whole seconds, in order: all but the last fraction
        // of a second, which holds no more than about a second's operations. (A share of
        // the total would depend on how long the run happened to last: 2 of 2.9 s is 69%.)
        let run_ms: u64 = run.phases.iter().map(|p| p.duration_ms).sum();
        let seconds: Vec<u64> = run.timeline.iter().map(|s| s.t_ms).collect();
        let whole = (run_ms / 1000) as usize;
        assert!(
            (whole.saturating_sub(1)..=whole + 1).contains(&seconds.len()),
            "{} whole seconds of {run_ms} ms",
            seconds.len()
        );
        assert!(seconds
            .iter()
            .enumerate()
            .all(|(i, t)| *t == i as u64 * 1000));
        let busiest = run.timeline.iter().map(|s| s.ops).max().unwrap_or(0);
        assert!(
            timeline <= ops && ops - timeline <= 2 * busiest,
            "{timeline} of {ops}, busiest second {busiest}"
        );
        assert!(run.phase("before").expect("before").ops > 100);
        assert!(
            run.migration_started_ms >= 1400,
            "{}",
            run.migration_started_ms
        );
        assert!(run.error_samples.is_empty(), "{:?}", run.error_samples);
    }
    // The JSON document reads back as the same report.
    let json = serde_json::to_string(&report).expect("json");
    let back: Report = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, report);

    drop(src);
    source.drop(&admin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throwaway_cluster_reports_statements_and_is_removed_even_when_interrupted() {
    let schema = "CREATE TABLE items (id bigserial PRIMARY KEY, label text NOT NULL);";
    let rows = vec![(QualName::new(None, "items"), 5_000)];
    let mut cfg = config(Server::Throwaway, Schema::Sql(schema.into()), rows.clone());
    cfg.compare_as_written = false;
    let seen = stages(None);
    let report = rehearse(&cfg, &seen).await.expect("rehearsal");
    let folder = cluster_folder(&seen);
    assert!(!folder.exists(), "{} removed", folder.display());
    assert!(report.server.kind.starts_with("throwaway cluster"));
    assert!(
        report.server.pg_stat_statements,
        "preloaded in the throwaway cluster"
    );
    let run = &report.runs[0];
    assert!(
        run.statements
            .iter()
            .any(|s| s.phase == "during" && s.query.contains("UPDATE") && s.calls > 0),
        "the backfill's and clients' statements are counted: {:#?}",
        run.statements
    );

    // Interrupted once the traffic starts: the error says so, the cluster is gone.
    let mut cfg = config(Server::Throwaway, Schema::Sql(schema.into()), rows);
    let flag = cfg.interrupt.clone();
    cfg.compare_as_written = false;
    let seen = stages(Some(("zerodown: traffic", flag)));
    let err = rehearse(&cfg, &seen).await.expect_err("interrupted");
    assert!(matches!(err, RehearseError::Interrupted), "{err}");
    let folder = cluster_folder(&seen);
    assert!(
        !folder.exists(),
        "{} removed after the interrupt",
        folder.display()
    );
}

/// The cluster's folder, from the stage that announced it.
fn cluster_folder(seen: &Stages) -> std::path::PathBuf {
    let stages = seen.seen.lock().expect("stages");
    let line = stages
        .iter()
        .find(|s| s.starts_with("throwaway cluster on port"))
        .expect("cluster announced");
    std::path::PathBuf::from(line.rsplit(" in ").next().expect("folder"))
}
