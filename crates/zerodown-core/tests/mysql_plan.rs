//! The MySQL/MariaDB planner on what a report does not show: done-checks, backfill
//! specs, and catalog states no SQL fixture can set up (triggers, foreign keys read
//! live, metadata-lock holders, a live catalog's unknown names). What each statement
//! gets per flavor and version, and the ladder it becomes, are SQL fixtures with
//! snapshots: `tests/fixtures/mysql/`, run by planner_snapshots.rs.

use zerodown_core::engine::ServerProfile;
use zerodown_core::estimate::CostModel;
use zerodown_core::findings::Code;
use zerodown_core::mysql::catalog::{MyCatalog, OpenTransaction};
use zerodown_core::pipeline::{self, Outcome};
use zerodown_core::plan::{PlanOptions, StepKind};

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

fn codes(o: &Outcome, i: usize) -> Vec<&'static str> {
    o.statements[i]
        .findings
        .iter()
        .map(|f| f.code.as_str())
        .collect()
}

#[test]
fn steps_carry_done_checks_and_backfill_specs() {
    let o = plan(
        "mariadb:10.11",
        "ALTER TABLE orders ADD COLUMN total INT;\nUPDATE orders SET total = customer_id * 2 WHERE total IS NULL;",
        1e6,
    );
    let first = o.plan.steps().next().expect("a step");
    assert!(first.done_check.as_deref().is_some_and(
        |c| c.starts_with("SELECT (EXISTS") && c.contains("information_schema.COLUMNS")
    ));
    let b = o.plan.phases[1].steps[0]
        .backfill
        .as_ref()
        .expect("backfill");
    assert_eq!(b.table, "orders");
    assert_eq!(b.set[0].expr, "customer_id * 2");
    assert_eq!(b.filter.as_deref(), Some("total IS NULL"));
}

#[test]
fn a_live_catalog_makes_unknown_names_bad_input_with_their_place() {
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

/// Seed rows go with the expand that makes their table, as on PostgreSQL: a contract
/// held back for later must not hold them back too.
#[test]
fn seed_rows_are_planned_with_the_expand() {
    let o = plan(
        "mariadb:10.11",
        "CREATE TABLE roles (id BIGINT PRIMARY KEY, name VARCHAR(20));\nINSERT INTO roles VALUES (1, 'admin');\n",
        1000.0,
    );
    let phases: Vec<_> = o.plan.phases.iter().map(|p| p.name).collect();
    assert_eq!(phases, [zerodown_core::plan::Phase::Expand], "{phases:?}");
    assert_eq!(o.plan.phases[0].steps.len(), 2);
}
