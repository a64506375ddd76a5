//! `zerodown apply` on the real MariaDB under load: four clients (two through server-side
//! prepared statements, two through plain queries) update and insert for the whole run
//! while a column is added and backfilled, an index is built and a column is made NOT
//! NULL. No client sees an error, no client waits longer than the lock-wait budget, no
//! write is lost, every row ends as the migration says.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{migration, zerodown};
use mysql_async::prelude::Queryable;
use zerodown_testkit::MyTestDatabase;

const ROWS: u64 = 200_000;
const CLIENTS: u64 = 4;

/// What one client did: the last note it wrote per row it owns, the rows it inserted,
/// its worst latency and its errors.
#[derive(Default)]
struct ClientLog {
    notes: HashMap<u64, String>,
    inserted: u64,
    worst: Duration,
    ops: u64,
    errors: Vec<String>,
}

/// A client that owns the rows with `id % CLIENTS == me`: updates their note, and now
/// and then inserts a row. `prepared`: server-side prepared statements (COM_STMT_*).
async fn client(url: String, me: u64, prepared: bool, stop: Arc<AtomicBool>) -> ClientLog {
    let mut log = ClientLog::default();
    let mut c = mysql_async::Conn::from_url(url)
        .await
        .expect("client connects");
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        // Ids 1..=ROWS, each client its own residue: no two clients write one row.
        let id = fastrand::u64(0..ROWS / CLIENTS) * CLIENTS + me + 1;
        let note = format!("c{me}-{n}");
        let started = Instant::now();
        let result = if n % 10 == 0 {
            let sql = "INSERT INTO orders (customer_id, note) VALUES (?, ?)";
            if prepared {
                c.exec_drop(sql, (me, note.clone())).await
            } else {
                c.query_drop(format!(
                    "INSERT INTO orders (customer_id, note) VALUES ({me}, '{note}')"
                ))
                .await
            }
            .map(|()| log.inserted += 1)
        } else if prepared {
            c.exec_drop(
                "UPDATE orders SET note = ? WHERE id = ?",
                (note.clone(), id),
            )
            .await
            .map(|()| {
                log.notes.insert(id, note);
            })
        } else {
            c.query_drop(format!("UPDATE orders SET note = '{note}' WHERE id = {id}"))
                .await
                .map(|()| {
                    log.notes.insert(id, note);
                })
        };
        log.worst = log.worst.max(started.elapsed());
        log.ops += 1;
        if let Err(e) = result {
            log.errors.push(e.to_string());
        }
    }
    let _ = c.disconnect().await;
    log
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn add_column_backfill_index_and_not_null_under_load() {
    let db = MyTestDatabase::create("apply").await;
    let mut c = db.connect().await;
    c.query_drop(format!(
        "CREATE TABLE orders (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
           customer_id INT NOT NULL, note VARCHAR(50)) DEFAULT CHARSET=utf8mb4;
         INSERT INTO orders (customer_id, note) SELECT seq % 1000, 'start' FROM seq_1_to_{ROWS};
         ANALYZE TABLE orders;"
    ))
    .await
    .expect("table");
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|me| tokio::spawn(client(db.url(), me, me % 2 == 0, stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m = migration(
        "ALTER TABLE orders ADD COLUMN total BIGINT NOT NULL DEFAULT 0, ADD INDEX k_customer (customer_id);\n\
         UPDATE orders SET total = customer_id * 2 + 1;\n\
         ALTER TABLE orders MODIFY note VARCHAR(50) NOT NULL;",
    );
    let started = Instant::now();
    let out = zerodown()
        .args([
            "apply",
            &m.path().to_string_lossy(),
            "--database-url",
            &db.url(),
            "--batch-target-ms",
            "20",
        ])
        .output()
        .expect("run");
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::new();
    for h in clients {
        logs.push(h.await.expect("client"));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // The plan split the ALTER: the instant column apart from the index build.
    assert!(
        stderr.contains("(instant)") && stderr.contains("index build"),
        "{stderr}"
    );
    // The report names what each ALTER asked for, and counts every row backfilled.
    for asked in ["INSTANT LOCK=NONE", "NOCOPY LOCK=NONE", "INPLACE LOCK=NONE"] {
        assert!(
            stderr.contains(&format!("  {asked}  ")),
            "{asked}: {stderr}"
        );
    }
    let backfilled = stderr
        .split("rows backfilled: ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse::<u64>().ok());
    assert!(
        backfilled.is_some_and(|n| n >= 200_000),
        "rows backfilled ({backfilled:?}): {stderr}"
    );
    let errors: Vec<&String> = logs.iter().flat_map(|l| &l.errors).collect();
    assert!(errors.is_empty(), "client errors: {errors:?}");
    let worst = logs.iter().map(|l| l.worst).max().unwrap_or_default();
    let ops: u64 = logs.iter().map(|l| l.ops).sum();
    eprintln!("migration {took:?}, {ops} client operations, worst client latency {worst:?}");
    // lock_wait_timeout is 1 s: a client queued behind a waiting DDL waits no longer.
    assert!(
        worst < Duration::from_millis(1500),
        "worst client latency {worst:?}"
    );
    assert!(ops > 1000, "the clients ran ({ops} operations)");
    // No write lost: every note a client last wrote is there.
    let notes: Vec<(u64, String)> = c.query("SELECT id, note FROM orders").await.expect("notes");
    let notes: HashMap<u64, String> = notes.into_iter().collect();
    for log in &logs {
        for (id, note) in &log.notes {
            assert_eq!(notes.get(id), Some(note), "row {id}");
        }
    }
    let inserted: u64 = logs.iter().map(|l| l.inserted).sum();
    assert_eq!(notes.len() as u64, ROWS + inserted);
    // Every row that existed when the backfill began has its value; rows inserted later
    // by clients that do not know the column have the default or the value.
    let wrong: Option<u64> = c
        .query_first(format!(
            "SELECT COUNT(*) FROM orders WHERE NOT (total = customer_id * 2 + 1 OR (id > {ROWS} AND total = 0))"
        ))
        .await
        .expect("check");
    assert_eq!(wrong, Some(0));
    let nullable: Option<String> = c
        .query_first("SELECT IS_NULLABLE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'orders' AND COLUMN_NAME = 'note'")
        .await
        .expect("column");
    assert_eq!(nullable.as_deref(), Some("NO"));
    let status: Option<String> = c
        .exec_first(
            "SELECT status FROM `_zerodown`.migrations WHERE db = ?",
            (db.name.clone(),),
        )
        .await
        .expect("state");
    assert_eq!(status.as_deref(), Some("completed"));
    drop(c);
    db.drop().await;
}
