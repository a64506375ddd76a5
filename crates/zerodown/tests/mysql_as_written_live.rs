//! What zerodown sends to MariaDB is what the user wrote: each migration is applied by
//! zerodown to one database and run as written on a twin, and the server must end with
//! the same table (its `SHOW CREATE TABLE` and its rows) in both. The cases are the
//! ones where a re-printed statement loses a level of escaping: backslashes, doubled
//! quotes, backquotes in names, a comment that hides commas, `--` comments inside an
//! ALTER (also `--` then a TAB, a comment to the server), and the same in CREATE INDEX and UPDATE backfills. (The online rebuild sends
//! the plan's ALTER text to its shadow: the shared server has no binary log for it, so
//! the planner's own tests show that text is the user's.)

mod common;

use common::{plan_and_apply, request};
use mysql_async::prelude::Queryable;
use zerodown::exec::events::Collect;
use zerodown::RunOptions;
use zerodown_testkit::MyTestDatabase;

const SCHEMA: &str =
    "CREATE TABLE t (id INT NOT NULL PRIMARY KEY, name VARCHAR(40) NOT NULL, secret VARCHAR(40));
     INSERT INTO t SELECT seq, CONCAT('n', seq), CONCAT('s', seq) FROM seq_1_to_500;
     ANALYZE TABLE t;";

/// The table as the server has it: its definition and a checksum of its rows.
async fn table_state(c: &mut mysql_async::Conn) -> (String, Option<u64>) {
    let (_, create): (String, String) = c
        .query_first("SHOW CREATE TABLE t")
        .await
        .expect("show create")
        .expect("table t");
    let sum: Option<(String, Option<u64>)> = c
        .query_first("CHECKSUM TABLE t EXTENDED")
        .await
        .expect("checksum");
    (create, sum.and_then(|(_, s)| s))
}

/// Applies `sql` with zerodown on one database and as written on a twin; returns the
/// two tables' states, or zerodown's error.
async fn zerodown_and_as_written(sql: &str) -> Result<[(String, Option<u64>); 2], String> {
    let (ours, twin) = (
        MyTestDatabase::create("aswritten").await,
        MyTestDatabase::create("twin").await,
    );
    let (mut c, mut w) = (ours.connect().await, twin.connect().await);
    c.query_drop(SCHEMA).await.expect("schema");
    w.query_drop(SCHEMA).await.expect("twin schema");
    w.query_drop(sql)
        .await
        .expect("the migration runs as written");
    let result = async {
        let planned = zerodown::plan(request(&ours.url(), sql))
            .await
            .map_err(|e| format!("plan: {e}"))?;
        let opts = RunOptions::default();
        zerodown::apply(&planned, &opts, &mut Collect::default(), &mut |_: &str| {})
            .await
            .map_err(|e| format!("apply: {e}\n{}", planned.text()))?;
        Ok([table_state(&mut c).await, table_state(&mut w).await])
    }
    .await;
    drop((c, w));
    ours.drop().await;
    twin.drop().await;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_ends_with_the_same_table_as_the_statement_as_written() {
    let cases = [
        // Backslash escapes in a default (re-printed, `\t` and `\n` became a TAB and a LF).
        r"ALTER TABLE t ADD COLUMN path VARCHAR(40) NOT NULL DEFAULT 'C:\\temp\\new';",
        // A doubled quote in a default.
        "ALTER TABLE t ADD COLUMN who VARCHAR(40) DEFAULT 'O''Brien';",
        // A comment whose doubled quotes hide commas: one operation, no DROP COLUMN.
        "ALTER TABLE t ADD COLUMN c INT COMMENT 'x'', DROP COLUMN secret, ADD COLUMN d INT COMMENT ''';",
        // A backquote inside a column name.
        "ALTER TABLE t ADD COLUMN `we``ird` INT;",
        // A `--` comment (with a comma) ending an operation's line.
        "ALTER TABLE t ADD COLUMN e INT -- e, then f\n, ADD COLUMN f INT;",
        // `--` then a TAB is a comment to the server: the DROP COLUMN is not run.
        "ALTER TABLE t ADD COLUMN h INT --\tthen, DROP COLUMN secret\n;",
        // CREATE INDEX with an escaped comment.
        r"CREATE INDEX t_name ON t (name) COMMENT 'a\\b ''c''';",
        // An UPDATE backfill with escapes in its values and its filter.
        r"UPDATE t SET name = CONCAT(name, '\\x''') WHERE name <> 'it''s\\';",
        // An in-place rebuild and an instant column in one statement.
        r"ALTER TABLE t ADD COLUMN g VARCHAR(10) DEFAULT 'q\\r', FORCE;",
    ];
    let mut failures = Vec::new();
    for sql in cases {
        match zerodown_and_as_written(sql).await {
            Ok([ours, twin]) if ours == twin => {}
            Ok([ours, twin]) => failures.push(format!(
                "{sql}\n  zerodown: {ours:?}\n  as written: {twin:?}"
            )),
            Err(e) => failures.push(format!("{sql}\n  {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// With NO_BACKSLASH_ESCAPES or ANSI_QUOTES the server reads quotes differently from
/// zerodown (`'a\'; DROP TABLE t2; -- '` is one string to zerodown, a DROP to such a
/// server): planning against it is refused, naming the setting, before anything runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_reads_quotes_differently_is_refused() {
    let server = zerodown_mysql::server::Server::start(&["--sql-mode=NO_BACKSLASH_ESCAPES"])
        .expect("throwaway MariaDB");
    let mut c = mysql_async::Conn::from_url(server.url("mysql"))
        .await
        .expect("admin");
    c.query_drop(
        "CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY, name VARCHAR(20));
         CREATE TABLE app.t2 (id INT PRIMARY KEY); INSERT INTO app.t VALUES (1, 'a');",
    )
    .await
    .expect("schema");
    let refused = zerodown::plan(request(
        &server.url("app"),
        "UPDATE t SET name = 'a\\'; DROP TABLE t2; -- ';",
    ))
    .await
    .expect_err("refused");
    let tables: Vec<String> = c
        .query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'app' ORDER BY 1")
        .await
        .expect("tables");
    assert!(
        matches!(refused, zerodown::Error::Input(_)),
        "bad input, not a database failure: {refused:?}"
    );
    assert!(
        refused.to_string().contains("NO_BACKSLASH_ESCAPES"),
        "{refused}"
    );
    assert_eq!(tables, ["t", "t2"]);
}

/// A backfill walks the table by its key: keys that are not text (bytes that are not
/// UTF-8, here) must be carried from one batch to the next as they are, or rows are
/// skipped (before, about half of them were never updated, and apply said done).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_by_a_binary_key_updates_every_row() {
    let db = MyTestDatabase::create("binkey").await;
    let mut c = db.connect().await;
    c.query_drop(
        "CREATE TABLE t (k VARBINARY(16) NOT NULL PRIMARY KEY, v INT);
         INSERT INTO t (k) SELECT UNHEX(MD5(seq)) FROM seq_1_to_5000;
         ANALYZE TABLE t;",
    )
    .await
    .expect("schema");
    let ran = plan_and_apply(&db.url(), "UPDATE t SET v = 1;").await;
    let left: Option<u64> = c
        .query_first("SELECT COUNT(*) FROM t WHERE v IS NULL")
        .await
        .expect("count");
    drop(c);
    db.drop().await;
    ran.expect("apply");
    assert_eq!(left, Some(0), "rows the backfill never reached");
}

/// A session whose statement text is not UTF-8 (a client in another character set, a
/// binary literal): planning reads it among the open transactions, and must not panic
/// on it. (MariaDB 10.11 shows such bytes in PROCESSLIST.INFO as `?`; the reads take
/// bytes and convert them lossily whatever the server sends.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_running_non_utf8_text_is_read_without_panic() {
    let db = MyTestDatabase::create("nonutf8").await;
    let mut c = db.connect().await;
    c.query_drop("CREATE TABLE t (id INT PRIMARY KEY, v INT); INSERT INTO t VALUES (1, 1);")
        .await
        .expect("schema");
    let mut holder = db.connect().await;
    holder
        .query_drop("SET NAMES binary; BEGIN; SELECT * FROM t;")
        .await
        .expect("open transaction");
    let mut sql = b"SELECT SLEEP(3), '".to_vec();
    sql.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    sql.extend_from_slice(b"'");
    let running = tokio::spawn(async move {
        let r = holder.query_drop(sql.as_slice()).await;
        (holder, r)
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let planned = zerodown::plan(request(&db.url(), "ALTER TABLE t ADD COLUMN c INT;")).await;
    let (holder, _) = running.await.expect("join");
    drop((c, holder));
    db.drop().await;
    let planned = planned.expect("planned");
    assert!(
        planned.text().contains("ADD COLUMN c"),
        "{}",
        planned.text()
    );
}

/// A table whose name holds a dot or a backquote is its own table, not `db`.`table`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_dots_and_backquotes_reach_their_own_table() {
    let db = MyTestDatabase::create("dotnames").await;
    let mut c = db.connect().await;
    c.query_drop(
        "CREATE TABLE `a.b` (id INT NOT NULL PRIMARY KEY, v INT);
         INSERT INTO `a.b` SELECT seq, NULL FROM seq_1_to_3000;
         CREATE TABLE `we``ird` (id INT NOT NULL PRIMARY KEY, v INT);
         INSERT INTO `we``ird` SELECT seq, NULL FROM seq_1_to_3000;
         ANALYZE TABLE `a.b`, `we``ird`;",
    )
    .await
    .expect("schema");
    let sql =
        "ALTER TABLE `a.b` ADD COLUMN c INT;\nUPDATE `a.b` SET v = 1;\nUPDATE `we``ird` SET v = 2;";
    let result = plan_and_apply(&db.url(), sql)
        .await
        .map_err(|e| e.to_string());
    let done: Option<(u64, u64)> = c
        .query_first("SELECT (SELECT COUNT(*) FROM `a.b` WHERE v = 1), (SELECT COUNT(*) FROM `we``ird` WHERE v = 2)")
        .await
        .expect("counts");
    drop(c);
    db.drop().await;
    result.expect("planned and applied");
    assert_eq!(done, Some((3000, 3000)));
}
