//! `zerodown plan` against the real MariaDB: the live catalog (version, size, columns,
//! indexes, open transactions) decides each statement's algorithm and the plan.

mod common;

use common::{migration, zerodown};
use mysql_async::prelude::Queryable;
use zerodown_testkit::MyTestDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_from_the_live_catalog() {
    let db = MyTestDatabase::create("plan").await;
    let mut c = db.connect().await;
    c.query_drop(
        "CREATE TABLE orders (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL,
           note VARCHAR(50), KEY k_customer (customer_id)) DEFAULT CHARSET=utf8mb4;
         INSERT INTO orders (customer_id, note) SELECT seq % 100, CONCAT('n', seq) FROM seq_1_to_20000;
         ANALYZE TABLE orders;",
    )
    .await
    .expect("table");
    // An idle transaction that read the table: a metadata-lock holder the DDL would wait for.
    let mut holder = db.connect().await;
    holder
        .query_drop("BEGIN; SELECT COUNT(*) FROM orders")
        .await
        .expect("hold");
    let m = migration(
        "ALTER TABLE orders ADD COLUMN paid_at DATETIME, MODIFY note VARCHAR(100);\nCREATE INDEX k_paid ON orders (paid_at);",
    );
    let url = db.url().replace("mysql://", "mariadb://");
    let out = zerodown()
        .args([
            "plan",
            &m.path().to_string_lossy(),
            "--database-url",
            &url,
            "--format",
            "json",
        ])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["engine"], "mariadb");
    assert!(doc["version"]
        .as_str()
        .is_some_and(|v| v.starts_with("10.")));
    assert_eq!(doc["source"], "live");
    let first = &doc["statements"][0];
    // VARCHAR(50) -> (100) crosses 255 bytes in utf8mb4: a copy, mixed with an instant add.
    assert_eq!(first["impact"]["online"]["algorithm"], "COPY");
    let codes: Vec<&str> = first["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(codes.contains(&"mysql-copy"), "{codes:?}");
    assert!(codes.contains(&"lock-queue-risk"), "{codes:?}");
    assert!(first["impact"]["estimated_seconds"]
        .as_f64()
        .is_some_and(|s| s > 0.0));
    let steps: Vec<&serde_json::Value> = doc["plan"]["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .flat_map(|p| p["steps"].as_array().expect("steps").iter())
        .collect();
    let sql: Vec<&str> = steps.iter().filter_map(|s| s["sql"].as_str()).collect();
    assert_eq!(
        sql,
        vec![
            "ALTER TABLE `orders` ADD COLUMN paid_at DATETIME, ALGORITHM=INSTANT, LOCK=NONE",
            "ALTER TABLE `orders` MODIFY note VARCHAR(100)",
            "ALTER TABLE `orders` ADD INDEX k_paid (paid_at), ALGORITHM=NOCOPY, LOCK=NONE",
        ]
    );
    assert_eq!(steps[1]["kind"], "online_rebuild");
    assert_eq!(doc["plan"]["safe"], true);
    // Planning changed nothing.
    let cols: Vec<String> = c
        .query("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'orders' ORDER BY ORDINAL_POSITION")
        .await
        .expect("columns");
    assert_eq!(cols, vec!["id", "customer_id", "note"]);
    let _ = holder.query_drop("COMMIT").await;
    drop(holder);
    drop(c);
    // A column that does not exist, or a column or index name the table already has:
    // bad input (exit 2) with its line, as the server would refuse it.
    for (sql, what) in [
        ("ALTER TABLE orders MODIFY nope INT;", "no column nope"),
        (
            "ALTER TABLE orders ADD COLUMN note INT;",
            "column note already exists",
        ),
        (
            "CREATE INDEX k_customer ON orders (note);",
            "index k_customer already exists",
        ),
        (
            "ALTER TABLE orders ADD UNIQUE KEY K_CUSTOMER (note);",
            "index K_CUSTOMER already exists",
        ),
    ] {
        let bad = migration(&format!("\n{sql}"));
        let out = zerodown()
            .args([
                "plan",
                &bad.path().to_string_lossy(),
                "--database-url",
                &db.url(),
            ])
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{sql}: {err}");
        assert!(err.contains(":2:1") && err.contains(what), "{sql}: {err}");
    }
    db.drop().await;
}

/// A throwaway MariaDB with its metadata_lock_info plugin: the holders of a table's
/// metadata lock are known (not every open transaction), and a table with foreign keys
/// keeps its blocking copy with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_lock_holders_and_foreign_keys_from_the_live_catalog() {
    let server = zerodown_mysql::server::Server::start(&[]).expect("throwaway MariaDB");
    let mut c = mysql_async::Conn::from_url(server.url("mysql"))
        .await
        .expect("admin");
    c.query_drop(
        "INSTALL SONAME 'metadata_lock_info'; CREATE DATABASE app; USE app;
         CREATE TABLE parent (id INT PRIMARY KEY);
         CREATE TABLE child (id INT PRIMARY KEY, parent_id INT NOT NULL, qty INT NOT NULL,
           CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id));
         CREATE TABLE other (id INT PRIMARY KEY);
         INSERT INTO parent SELECT seq FROM seq_1_to_100;
         INSERT INTO child SELECT seq, 1 + seq % 100, seq FROM seq_1_to_5000;
         INSERT INTO other SELECT seq FROM seq_1_to_5000;",
    )
    .await
    .expect("tables");
    let mut holder = mysql_async::Conn::from_url(server.url("app"))
        .await
        .expect("holder");
    holder
        .query_drop("BEGIN; SELECT COUNT(*) FROM child")
        .await
        .expect("hold");
    let holder_id = holder.id();
    let plan = |sql: &str| {
        let m = migration(sql);
        let out = zerodown()
            .args(["plan", &m.path().to_string_lossy()])
            .args(["--database-url", &server.url("app"), "--format", "json"])
            .output()
            .expect("plan");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let doc = plan("ALTER TABLE child MODIFY qty BIGINT NOT NULL;");
    let findings = doc["statements"][0]["findings"]
        .as_array()
        .expect("findings");
    let find = |code: &str| {
        findings
            .iter()
            .find(|f| f["code"] == code)
            .unwrap_or_else(|| panic!("{code} in {findings:?}"))
    };
    let risk = find("lock-queue-risk")["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        risk.contains("hold a metadata lock on child now")
            && risk.contains(&format!("session {holder_id}")),
        "{risk}"
    );
    let hint = find("mysql-copy")["hint"].as_str().unwrap_or_default();
    assert!(hint.contains("foreign keys (child_parent_fk)"), "{hint}");
    assert_eq!(doc["plan"]["phases"][0]["steps"][0]["kind"], "ddl", "{doc}");
    assert_eq!(doc["plan"]["safe"], false);
    // The holder touched only child: a change to another table waits for no one.
    let doc = plan("ALTER TABLE other ADD COLUMN x INT;");
    let codes: Vec<&str> = doc["statements"][0]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(!codes.contains(&"lock-queue-risk"), "{codes:?}");
    let _ = holder.query_drop("COMMIT").await;
}
