//! The online rebuild on a throwaway MariaDB with a row binary log: INT -> BIGINT (which
//! MariaDB can only COPY, blocking writes) on a 200k-row table while four clients (two
//! through server-side prepared statements) update, insert and delete. No client error,
//! no write lost, the column is BIGINT, every row equals what the clients last wrote, and
//! no client waited longer than the lock-wait budget. The table's secondary indexes are
//! put off until after the copy; the new table's definition is what a direct ALTER
//! TABLE gives.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    app_tables, migration, mysql_altered_definition, mysql_definition, mysql_qty_type, zerodown,
};
use mysql_async::prelude::Queryable;
use zerodown_exec::RebuildPhase;
use zerodown_mysql::server::Server;

const ROWS: u64 = 200_000;
const CLIENTS: u64 = 4;

#[derive(Default)]
struct Log {
    /// Last value written per owned row; None: deleted.
    rows: HashMap<u64, Option<i64>>,
    worst: Duration,
    ops: u64,
    errors: Vec<String>,
}

/// Owns the rows with id % CLIENTS == me; updates, deletes and re-inserts them. With
/// `text_key` the key is sent as a string (the table's key is a VARCHAR of digits).
async fn client(
    url: String,
    me: u64,
    prepared: bool,
    text_key: bool,
    stop: Arc<AtomicBool>,
) -> Log {
    let mut log = Log::default();
    let mut c = mysql_async::Conn::from_url(url).await.expect("client");
    let mut n = 0i64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let id = fastrand::u64(0..ROWS / CLIENTS) * CLIENTS + me + 1;
        let value = n * 10 + me as i64;
        let gone = matches!(log.rows.get(&id), Some(None));
        let key: mysql_async::Value = if text_key {
            id.to_string().into()
        } else {
            id.into()
        };
        let (sql, params, outcome): (String, Vec<mysql_async::Value>, Option<i64>) = if gone {
            (
                "INSERT INTO t (id, qty, note) VALUES (?, ?, 'back')".into(),
                vec![key, value.into()],
                Some(value),
            )
        } else if n % 20 == 0 {
            ("DELETE FROM t WHERE id = ?".into(), vec![key], None)
        } else {
            (
                "UPDATE t SET qty = ? WHERE id = ?".into(),
                vec![value.into(), key],
                Some(value),
            )
        };
        let started = Instant::now();
        let result = if prepared {
            c.exec_drop(sql, params).await
        } else {
            let text = params
                .iter()
                .fold(sql, |s, p| s.replacen('?', &p.as_sql(false), 1));
            c.query_drop(text).await
        };
        log.worst = log.worst.max(started.elapsed());
        log.ops += 1;
        match result {
            Ok(()) => {
                log.rows.insert(id, outcome);
            }
            Err(e) => log.errors.push(e.to_string()),
        }
    }
    log
}

/// The CLIENTS, half of them through server-side prepared statements.
fn start_clients(
    url: &str,
    text_key: bool,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Log>> {
    (0..CLIENTS)
        .map(|me| {
            let prepared = me % 2 == 0;
            tokio::spawn(client(url.to_owned(), me, prepared, text_key, stop.clone()))
        })
        .collect()
}

/// Lets the clients run 300 ms more, stops them and returns what they did.
async fn stop_clients(stop: &AtomicBool, clients: Vec<tokio::task::JoinHandle<Log>>) -> Vec<Log> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::new();
    for h in clients {
        logs.push(h.await.expect("client"));
    }
    logs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn int_to_bigint_online_under_load() {
    let server = Server::start(&[]).expect("throwaway MariaDB with a binlog");
    let mut admin = mysql_async::Conn::from_url(server.url("mysql"))
        .await
        .expect("admin");
    admin
        .query_drop(format!(
            "CREATE DATABASE app; USE app;
             CREATE TABLE t (id INT NOT NULL PRIMARY KEY, qty INT NOT NULL, note VARCHAR(20),
               KEY by_qty (qty), KEY `by note` (note(4), qty) COMMENT 'reports, (monthly)');
             INSERT INTO t SELECT seq, seq, 'start' FROM seq_1_to_{ROWS};"
        ))
        .await
        .expect("table");
    let url = server.url("app");
    admin.query_drop("USE app").await.expect("use");
    let expected_definition =
        mysql_altered_definition(&mut admin, "t", "MODIFY qty BIGINT NOT NULL").await;
    let stop = Arc::new(AtomicBool::new(false));
    let clients = start_clients(&url, false, &stop);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let m = migration("ALTER TABLE t MODIFY qty BIGINT NOT NULL;");
    let plan = zerodown()
        .args([
            "plan",
            &m.path().to_string_lossy(),
            "--database-url",
            &url,
            "--format",
            "json",
        ])
        .output()
        .expect("plan");
    let doc: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("json");
    assert_eq!(
        doc["plan"]["phases"][0]["steps"][0]["kind"], "online_rebuild",
        "{doc}"
    );
    let started = Instant::now();
    let out = zerodown()
        .args(["apply", &m.path().to_string_lossy(), "--database-url", &url])
        .output()
        .expect("apply");
    let took = started.elapsed();
    let logs = stop_clients(&stop, clients).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // The run report's line for the step: step, lock, attempts, held ms, rows, what (the
    // rows the copy found: the clients delete some before it gets to them).
    let line = stderr
        .lines()
        .find(|l| l.contains("online rebuild of") && l.trim_start().starts_with('1'))
        .unwrap_or_default();
    assert!(
        line.contains("  cut-over only  "),
        "the step's lock: {line}"
    );
    let copied = line
        .split("online rebuild of")
        .next()
        .and_then(|columns| columns.split_whitespace().last())
        .and_then(|rows| rows.parse::<u64>().ok());
    assert!(
        copied.is_some_and(|n| n >= ROWS * 9 / 10),
        "the report counts the rows copied ({copied:?}): {stderr}"
    );
    // The rebuild says where it is: each phase once, in order.
    let phases: Vec<&str> = [
        RebuildPhase::Copy,
        RebuildPhase::CatchUp,
        RebuildPhase::Verify,
        RebuildPhase::Cutover,
    ]
    .iter()
    .map(|p| p.text())
    .collect();
    let said: Vec<&str> = stderr
        .lines()
        .filter_map(|l| phases.iter().find(|p| l.contains(*p)).copied())
        .collect();
    assert_eq!(said, phases, "{stderr}");
    let errors: Vec<&String> = logs.iter().flat_map(|l| &l.errors).collect();
    assert!(errors.is_empty(), "client errors: {errors:?}");
    let worst = logs.iter().map(|l| l.worst).max().unwrap_or_default();
    let ops: u64 = logs.iter().map(|l| l.ops).sum();
    eprintln!(
        "rebuild {took:?}, {ops} client operations during it, worst client latency {worst:?}"
    );
    assert!(
        worst < Duration::from_millis(1500),
        "worst client latency {worst:?}"
    );
    let mut c = mysql_async::Conn::from_url(url.clone())
        .await
        .expect("check");
    assert_eq!(mysql_qty_type(&mut c).await.as_deref(), Some("bigint"));
    let rows: Vec<(u64, i64)> = c.query("SELECT id, qty FROM t").await.expect("rows");
    let now: HashMap<u64, i64> = rows.into_iter().collect();
    let mut expected = ROWS as i64;
    let mut wrong = Vec::new();
    for log in &logs {
        for (id, v) in &log.rows {
            if now.get(id).copied() != *v {
                wrong.push((*id, *v, now.get(id).copied()));
            }
            if v.is_none() {
                expected -= 1;
            }
        }
    }
    let mut in_old = Vec::new();
    for (id, _, _) in &wrong {
        let v: Option<i64> = c
            .exec_first("SELECT qty FROM t_zdold WHERE id = ?", (id,))
            .await
            .expect("old");
        in_old.push(v);
    }
    assert!(wrong.is_empty(), "old table has {in_old:?}; {} rows differ from what the clients last wrote (id, want, got): {:?}", wrong.len(), &wrong[..wrong.len().min(10)]);
    assert_eq!(now.len() as i64, expected);
    // Untouched rows kept their values.
    let untouched_wrong = now
        .iter()
        .filter(|(id, qty)| !logs.iter().any(|l| l.rows.contains_key(id)) && **qty != **id as i64)
        .count();
    assert_eq!(untouched_wrong, 0);
    assert_eq!(mysql_definition(&mut c, "t").await, expected_definition);
    // No leftovers but the old table, kept until someone drops it.
    let tables = app_tables(&mut c).await;
    assert_eq!(tables, vec!["t", "t_zdold"]);
}

/// A VARCHAR key of digits: the copy goes in the key's string order ('1', '10', '100', …),
/// so a key that reads as a smaller number than the copy's mark ('2' after '10') is not
/// copied yet. Changes to such rows must not be treated as behind the copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn digit_string_key_online_under_load() {
    let server = Server::start(&[]).expect("throwaway MariaDB with a binlog");
    let mut admin = mysql_async::Conn::from_url(server.url("mysql"))
        .await
        .expect("admin");
    admin
        .query_drop(format!(
            "CREATE DATABASE app; USE app;
             CREATE TABLE t (id VARCHAR(12) CHARACTER SET utf8mb4 NOT NULL PRIMARY KEY, qty INT NOT NULL,
               note VARCHAR(20));
             INSERT INTO t SELECT seq, seq, 'start' FROM seq_1_to_{ROWS};"
        ))
        .await
        .expect("table");
    let url = server.url("app");
    let stop = Arc::new(AtomicBool::new(false));
    let clients = start_clients(&url, true, &stop);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let m = migration("ALTER TABLE t MODIFY qty BIGINT NOT NULL;");
    let out = zerodown()
        .args(["apply", &m.path().to_string_lossy(), "--database-url", &url])
        .output()
        .expect("apply");
    let logs = stop_clients(&stop, clients).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let errors: Vec<&String> = logs.iter().flat_map(|l| &l.errors).collect();
    assert!(errors.is_empty(), "client errors: {errors:?}");
    let mut c = mysql_async::Conn::from_url(url.clone())
        .await
        .expect("check");
    let rows: Vec<(String, i64)> = c.query("SELECT id, qty FROM t").await.expect("rows");
    let now: HashMap<u64, i64> = rows
        .into_iter()
        .map(|(id, qty)| (id.parse().expect("digits"), qty))
        .collect();
    let mut wrong = Vec::new();
    let mut deleted = 0;
    for log in &logs {
        for (id, v) in &log.rows {
            if now.get(id).copied() != *v {
                wrong.push((*id, *v, now.get(id).copied()));
            }
            deleted += usize::from(v.is_none());
        }
    }
    let ops: u64 = logs.iter().map(|l| l.ops).sum();
    eprintln!(
        "{ops} client operations during the rebuild, {} rows differ",
        wrong.len()
    );
    assert!(ops > 0);
    assert!(
        wrong.is_empty(),
        "rows differ from what the clients last wrote (id, want, got): {:?}",
        &wrong[..wrong.len().min(10)]
    );
    assert_eq!(now.len(), ROWS as usize - deleted);
}
