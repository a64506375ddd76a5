//! Helpers shared by the binary's live tests.
#![allow(dead_code)] // each test file uses a part

use std::process::Command;

/// The `zerodown` binary, never picking up the developer's DATABASE_URL.
pub fn zerodown() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zerodown"));
    c.env_remove("DATABASE_URL");
    c
}

/// A migration file with `sql` (removed when dropped).
pub fn migration(sql: &str) -> tempfile::NamedTempFile {
    let f = tempfile::Builder::new()
        .suffix(".sql")
        .tempfile()
        .expect("tmp");
    std::fs::write(f.path(), sql).expect("write");
    f
}

/// `zerodown apply` of `sql` on `url`, which must succeed with the online rebuild; its
/// stderr.
#[allow(dead_code)] // not every test binary uses it
pub fn applied_online(sql: &str, url: &str) -> String {
    let m = migration(sql);
    let out = zerodown()
        .args(["apply", &m.path().to_string_lossy(), "--database-url", url])
        .output()
        .expect("apply");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("online rebuild"),
        "rebuilt online: {stderr}"
    );
    stderr
}

/// The URL of synthetic clients whose waits should be the locks' alone: their commits
/// do not wait for the WAL flush (on a shared machine's disk one can take hundreds of
/// ms: 238 ms at the worst in 3 runs of the blocker test while 6 GB were written).
pub fn client_url(db: &zerodown_testkit::TestDatabase) -> String {
    format!("{}?options=-c%20synchronous_commit%3Doff", db.url())
}

/// A session that read `t` inside a transaction and sits idle: its ACCESS SHARE lock
/// blocks the ACCESS EXCLUSIVE of DDL on `t`. Returns the session and its pid.
pub async fn idle_reader(db: &zerodown_testkit::TestDatabase) -> (tokio_postgres::Client, i32) {
    let holder = db.connect().await;
    holder
        .batch_execute("BEGIN; SELECT count(*) FROM t;")
        .await
        .expect("hold");
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    (holder, pid)
}

/// Waits for `child` to exit until `deadline`; kills it past the deadline (None).
pub async fn exit_by(
    child: &mut std::process::Child,
    deadline: std::time::Instant,
) -> Option<std::process::ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// What a direct `ALTER TABLE` would make of `table`: SHOW CREATE TABLE of a copy made
/// with CREATE TABLE … LIKE and `alter` (e.g. `MODIFY qty BIGINT NOT NULL`), named as
/// `table`. The copy is dropped.
pub async fn mysql_altered_definition(
    c: &mut mysql_async::Conn,
    table: &str,
    alter: &str,
) -> String {
    use mysql_async::prelude::Queryable;
    let copy = format!("{table}_reference");
    c.query_drop(format!(
        "CREATE TABLE `{copy}` LIKE `{table}`; ALTER TABLE `{copy}` {alter}"
    ))
    .await
    .expect("reference table");
    let made = mysql_definition(c, &copy).await.replacen(&copy, table, 1);
    c.query_drop(format!("DROP TABLE `{copy}`"))
        .await
        .expect("drop reference");
    made
}

/// SHOW CREATE TABLE's text for `table`.
pub async fn mysql_definition(c: &mut mysql_async::Conn, table: &str) -> String {
    use mysql_async::prelude::Queryable;
    let row: Option<(String, String)> = c
        .query_first(format!("SHOW CREATE TABLE `{table}`"))
        .await
        .expect("show create table");
    row.expect("table exists").1
}

/// Rows the steps of the migrations in `_zerodown` have copied or backfilled so far
/// (0 before the state tables exist).
pub async fn mysql_rows_copied(c: &mut mysql_async::Conn) -> u64 {
    use mysql_async::prelude::Queryable;
    c.query_first::<Option<u64>, _>(
        "SELECT CAST(SUM(rows_done) AS UNSIGNED) FROM `_zerodown`.steps",
    )
    .await
    .ok()
    .flatten()
    .flatten()
    .unwrap_or(0)
}

/// Runs `zerodown <args> --database-url <url>`: its exit code and what it said on stderr.
pub fn control(args: &[&str], url: &str) -> (Option<i32>, String) {
    let out = zerodown()
        .args(args)
        .args(["--database-url", url])
        .output()
        .expect("zerodown control command");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The tables of the database `app`, by name.
pub async fn app_tables(c: &mut mysql_async::Conn) -> Vec<String> {
    use mysql_async::prelude::Queryable;
    c.query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'app' ORDER BY TABLE_NAME")
        .await
        .expect("tables")
}

/// The type of `app.t`'s column `qty` (`int`, `bigint`), None when there is none.
pub async fn mysql_qty_type(c: &mut mysql_async::Conn) -> Option<String> {
    use mysql_async::prelude::Queryable;
    c.query_first("SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 't' AND COLUMN_NAME = 'qty'")
        .await
        .expect("type")
}

/// On a throwaway server: the database `app` with `t (id INT PRIMARY KEY, qty INT)`, rows
/// 1..=`rows` with qty = id; returns an admin connection (in `app`).
pub async fn mysql_app_t(server: &zerodown_mysql::server::Server, rows: u64) -> mysql_async::Conn {
    use mysql_async::prelude::Queryable;
    let mut c = mysql_async::Conn::from_url(server.url("mysql"))
        .await
        .expect("admin");
    c.query_drop(format!(
        "CREATE DATABASE app; USE app;
         CREATE TABLE t (id INT NOT NULL PRIMARY KEY, qty INT NOT NULL);
         INSERT INTO t SELECT seq, seq FROM seq_1_to_{rows};"
    ))
    .await
    .expect("table");
    c
}

/// Runs a command; its exit code and its stdout followed by its stderr.
pub fn run(cmd: &mut Command) -> (Option<i32>, String) {
    let out = cmd.output().expect("run");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// `zerodown apply <dir> --database-url <url> --yes <extra>`: its exit code and output.
pub fn apply_dir(dir: &std::path::Path, url: &str, extra: &[&str]) -> (Option<i32>, String) {
    run(zerodown()
        .arg("apply")
        .arg(dir)
        .args(["--database-url", url, "--yes"])
        .args(extra))
}
