//! The MySQL/MariaDB planner, offline: what each statement gets per flavor and version,
//! and the ladder it is turned into.

use zerodown_core::analysis::Verdict;
use zerodown_core::engine::ServerProfile;
use zerodown_core::estimate::CostModel;
use zerodown_core::findings::Code;
use zerodown_core::mysql::catalog::{MyCatalog, OpenTransaction};
use zerodown_core::mysql::online::{Algorithm, DdlLock};
use zerodown_core::pipeline::{self, Outcome};
use zerodown_core::plan::{Phase, PlanOptions, StepKind};

const SCHEMA: &str = "CREATE TABLE orders (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    customer_id INT NOT NULL,
    note VARCHAR(50),
    state ENUM('new','paid'),
    KEY k_customer (customer_id)
) DEFAULT CHARSET=utf8mb4;\n";

/// Plans `sql` against a catalog where `orders` exists (from SCHEMA) with `rows` rows.
fn plan(target: &str, sql: &str, rows: f64) -> Outcome {
    plan_with(target, sql, rows, |_| {})
}

/// [`plan`] with the catalog changed by `tweak` first.
fn plan_with(target: &str, sql: &str, rows: f64, tweak: impl FnOnce(&mut MyCatalog)) -> Outcome {
    let profile: ServerProfile = target.parse().expect("target");
    let (schema, diags) = pipeline::parse_mysql_sources(&[source("schema.sql", SCHEMA)]);
    assert!(diags.is_empty(), "{diags:?}");
    let mut cat = MyCatalog::default();
    for s in &schema {
        cat.apply(&s.kind);
    }
    let t = cat.tables.get_mut("orders").expect("orders");
    t.new = false;
    t.rows = Some(rows);
    t.data_bytes = Some((rows * 100.0) as u64);
    tweak(&mut cat);
    let (stmts, diags) = pipeline::parse_mysql_sources(&[source("m.sql", sql)]);
    assert!(diags.is_empty(), "{diags:?}");
    pipeline::run_mysql(
        &stmts,
        &cat,
        &profile,
        &CostModel::default(),
        &PlanOptions::default(),
    )
    .expect("plans")
}

fn source(name: &str, text: &str) -> zerodown_core::migrations::SourceFile {
    zerodown_core::migrations::SourceFile {
        name: name.into(),
        text: text.into(),
        layout: zerodown_core::migrations::Layout::Plain,
        implicit_transaction: false,
    }
}

fn sqls(o: &Outcome) -> Vec<String> {
    o.plan
        .steps()
        .flat_map(|s| s.statements.iter().cloned())
        .collect()
}

fn codes(o: &Outcome, i: usize) -> Vec<&'static str> {
    o.statements[i]
        .findings
        .iter()
        .map(|f| f.code.as_str())
        .collect()
}

#[test]
fn a_mixed_alter_is_split_into_instant_index_and_online_rebuild() {
    let o = plan(
        "mariadb:10.11",
        "ALTER TABLE orders ADD COLUMN paid_at DATETIME, ADD INDEX k_paid (paid_at), MODIFY id BIGINT NOT NULL AUTO_INCREMENT, ALGORITHM=INPLACE;",
        1e6,
    );
    let a = &o.statements[0];
    assert_eq!(a.impact.online.map(|x| x.algorithm), Some(Algorithm::Copy));
    assert!(a.impact.blocks_writes && !a.impact.blocks_reads);
    assert_eq!(a.verdict, Verdict::Unsafe);
    assert!(codes(&o, 0).contains(&"mysql-copy"), "{:?}", codes(&o, 0));
    assert_eq!(
        sqls(&o),
        vec![
            "ALTER TABLE `orders` ADD COLUMN paid_at DATETIME, ALGORITHM=INSTANT, LOCK=NONE",
            "ALTER TABLE `orders` ADD INDEX k_paid (paid_at), ALGORITHM=NOCOPY, LOCK=NONE",
            "ALTER TABLE `orders` MODIFY COLUMN id BIGINT NOT NULL AUTO_INCREMENT",
        ]
    );
    let kinds: Vec<StepKind> = o.plan.steps().map(|s| s.kind).collect();
    assert_eq!(kinds[2], StepKind::OnlineRebuild);
    assert!(o.plan.safe, "{:?}", o.plan.notes);
    let first = o.plan.steps().next().expect("a step");
    assert!(first.done_check.as_deref().is_some_and(
        |c| c.starts_with("SELECT (EXISTS") && c.contains("information_schema.COLUMNS")
    ));
}

#[test]
fn versions_and_flavors_decide() {
    let sql = "ALTER TABLE orders ADD COLUMN x INT AFTER id;";
    let on = |target: &str| {
        plan(target, sql, 1e6).statements[0]
            .impact
            .online
            .expect("online")
    };
    assert_eq!(on("mariadb:10.11").algorithm, Algorithm::Instant);
    assert_eq!(on("mariadb:10.3").algorithm, Algorithm::Inplace);
    assert!(on("mariadb:10.3").rebuilds);
    assert_eq!(on("mysql:8.0.28").algorithm, Algorithm::Inplace);
    assert_eq!(on("mysql:8.0").algorithm, Algorithm::Instant);
    // MySQL takes no LOCK clause with INSTANT.
    let o = plan("mysql:8.0", sql, 1e6);
    assert_eq!(
        sqls(&o),
        vec!["ALTER TABLE `orders` ADD COLUMN x INT AFTER id, ALGORITHM=INSTANT"]
    );
}

#[test]
fn the_traps_are_named() {
    // VARCHAR growth across 255 bytes (utf8mb4: 4 bytes a character) is a copy; within, not.
    let o = plan(
        "mariadb:10.11",
        "ALTER TABLE orders MODIFY note VARCHAR(60);\nALTER TABLE orders MODIFY note VARCHAR(100);",
        1e6,
    );
    assert_eq!(
        o.statements[0].impact.online.map(|x| x.algorithm),
        Some(Algorithm::Instant)
    );
    assert_eq!(
        o.statements[1].impact.online.map(|x| x.algorithm),
        Some(Algorithm::Copy)
    );
    // An instant change mixed with an index: the whole statement rebuilds.
    let o = plan(
        "mariadb:10.11",
        "ALTER TABLE orders ADD COLUMN y INT, ADD INDEX k_note (note);",
        1e6,
    );
    assert!(codes(&o, 0).contains(&"mysql-instant-mixed"));
    // SET NOT NULL rebuilds in place; stored generated columns copy.
    let o = plan(
        "mariadb:10.11",
        "ALTER TABLE orders MODIFY note VARCHAR(50) NOT NULL;\nALTER TABLE orders ADD COLUMN g INT AS (customer_id + 1) STORED;",
        1e6,
    );
    assert!(codes(&o, 0).contains(&"mysql-online-rebuild"));
    assert_eq!(
        o.statements[1].impact.online.map(|x| x.algorithm),
        Some(Algorithm::Copy)
    );
}

#[test]
fn a_foreign_key_without_checks_is_added_in_place_on_the_same_session() {
    let o = plan(
        "mariadb:10.11",
        "SET foreign_key_checks = 0;\nALTER TABLE orders ADD CONSTRAINT fk_c FOREIGN KEY (customer_id) REFERENCES customers (id);",
        1e6,
    );
    let step = o.plan.steps().next().expect("a step");
    assert_eq!(
        step.statements,
        vec![
            "SET SESSION foreign_key_checks = 0",
            "ALTER TABLE `orders` ADD CONSTRAINT fk_c FOREIGN KEY (customer_id) REFERENCES customers(id), ALGORITHM=INSTANT, LOCK=NONE",
            "SET SESSION foreign_key_checks = 1",
        ]
    );
    // With checks on it is a copy.
    let o = plan(
        "mariadb:10.11",
        "ALTER TABLE orders ADD CONSTRAINT fk_c FOREIGN KEY (customer_id) REFERENCES customers (id);",
        1e6,
    );
    assert!(codes(&o, 0).contains(&"mysql-copy"));
}

#[test]
fn an_update_becomes_a_backfill_and_phases_keep_the_order() {
    let o = plan(
        "mariadb:10.11",
        "ALTER TABLE orders ADD COLUMN total INT;\nUPDATE orders SET total = customer_id * 2 WHERE total IS NULL;\nALTER TABLE orders MODIFY total INT NOT NULL;",
        1e6,
    );
    assert_eq!(o.statements[1].verdict, Verdict::Unsafe);
    let phases: Vec<Phase> = o.plan.phases.iter().map(|p| p.name).collect();
    assert_eq!(
        phases,
        vec![Phase::Expand, Phase::Backfill, Phase::Contract]
    );
    let b = o.plan.phases[1].steps[0]
        .backfill
        .as_ref()
        .expect("backfill");
    assert_eq!(b.table, "orders");
    assert_eq!(b.set[0].expr, "customer_id * 2");
    assert_eq!(b.filter.as_deref(), Some("total IS NULL"));
    let last = &o.plan.phases[2].steps[0];
    assert_eq!(last.online.map(|x| x.lock), Some(DdlLock::None));
    assert!(last.rewrites_table && o.plan.safe);
}

#[test]
fn unknown_and_unmodelled_are_said_not_dropped() {
    // Offline, a table not created in the migration: columns unknown, a copy assumed.
    let o = plan("mariadb:10.11", "ALTER TABLE other MODIFY a BIGINT;", 1e6);
    assert!(codes(&o, 0).contains(&"type-change-unknown-old-type"));
    // A form zerodown does not model is kept as written and flagged.
    let o = plan(
        "mariadb:10.11",
        "ALTER TABLE orders ADD FULLTEXT INDEX ft (note);\nINSERT INTO orders (customer_id) VALUES (1);",
        1e6,
    );
    assert!(codes(&o, 0).contains(&"unmodeled-statement"));
    assert!(codes(&o, 1).contains(&"unmodeled-statement"));
    assert!(o.plan.steps().all(|s| s.unmodeled));
    // Live, an unknown column is bad input with its place.
    let profile: ServerProfile = "mariadb:10.11".parse().expect("target");
    let mut cat = MyCatalog {
        live: true,
        ..MyCatalog::default()
    };
    let (schema, _) = pipeline::parse_mysql_sources(&[source("schema.sql", SCHEMA)]);
    for s in &schema {
        cat.apply(&s.kind);
    }
    let (stmts, _) = pipeline::parse_mysql_sources(&[source(
        "m.sql",
        "\nALTER TABLE orders MODIFY nope INT;\nALTER TABLE missing ADD COLUMN a INT;",
    )]);
    let diags = pipeline::run_mysql(
        &stmts,
        &cat,
        &profile,
        &CostModel::default(),
        &PlanOptions::default(),
    )
    .expect_err("bad input");
    assert_eq!(diags.len(), 2);
    assert_eq!(diags[0].span.line, 2);
    assert!(
        diags[0].message.contains("no column nope"),
        "{}",
        diags[0].message
    );
    assert!(diags[1].message.contains("missing does not exist"));
}

#[test]
fn a_table_the_online_rebuild_cannot_take_keeps_its_blocking_copy_and_says_why() {
    let widen = "ALTER TABLE orders MODIFY customer_id BIGINT NOT NULL;";
    let o = plan_with("mariadb:10.11", widen, 1e6, |cat| {
        let t = cat.tables.get_mut("orders").expect("orders");
        t.triggers = vec!["orders_audit".into()];
    });
    let steps: Vec<_> = o.plan.steps().collect();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0].kind, StepKind::Ddl, "{:?}", steps[0]);
    assert!(
        steps[0].statements[0].ends_with("ALGORITHM=COPY, LOCK=SHARED"),
        "{:?}",
        steps[0].statements
    );
    assert!(!o.plan.safe, "a blocking step: apply asks for --yes");
    let copy = o.statements[0]
        .findings
        .iter()
        .find(|f| f.code == Code::MysqlCopy)
        .expect("mysql-copy");
    assert!(
        copy.hint
            .as_deref()
            .is_some_and(|h| h.contains("triggers (orders_audit)")),
        "{:?}",
        copy.hint
    );
    // Foreign keys to or from it stop it the same way; without any, the online rebuild.
    let o = plan_with("mariadb:10.11", widen, 1e6, |cat| {
        let t = cat.tables.get_mut("orders").expect("orders");
        t.foreign_keys = vec!["items_order_fk".into()];
    });
    assert_eq!(o.plan.steps().next().map(|s| s.kind), Some(StepKind::Ddl));
    let o = plan("mariadb:10.11", widen, 1e6);
    assert_eq!(
        o.plan.steps().next().map(|s| s.kind),
        Some(StepKind::OnlineRebuild)
    );
}

#[test]
fn known_metadata_lock_holders_are_named_as_such_and_none_means_no_risk() {
    let add = "ALTER TABLE orders ADD COLUMN paid_at DATETIME NULL;";
    let idle = OpenTransaction {
        id: 42,
        state: "Sleep".into(),
        seconds: 30.0,
        query: String::new(),
    };
    let holder = idle.clone();
    let o = plan_with("mariadb:10.11", add, 1e6, |cat| {
        cat.tables.get_mut("orders").expect("orders").lock_holders = Some(vec![holder]);
    });
    let risk = o.statements[0]
        .findings
        .iter()
        .find(|f| f.code == Code::LockQueueRisk)
        .expect("lock-queue-risk");
    assert!(
        risk.message.contains("hold a metadata lock on orders now"),
        "{}",
        risk.message
    );
    assert!(risk.message.contains("session 42"));
    // The server says no one holds one: an open transaction elsewhere is no risk.
    let o = plan_with("mariadb:10.11", add, 1e6, |cat| {
        cat.tables.get_mut("orders").expect("orders").lock_holders = Some(Vec::new());
        cat.open_transactions = vec![idle.clone()];
    });
    assert!(!codes(&o, 0).contains(&"lock-queue-risk"));
    // It cannot say: every open transaction may be one.
    let o = plan_with("mariadb:10.11", add, 1e6, |cat| {
        cat.open_transactions = vec![idle.clone()];
    });
    assert!(codes(&o, 0).contains(&"lock-queue-risk"));
}
