//! Rehearsals on MariaDB end to end: the source's tables copied to the shared server as a
//! scratch server (foreign keys, estimates, the source left alone, the databases dropped),
//! and a throwaway MariaDB with a row binlog where an INT -> BIGINT key change as written
//! blocks the clients and zerodown's online rebuild does not.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use zerodown_core::migrations::classify;
use zerodown_core::pg::ir::QualName;
use zerodown_core::plan::PlanOptions;
use zerodown_rehearse::{rehearse, Config, Family, Mix, Mode, Progress, Schema, Server};
use zerodown_testkit::{my_admin, my_base_url, MyTestDatabase};

struct Stages(Mutex<Vec<String>>);

impl Progress for Stages {
    fn stage(&self, what: &str) {
        eprintln!("stage: {what}");
        self.0.lock().expect("stages").push(what.to_owned());
    }
}

fn config(migration: &str, server: Server, schema: Schema, rows: Vec<(QualName, u64)>) -> Config {
    Config {
        family: Family::MySql,
        sources: vec![classify("change.sql", migration)],
        server,
        schema,
        rows,
        default_rows: 1_000,
        clients: 3,
        mix: Mix::default(),
        settle: Duration::from_millis(1500),
        compare_as_written: true,
        plan: PlanOptions::default(),
        max_stall_ms: 250.0,
        interrupt: Arc::new(AtomicBool::new(false)),
    }
}

async fn rehearsal_databases(admin: &mut mysql_async::Conn) -> u64 {
    let pattern = format!("zerodown\\_rehearse\\_{}\\_%", std::process::id());
    admin
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?",
            (pattern,),
        )
        .await
        .expect("count")
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_the_source_tables_with_their_parents_and_sizes_and_drops_its_databases() {
    let source = MyTestDatabase::create("rehearse_src").await;
    let mut src = source.connect().await;
    src.query_drop(
        "CREATE TABLE owners (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40) NOT NULL);
         CREATE TABLE items (id BIGINT AUTO_INCREMENT PRIMARY KEY,
                             owner_id INT NOT NULL, label VARCHAR(40) NOT NULL UNIQUE,
                             qty INT NOT NULL, kind ENUM('a','b','c') NOT NULL, doc JSON,
                             CONSTRAINT items_owner FOREIGN KEY (owner_id) REFERENCES owners (id));
         INSERT INTO owners (name) SELECT CONCAT('o', seq) FROM seq_1_to_300;
         INSERT INTO items (owner_id, label, qty, kind) SELECT 1 + seq % 300, CONCAT('l', seq), seq % 7, 'a' FROM seq_1_to_20000;
         ANALYZE TABLE owners, items;",
    )
    .await
    .expect("source");
    let tables = "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()";
    let before: Option<u64> = src.query_first(tables).await.expect("tables");

    let cfg = config(
        "ALTER TABLE items ADD COLUMN note VARCHAR(20) NULL, ADD INDEX items_qty (qty);\n",
        Server::Scratch(format!("{}/test", my_base_url())),
        Schema::From(source.url()),
        Vec::new(),
    );
    let stages = Stages(Mutex::new(Vec::new()));
    let report = rehearse(&cfg, &stages).await.expect("rehearsal");

    let rows: std::collections::BTreeMap<_, _> = report.rows.iter().cloned().collect();
    let items = rows.get("items").copied().expect("items sized");
    // TABLE_ROWS is InnoDB's sampled estimate.
    assert!((10_000..=40_000).contains(&items), "{:?}", report.rows);
    assert!(
        rows.contains_key("owners"),
        "the parent is filled: {:?}",
        report.rows
    );
    assert_eq!(report.server.engine, "MariaDB");
    let after: Option<u64> = src.query_first(tables).await.expect("tables");
    assert_eq!(before, after, "the source gained no table");
    let mut admin = my_admin().await;
    assert_eq!(
        rehearsal_databases(&mut admin).await,
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
    assert!(
        as_written.steps[0]
            .declared_lock
            .as_deref()
            .is_some_and(|d| d.starts_with("ALGORITHM=")),
        "{:?}",
        as_written.steps[0]
    );
    // zerodown splits the instant column from the index build.
    assert!(zd.steps.len() >= 2, "{:?}", zd.steps);
    for run in &report.runs {
        assert!(run.migration_error.is_none(), "{:?}", run.migration_error);
        assert!(run.error_samples.is_empty(), "{:?}", run.error_samples);
        assert!(run.phase("before").expect("before").ops > 100);
    }
    assert!(zd.verdict.ok, "{:?}", zd.verdict);
    let ops: Vec<&str> = report
        .workload
        .operations
        .iter()
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(ops, ["read", "update", "insert"]);
    drop(src);
    source.drop().await;
    let _ = admin.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_throwaway_mariadb_a_key_widened_as_written_blocks_writes_and_zerodown_does_not() {
    let cfg = config(
        "ALTER TABLE accounts MODIFY id BIGINT NOT NULL AUTO_INCREMENT;\n",
        Server::Throwaway,
        Schema::Sql(
            "CREATE TABLE accounts (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
                 email VARCHAR(120) NOT NULL, balance DECIMAL(12,2) NOT NULL DEFAULT 0,
                 created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)"
                .into(),
        ),
        vec![(QualName::new(None, "accounts"), 300_000)],
    );
    let stages = Stages(Mutex::new(Vec::new()));
    let report = rehearse(&cfg, &stages).await.expect("rehearsal");
    assert!(
        stages.0.lock().expect("stages")[0].contains("throwaway MariaDB"),
        "started its own server"
    );
    let [as_written, zd] = report.runs.as_slice() else {
        panic!("two runs: {report:#?}");
    };
    // As written: ALGORITHM=COPY, seen holding a metadata lock that stops writes, with
    // clients queued behind it.
    let step = &as_written.steps[0];
    assert_eq!(
        step.declared_lock.as_deref(),
        Some("ALGORITHM=COPY, LOCK=SHARED")
    );
    // (MDL_EXCLUSIVE when a sample falls in the final rename.)
    assert!(
        matches!(
            step.observed_lock.as_deref(),
            Some("MDL_SHARED_NO_WRITE" | "MDL_EXCLUSIVE")
        ),
        "{step:?}"
    );
    assert!(step.clients_waiting_max >= 1, "{step:?}");
    // zerodown: the online rebuild, no error, and no client waited anywhere near as long.
    assert!(
        zd.steps[0].description.starts_with("online rebuild"),
        "{:?}",
        zd.steps
    );
    assert_eq!(zd.steps[0].declared_lock.as_deref(), Some("cut-over only"));
    assert!(zd.migration_error.is_none(), "{:?}", zd.migration_error);
    assert!(zd.error_samples.is_empty(), "{:?}", zd.error_samples);
    let worst = |r: &zerodown_rehearse::report::Run| r.phase("during").expect("during").max_ms;
    assert!(
        worst(zd) * 2.0 < worst(as_written),
        "zerodown {} ms vs as written {} ms",
        worst(zd),
        worst(as_written)
    );
}
