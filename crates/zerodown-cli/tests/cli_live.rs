//! The binary against the real PostgreSQL: live catalog, activity, unknown names.

use assert_cmd::Command;
use zerodown_testkit::{connect, TestSchema};

/// The test server as a URL, with a password the server (trust auth) ignores, so we
/// can check that it is never printed.
fn url() -> String {
    std::env::var("ZERODOWN_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres:hunter2@127.0.0.1:5432/test".to_owned())
}

fn zerodown() -> Command {
    let mut c = Command::cargo_bin("zerodown").expect("binary");
    c.env_remove("DATABASE_URL");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_plan_reads_sizes_and_names_lock_holders() {
    let c = connect().await;
    let schema = TestSchema::create(&c, "cli").await;
    let s = schema.name.clone();
    c.batch_execute(&format!(
        "CREATE TABLE \"{s}\".big (id int PRIMARY KEY, v text);
         INSERT INTO \"{s}\".big SELECT g, 'v' FROM generate_series(1, 50000) g;
         ANALYZE \"{s}\".big;"
    ))
    .await
    .expect("setup");
    // Another session reads the table inside an open transaction: an ALTER would queue.
    let holder = connect().await;
    holder
        .batch_execute(&format!("BEGIN; SELECT count(*) FROM \"{s}\".big;"))
        .await
        .expect("hold");
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);

    let sql = format!("ALTER TABLE \"{s}\".big ADD COLUMN t uuid DEFAULT gen_random_uuid();");
    let out = tokio::task::spawn_blocking(move || {
        zerodown()
            .args(["plan", "-", "--database-url", &url()])
            .write_stdin(sql)
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();

    holder.batch_execute("ROLLBACK").await.expect("release");
    schema.drop(&c).await;

    assert_eq!(out.status.code(), Some(3), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("live catalog of postgres://postgres:***@127.0.0.1"),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2"));
    assert!(
        stdout.contains("[lock-queue-risk]") && stdout.contains(&format!("pid {pid}")),
        "{stdout}"
    );
    assert!(
        stdout.contains("batches of 1000 rows by (id)"),
        "key read from the live catalog: {stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_table_or_column_on_a_live_database_is_bad_input() {
    let c = connect().await;
    let schema = TestSchema::create(&c, "cli").await;
    let s = schema.name.clone();
    c.batch_execute(&format!("CREATE TABLE \"{s}\".t (id int PRIMARY KEY);"))
        .await
        .expect("setup");
    let sql = format!(
        "ALTER TABLE \"{s}\".t ALTER COLUMN nope SET NOT NULL;\nALTER TABLE \"{s}\".missing ADD COLUMN x int;\n"
    );
    let out = tokio::task::spawn_blocking(move || {
        zerodown()
            .args(["plan", "-", "--database-url", &url()])
            .write_stdin(sql)
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    schema.drop(&c).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.contains("<stdin>:1:1: error: column nope does not exist"),
        "{stderr}"
    );
    assert!(
        stderr.contains("<stdin>:2:1: error: table") && stderr.contains("missing does not exist"),
        "{stderr}"
    );
}

/// A name the live database already has: the statement would fail on the server, and a
/// failed ADD COLUMN must never leave zerodown thinking the column is its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_the_live_database_has_is_bad_input() {
    let c = connect().await;
    let schema = TestSchema::create(&c, "taken").await;
    let s = schema.name.clone();
    c.batch_execute(&format!(
        "CREATE TABLE \"{s}\".t (id int PRIMARY KEY, c int); CREATE INDEX t_c ON \"{s}\".t (c);"
    ))
    .await
    .expect("setup");
    let sql = format!(
        "ALTER TABLE \"{s}\".t ADD COLUMN c int;\nCREATE INDEX t_c ON \"{s}\".t (id);\nCREATE INDEX t ON \"{s}\".t (id);\n"
    );
    let plan = |sql: String| {
        tokio::task::spawn_blocking(move || {
            zerodown()
                .args(["plan", "-", "--database-url", &url()])
                .write_stdin(sql)
                .output()
                .expect("run")
        })
    };
    let out = plan(sql).await.expect("join");
    // What IF [NOT] EXISTS says is allowed, and a name made free earlier in the file too.
    let fine = format!(
        "ALTER TABLE \"{s}\".t ADD COLUMN IF NOT EXISTS c int;\nCREATE INDEX IF NOT EXISTS t_c ON \"{s}\".t (id);\nDROP INDEX \"{s}\".t_c;\nCREATE INDEX CONCURRENTLY t_c ON \"{s}\".t (id);\nDROP INDEX IF EXISTS \"{s}\".no_such_index;\n"
    );
    let ok = plan(fine).await.expect("join");
    schema.drop(&c).await;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    for (line, what) in [
        (1, "column c already exists"),
        (2, "t_c already exists"),
        (3, "t already exists"),
    ] {
        assert!(
            stderr.contains(&format!("<stdin>:{line}:1: error: ")) && stderr.contains(what),
            "line {line}: {stderr}"
        );
    }
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unqualified_names_follow_the_search_path() {
    let c = connect().await;
    let schema = TestSchema::create(&c, "path").await;
    let s = schema.name.clone();
    c.batch_execute(&format!(
        "CREATE TABLE \"{s}\".things (id int PRIMARY KEY, v text);
         INSERT INTO \"{s}\".things SELECT g, 'v' FROM generate_series(1, 1000) g;"
    ))
    .await
    .expect("setup");
    // The connection's search_path puts the test schema first, as an application's would.
    let conn = format!("{}?options=-csearch_path%3D{s},public", url());
    let out = tokio::task::spawn_blocking(move || {
        zerodown()
            .args(["plan", "-", "--database-url", &conn, "--format", "json"])
            .write_stdin("ALTER TABLE things ADD COLUMN t uuid DEFAULT gen_random_uuid();")
            .output()
            .expect("run")
    })
    .await
    .expect("join");
    schema.drop(&c).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(
        doc["statements"][0]["impact"]["tables"][0]["table"],
        format!("{s}.things")
    );
    let first = doc["plan"]["phases"][0]["steps"][0]["sql"]
        .as_str()
        .expect("sql")
        .to_owned();
    assert!(
        first.starts_with(&format!("ALTER TABLE \"{s}\".\"things\"")),
        "{first}"
    );
}
