//! The online rebuild's lifecycle on a throwaway MariaDB with a row binary log: `kill -9`
//! in the middle of the copy then `resume` (changes made while nothing ran are still
//! caught from the binary log); `--postpone-cutover` waits for `zerodown cutover`;
//! `abort` before the cut-over leaves the table as it was; triggers are refused (planned
//! as a blocking copy apply will not run unasked, and refused by a resumed rebuild).

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{
    app_tables, control, migration, mysql_altered_definition, mysql_definition, mysql_qty_type,
    mysql_rows_copied, zerodown,
};
use mysql_async::prelude::Queryable;
use zerodown_mysql::server::Server;

async fn table(server: &Server, rows: u64) -> mysql_async::Conn {
    let mut c = mysql_async::Conn::from_url(server.url("mysql"))
        .await
        .expect("admin");
    c.query_drop(format!(
        "CREATE DATABASE app; USE app;
         CREATE TABLE t (id INT NOT NULL PRIMARY KEY, qty INT NOT NULL, note VARCHAR(20),
           UNIQUE KEY note_id (note, id), KEY by_qty (qty));
         INSERT INTO t SELECT seq, seq, 'start' FROM seq_1_to_{rows};"
    ))
    .await
    .expect("table");
    c
}

/// `zerodown apply --postpone-cutover` of `sql` in the background (the migration file
/// is returned to live as long as the run).
fn apply_postponed(sql: &str, url: &str) -> (std::process::Child, tempfile::NamedTempFile) {
    let m = migration(sql);
    let child = zerodown()
        .args(["apply", &m.path().to_string_lossy(), "--database-url", url])
        .arg("--postpone-cutover")
        .stderr(Stdio::piped())
        .spawn()
        .expect("apply");
    (child, m)
}

/// Waits until `rows` are copied, then 2 s more: the copy and the checksums are done and
/// the run waits for its cut-over.
async fn wait_for_the_copy(c: &mut mysql_async::Conn, rows: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while mysql_rows_copied(c).await < rows {
        assert!(Instant::now() < deadline, "the copy did not finish");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
}

/// `zerodown cutover`, then the postponed apply must end, both successfully.
async fn release_the_cutover(url: &str, child: std::process::Child) {
    let out = zerodown()
        .args(["cutover", "--database-url", url])
        .output()
        .expect("cutover");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .expect("apply ends after the cutover")
    .expect("join")
    .expect("output");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_the_copy_then_resume() {
    const ROWS: u64 = 400_000;
    let server = Server::start(&[]).expect("throwaway MariaDB");
    let mut c = table(&server, ROWS).await;
    let url = server.url("app");
    let expected_definition =
        mysql_altered_definition(&mut c, "t", "MODIFY qty BIGINT NOT NULL").await;
    let m = migration("ALTER TABLE t MODIFY qty BIGINT NOT NULL;");
    let log = tempfile::NamedTempFile::new().expect("log");
    let mut child = zerodown()
        .args(["apply", &m.path().to_string_lossy(), "--database-url", &url])
        .stderr(Stdio::from(log.reopen().expect("log file")))
        .spawn()
        .expect("apply");
    let deadline = Instant::now() + Duration::from_secs(60);
    while mysql_rows_copied(&mut c).await < 60_000 {
        let ended = child.try_wait().expect("wait");
        assert!(
            Instant::now() < deadline && ended.is_none(),
            "the copy did not get going (apply {ended:?}): {}",
            std::fs::read_to_string(log.path()).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    let at_kill = mysql_rows_copied(&mut c).await;
    // The plain index waits for the end of the copy; the unique one is there from the start.
    let shadow_indexes: Vec<String> = c
        .query("SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 't_zdnew' ORDER BY 1")
        .await
        .expect("shadow indexes");
    assert_eq!(shadow_indexes, ["note_id", "PRIMARY"]);
    assert!(
        at_kill < ROWS,
        "killed during the copy ({at_kill} rows copied)"
    );
    // Changes while nothing runs: in rows already copied and not yet copied.
    c.query_drop(
        "UPDATE t SET qty = -1 WHERE id IN (1, 2, 399999);
         DELETE FROM t WHERE id = 3;
         INSERT INTO t VALUES (400001, 7, 'new');",
    )
    .await
    .expect("changes");
    // The shadow changed behind the rebuild's back (the binary log reader follows only
    // `t`): only the checksums can find these, and the differing ranges are copied again.
    c.query_drop(
        "UPDATE t_zdnew SET qty = 12345 WHERE id = 10; DELETE FROM t_zdnew WHERE id = 20011;",
    )
    .await
    .expect("shadow changes");
    // Rows past the checkpoint, as two chunks copied at once leave them when the run dies
    // after their commits and before the checkpoint moves: copied again, never twice.
    c.query_drop(
        "INSERT INTO t_zdnew SELECT * FROM t WHERE id > (SELECT JSON_VALUE(data, '$.copied_to[0]')
           FROM `_zerodown`.steps WHERE JSON_VALUE(data, '$.copied_to[0]') IS NOT NULL) ORDER BY id LIMIT 1000",
    )
    .await
    .expect("rows past the checkpoint");
    assert_eq!(c.affected_rows(), 1000, "rows put past the checkpoint");
    let (code, said) = control(&["resume"], &url);
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(mysql_qty_type(&mut c).await.as_deref(), Some("bigint"));
    assert_eq!(mysql_definition(&mut c, "t").await, expected_definition);
    let wrong: Option<u64> = c
        .query_first(
            "SELECT COUNT(*) FROM t WHERE NOT (qty = id OR (id IN (1, 2, 399999) AND qty = -1) OR (id = 400001 AND qty = 7))",
        )
        .await
        .expect("check");
    assert_eq!(wrong, Some(0));
    let count: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM t")
        .await
        .expect("count");
    assert_eq!(count, Some(ROWS), "one row deleted, one inserted");
    let gone: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM t WHERE id = 3")
        .await
        .expect("3");
    assert_eq!(gone, Some(0));
    // The copy went on from its checkpoint rather than starting again.
    let total = mysql_rows_copied(&mut c).await;
    assert!(
        total < ROWS + 50_000,
        "rows copied over both runs: {total} (at kill {at_kill})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postponed_cutover_waits_for_the_command_and_abort_leaves_the_table() {
    let server = Server::start(&[]).expect("throwaway MariaDB");
    let mut c = table(&server, 20_000).await;
    let url = server.url("app");
    let (child, _m) = apply_postponed("ALTER TABLE t MODIFY qty BIGINT NOT NULL;", &url);
    // Copied and in sync, but not swapped: the table is still INT while apply waits.
    wait_for_the_copy(&mut c, 20_000).await;
    assert_eq!(mysql_qty_type(&mut c).await.as_deref(), Some("int"));
    // A change made while it waits is carried over.
    c.query_drop("UPDATE t SET qty = -5 WHERE id = 10")
        .await
        .expect("update");
    release_the_cutover(&url, child).await;
    assert_eq!(mysql_qty_type(&mut c).await.as_deref(), Some("bigint"));
    let v: Option<i64> = c
        .query_first("SELECT qty FROM t WHERE id = 10")
        .await
        .expect("row");
    assert_eq!(v, Some(-5));

    // Abort while the cut-over waits: the shadow goes, the table stays as it was.
    c.query_drop("DROP TABLE t_zdold; ALTER TABLE t MODIFY qty INT NOT NULL")
        .await
        .expect("reset");
    // latin1 (the throwaway server's default): 20 -> 300 bytes crosses 255, a copy.
    let (mut child, _m2) = apply_postponed("ALTER TABLE t MODIFY note VARCHAR(300);", &url);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!("the second apply ended early ({status}): {err}");
        }
        let shadow: Option<u64> = c
            .query_first("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 't_zdnew'")
            .await
            .expect("shadow");
        if shadow == Some(1) && mysql_rows_copied(&mut c).await >= 40_000 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the second rebuild did not get going"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, said) = control(&["abort"], &url);
    assert_eq!(
        code,
        Some(5),
        "a running migration is asked to stop: {said}"
    );
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("output");
    assert_ne!(out.status.code(), Some(0), "the run stopped");
    let (code, said) = control(&["abort"], &url);
    assert_eq!(code, Some(0), "{said}");
    let tables = app_tables(&mut c).await;
    assert_eq!(tables, vec!["t"], "no leftovers");
    let len: Option<u64> = c
        .query_first("SELECT CHARACTER_MAXIMUM_LENGTH FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 't' AND COLUMN_NAME = 'note'")
        .await
        .expect("len");
    assert_eq!(len, Some(20), "the table is as it was");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_with_triggers_is_refused_before_anything_changes() {
    let server = Server::start(&[]).expect("throwaway MariaDB");
    let mut c = table(&server, 100_000).await;
    let m = migration("ALTER TABLE t MODIFY qty BIGINT NOT NULL;");
    let path = m.path().to_string_lossy().to_string();
    let url = server.url("app");
    let trigger = "CREATE TRIGGER t_audit BEFORE UPDATE ON t FOR EACH ROW SET NEW.note = 'changed'";
    // A trigger added while a rebuild is under way: the resumed rebuild refuses.
    let mut child = zerodown()
        .args(["apply", &path, "--database-url", &url, "--postpone-cutover"])
        .stderr(Stdio::null())
        .spawn()
        .expect("apply");
    let deadline = Instant::now() + Duration::from_secs(60);
    while mysql_rows_copied(&mut c).await == 0 {
        assert!(Instant::now() < deadline, "the copy did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().expect("kill -9");
    child.wait().expect("reaped");
    c.query_drop(trigger).await.expect("trigger");
    let (code, said) = control(&["resume"], &url);
    assert_eq!(code, Some(6), "{said}");
    assert!(said.contains("has triggers"), "{said}");
    let (code, said) = control(&["abort"], &url);
    assert_eq!(code, Some(0), "{said}");
    // Planned with the trigger there: a blocking copy that apply will not run unasked.
    let other = migration("ALTER TABLE t MODIFY qty BIGINT NOT NULL; -- again");
    let out = zerodown()
        .args([
            "apply",
            &other.path().to_string_lossy(),
            "--database-url",
            &url,
        ])
        .output()
        .expect("apply");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("block traffic"), "{stderr}");
    let plan = zerodown()
        .args([
            "plan",
            &other.path().to_string_lossy(),
            "--database-url",
            &url,
        ])
        .output()
        .expect("plan");
    let text = String::from_utf8_lossy(&plan.stdout);
    assert!(text.contains("triggers (t_audit)"), "{text}");
    let tables = app_tables(&mut c).await;
    assert_eq!(tables, vec!["t"]);
    assert_eq!(mysql_qty_type(&mut c).await.as_deref(), Some("int"));
}

/// An INT UNSIGNED key above 2^31: MariaDB's row events do not say a column is unsigned
/// (binlog_row_metadata is off by default), so the reader must not take such a key for a
/// negative number. A change made while the cut-over is postponed (after the checksums)
/// reaches the new table only through the binary log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_keys_above_the_signed_range_are_followed() {
    let server = Server::start(&[]).expect("throwaway MariaDB");
    let mut c = mysql_async::Conn::from_url(server.url("mysql"))
        .await
        .expect("admin");
    c.query_drop(
        "CREATE DATABASE app; USE app;
         CREATE TABLE t (id INT UNSIGNED NOT NULL PRIMARY KEY, qty INT NOT NULL);
         INSERT INTO t SELECT 3000000000 + seq, seq FROM seq_1_to_20000;",
    )
    .await
    .expect("table");
    let url = server.url("app");
    let (child, _m) = apply_postponed("ALTER TABLE t MODIFY qty BIGINT NOT NULL;", &url);
    wait_for_the_copy(&mut c, 20_000).await;
    c.query_drop(
        "UPDATE t SET qty = -5 WHERE id = 3000000010; DELETE FROM t WHERE id = 3000019999",
    )
    .await
    .expect("changes");
    release_the_cutover(&url, child).await;
    assert_eq!(mysql_qty_type(&mut c).await.as_deref(), Some("bigint"));
    let changed: Vec<(u64, i64)> = c
        .query("SELECT id, qty FROM t WHERE id IN (3000000010, 3000019999)")
        .await
        .expect("rows");
    assert_eq!(
        changed,
        vec![(3_000_000_010, -5)],
        "the update and the delete carried over"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_and_latin1_keys_are_refused_before_anything_changes() {
    let server = Server::start(&[]).expect("throwaway MariaDB");
    let mut c = mysql_async::Conn::from_url(server.url("mysql"))
        .await
        .expect("admin");
    // A BINARY(16) key ended the copy after its first chunk (its keys read as text); a
    // latin1 'é' key failed the re-copy of changed rows. (A rebuild resumed after such a
    // key appeared refuses too, before anything changes: rebuild/checks.rs.)
    c.query_drop(
        "CREATE DATABASE app; USE app;
         CREATE TABLE b (id BINARY(16) NOT NULL PRIMARY KEY, qty INT NOT NULL);
         INSERT INTO b SELECT UNHEX(MD5(seq)), seq FROM seq_1_to_1000;
         CREATE TABLE l (name VARCHAR(20) CHARACTER SET latin1 NOT NULL PRIMARY KEY, qty INT NOT NULL);
         INSERT INTO l SELECT CONCAT(_latin1 0xE9, seq), seq FROM seq_1_to_1000;",
    )
    .await
    .expect("tables");
    let url = server.url("app");
    for (table, column) in [("b", "id"), ("l", "name")] {
        // The plan knows from the catalog: it keeps the blocking copy and says why.
        let m = migration(&format!("ALTER TABLE {table} MODIFY qty BIGINT NOT NULL;"));
        let plan = zerodown()
            .args(["plan", &m.path().to_string_lossy(), "--database-url", &url])
            .output()
            .expect("plan");
        let text = String::from_utf8_lossy(&plan.stdout);
        assert!(
            text.contains(&format!("its primary key column {column} ("))
                && text.contains("cannot be followed"),
            "{text}"
        );
        // apply will not run that copy unasked.
        let out = zerodown()
            .args(["apply", &m.path().to_string_lossy(), "--database-url", &url])
            .output()
            .expect("apply");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(5), "{stderr}");
        assert!(stderr.contains("block traffic"), "{stderr}");
        let tables = app_tables(&mut c).await;
        assert_eq!(tables, ["b", "l"], "no shadow made");
    }
    let types: Vec<String> = c
        .query("SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'app' AND COLUMN_NAME = 'qty'")
        .await
        .expect("types");
    assert_eq!(types, ["int", "int"], "both tables as they were");
}

/// Keys of temporal, decimal and composite types: the binary log reader turns their
/// values into text that must name the same rows in SQL (a key it misread would be taken
/// for a deleted row, and a change made after the checksums would be lost unseen). The
/// changes are made while the cut-over is postponed, so they reach the new table only
/// through the binary log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporal_decimal_and_composite_keys_are_followed() {
    let server = Server::start(&[]).expect("throwaway MariaDB");
    let mut c = mysql_async::Conn::from_url(server.url("mysql"))
        .await
        .expect("admin");
    c.query_drop("CREATE DATABASE app").await.expect("db");
    let url = server.url("app");
    // Name, key columns, their values from `seq`.
    let cases = [
        (
            "at_time",
            "k DATETIME(6) NOT NULL, PRIMARY KEY (k)",
            "TIMESTAMPADD(MICROSECOND, seq * 1000001, '2024-01-01')",
        ),
        (
            "at_price",
            "k DECIMAL(12,2) NOT NULL, PRIMARY KEY (k)",
            "seq + 0.25",
        ),
        (
            "at_day",
            "d DATE NOT NULL, n INT NOT NULL, PRIMARY KEY (d, n)",
            "DATE '2024-01-01' + INTERVAL (seq DIV 100) DAY, seq",
        ),
    ];
    for (table, key, values) in cases {
        c.query_drop(format!(
            "USE app;
             CREATE TABLE {table} ({key}, seq INT NOT NULL, qty INT NOT NULL);
             INSERT INTO {table} SELECT {values}, seq, seq FROM seq_1_to_20000;"
        ))
        .await
        .expect("table");
        let (child, _m) = apply_postponed(
            &format!("ALTER TABLE {table} MODIFY qty BIGINT NOT NULL;"),
            &url,
        );
        wait_for_the_copy(&mut c, 20_000).await;
        c.query_drop(format!(
            "UPDATE app.{table} SET qty = -5 WHERE seq = 10; DELETE FROM app.{table} WHERE seq = 19999"
        ))
        .await
        .expect("changes");
        release_the_cutover(&url, child).await;
        let changed: Vec<(i32, i64)> = c
            .query(format!(
                "SELECT seq, qty FROM app.{table} WHERE seq IN (10, 19999) OR qty <> seq ORDER BY seq"
            ))
            .await
            .expect("rows");
        assert_eq!(
            changed,
            vec![(10, -5)],
            "{table}: the update and the delete carried over"
        );
        let count: Option<u64> = c
            .query_first(format!("SELECT COUNT(*) FROM app.{table}"))
            .await
            .expect("count");
        assert_eq!(count, Some(19_999), "{table}");
        c.query_drop(format!("DROP TABLE app.{table}_zdold"))
            .await
            .expect("old table");
    }
}
