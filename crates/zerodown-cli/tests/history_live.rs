//! The team keeps its migration tool: after `zerodown apply` of the tool's folder, the
//! real tool (dbmate from npm, sqlx-cli from crates.io, installed by scripts/tools.sh)
//! sees nothing pending and applies nothing, on PostgreSQL and MariaDB. The tool applied
//! the first file itself; zerodown leaves it out, builds the third file's index without
//! blocking writes, and records the files as the tool does. An abort takes its files back out.

mod common;

use std::path::Path;
use std::process::Command;

use common::{apply_dir as apply, run, zerodown};
use mysql_async::prelude::Queryable;
use zerodown_testkit::{connect, tools, MyTestDatabase, TestDatabase};

/// A project folder with its three migrations: a table, a column, an index.
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(dir.path().join("migrations")).expect("mkdir");
    for (name, text) in files {
        std::fs::write(dir.path().join("migrations").join(name), text).expect("write");
    }
    dir
}

fn dbmate(url: &str, dir: &Path, verb: &str) -> (Option<i32>, String) {
    run(Command::new(tools::dbmate())
        .args(["--url", url, "--no-dump-schema", "--migrations-dir"])
        .arg(dir)
        .arg(verb))
}

fn sqlx(url: &str, dir: &Path, verb: &str) -> (Option<i32>, String) {
    run(Command::new(tools::sqlx())
        .args(["migrate", verb, "--database-url", url, "--source"])
        .arg(dir))
}

/// The tool applies only the first file (copied into a folder of its own).
fn first_only(dir: &Path, name: &str) -> tempfile::TempDir {
    let one = tempfile::tempdir().expect("tmp");
    std::fs::copy(dir.join(name), one.path().join(name)).expect("copy");
    one
}

const PG_DBMATE: &[(&str, &str)] = &[
    (
        "20240101000000_users.sql",
        "-- migrate:up\nCREATE TABLE users (id bigint PRIMARY KEY, name text);\n-- migrate:down\nDROP TABLE users;\n",
    ),
    (
        "20240102000000_status.sql",
        "-- migrate:up\nALTER TABLE users ADD COLUMN status text NOT NULL DEFAULT 'new';\n-- migrate:down\nALTER TABLE users DROP COLUMN status;\n",
    ),
    (
        "20240103000000_status_index.sql",
        "-- migrate:up\nCREATE INDEX users_status ON users (status);\n-- migrate:down\nDROP INDEX users_status;\n",
    ),
];

async fn fill_users(c: &tokio_postgres::Client) {
    c.batch_execute(
        "INSERT INTO users SELECT g, 'u' || g FROM generate_series(1, 20000) g; ANALYZE users;",
    )
    .await
    .expect("rows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dbmate_sees_nothing_pending_after_zerodown_on_postgres() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "hist_dbmate").await;
    let url = format!("{}?sslmode=disable", tdb.url());
    let p = project(PG_DBMATE);
    let dir = p.path().join("migrations");
    let one = first_only(&dir, PG_DBMATE[0].0);
    let (code, out) = dbmate(&url, one.path(), "migrate");
    assert_eq!(code, Some(0), "{out}");
    let c = tdb.connect().await;
    fill_users(&c).await;

    let (code, out) = run(zerodown()
        .arg("plan")
        .arg(&dir)
        .args(["--database-url", &url]));
    assert_ne!(code, Some(2), "{out}");
    assert!(
        out.contains("Migration tool: dbmate (its table schema_migrations is in the database)"),
        "{out}"
    );
    assert!(
        out.contains("are left out: ") && out.contains("20240101000000_users.sql"),
        "{out}"
    );
    assert!(
        out.contains("CREATE INDEX CONCURRENTLY"),
        "the unsafe file made safe: {out}"
    );

    let (code, out) = apply(&dir, &url, &[]);
    assert_eq!(code, Some(0), "{out}");
    let (code, status) = dbmate(&url, &dir, "status");
    assert_eq!(code, Some(0), "{status}");
    assert!(
        status.contains("Applied: 3") && status.contains("Pending: 0"),
        "{status}"
    );
    let (code, again) = dbmate(&url, &dir, "migrate");
    assert_eq!(code, Some(0), "{again}");
    assert!(
        !again.contains("Applying"),
        "dbmate ran a file again: {again}"
    );
    let valid: bool = c
        .query_one(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_status'::regclass",
            &[],
        )
        .await
        .expect("index")
        .get(0);
    assert!(valid);
    let (code, out) = apply(&dir, &url, &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("nothing to apply: dbmate has applied every file"),
        "{out}"
    );

    drop(c);
    tdb.drop(&admin).await;
}

/// File 2 is done and recorded; file 3 waits behind a lock holder and the run stops;
/// abort undoes file 2 and takes its row out of schema_migrations: dbmate sees both
/// pending again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_takes_zerodowns_rows_back_out_of_dbmate() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "hist_abort").await;
    let url = format!("{}?sslmode=disable", tdb.url());
    let files = [
        PG_DBMATE[0],
        (
            "20240102000000_name_index.sql",
            "-- migrate:up\nCREATE INDEX users_name ON users (name);\n-- migrate:down\nDROP INDEX users_name;\n",
        ),
        (
            "20240103000000_other.sql",
            "-- migrate:up\nALTER TABLE other ADD COLUMN flag boolean;\n-- migrate:down\nALTER TABLE other DROP COLUMN flag;\n",
        ),
    ];
    let p = project(&files);
    let dir = p.path().join("migrations");
    let one = first_only(&dir, files[0].0);
    assert_eq!(dbmate(&url, one.path(), "migrate").0, Some(0));
    let c = tdb.connect().await;
    fill_users(&c).await;
    c.batch_execute("CREATE TABLE other (id int PRIMARY KEY); INSERT INTO other VALUES (1);")
        .await
        .expect("other");
    // A reader holding ACCESS SHARE on `other` until the test ends.
    let holder = tdb.connect().await;
    holder
        .batch_execute("BEGIN; SELECT * FROM other;")
        .await
        .expect("hold");

    let (code, out) = apply(&dir, &url, &["--retry-budget-secs", "1"]);
    assert_ne!(code, Some(0), "the third file cannot get its lock: {out}");
    let rows: Vec<String> = c
        .query("SELECT version FROM schema_migrations ORDER BY 1", &[])
        .await
        .expect("rows")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        rows,
        vec!["20240101000000", "20240102000000"],
        "file 2 recorded with its step"
    );

    let (code, out) = run(zerodown().args(["abort", "--database-url", &url]));
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("taking 1 file(s) back out of dbmate's schema_migrations"),
        "{out}"
    );
    let (_, status) = dbmate(&url, &dir, "status");
    assert!(
        status.contains("Applied: 1") && status.contains("Pending: 2"),
        "{status}"
    );
    let index = c
        .query_opt("SELECT 1 FROM pg_class WHERE relname = 'users_name'", &[])
        .await
        .expect("index");
    assert!(index.is_none(), "file 2's index undone");

    drop(holder);
    drop(c);
    tdb.drop(&admin).await;
}

const PG_SQLX: &[(&str, &str)] = &[
    (
        "0001_users.sql",
        "CREATE TABLE users (id bigint PRIMARY KEY, name text);\n",
    ),
    (
        "0002_status.sql",
        "ALTER TABLE users ADD COLUMN status text NOT NULL DEFAULT 'new';\n",
    ),
    (
        "0003_status_index.sql",
        "CREATE INDEX users_status ON users (status);\n",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlx_sees_nothing_pending_after_zerodown_on_postgres() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "hist_sqlx").await;
    let url = tdb.url();
    let p = project(PG_SQLX);
    let dir = p.path().join("migrations");
    let one = first_only(&dir, PG_SQLX[0].0);
    let (code, out) = sqlx(&url, one.path(), "run");
    assert_eq!(code, Some(0), "{out}");
    let c = tdb.connect().await;
    fill_users(&c).await;

    let (code, out) = apply(&dir, &url, &[]);
    assert_eq!(code, Some(0), "{out}");
    let (code, info) = sqlx(&url, &dir, "info");
    assert_eq!(code, Some(0), "{info}");
    assert_eq!(info.matches("installed").count(), 3, "{info}");
    assert!(
        !info.contains("pending") && !info.contains("checksum"),
        "{info}"
    );
    let (code, again) = sqlx(&url, &dir, "run");
    assert_eq!(code, Some(0), "{again}");
    assert!(!again.contains("Applied"), "sqlx ran a file again: {again}");
    let rows: Vec<(i64, String, bool)> = c
        .query(
            "SELECT version, description, success FROM _sqlx_migrations ORDER BY 1",
            &[],
        )
        .await
        .expect("rows")
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        rows,
        vec![
            (1, "users".to_owned(), true),
            (2, "status".to_owned(), true),
            (3, "status index".to_owned(), true)
        ]
    );
    drop(c);
    tdb.drop(&admin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dbmate_and_sqlx_see_nothing_pending_on_mariadb() {
    let cases: [(&str, &[(&str, &str)]); 2] = [
        (
            "dbmate",
            &[
                ("20240101000000_users.sql", "-- migrate:up\nCREATE TABLE users (id bigint PRIMARY KEY, name text);\n-- migrate:down\nDROP TABLE users;\n"),
                ("20240102000000_status.sql", "-- migrate:up\nALTER TABLE users ADD COLUMN status varchar(10) NOT NULL DEFAULT 'new';\n-- migrate:down\nALTER TABLE users DROP COLUMN status;\n"),
                ("20240103000000_status_index.sql", "-- migrate:up\nCREATE INDEX users_status ON users (status);\n-- migrate:down\nDROP INDEX users_status ON users;\n"),
            ],
        ),
        (
            "sqlx",
            &[
                ("0001_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY, name text);\n"),
                ("0002_status.sql", "ALTER TABLE users ADD COLUMN status varchar(10) NOT NULL DEFAULT 'new';\n"),
                ("0003_status_index.sql", "CREATE INDEX users_status ON users (status);\n"),
            ],
        ),
    ];
    for (tool, files) in cases {
        let tdb = MyTestDatabase::create(&format!("hist_{tool}")).await;
        let url = tdb.url();
        let p = project(files);
        let dir = p.path().join("migrations");
        let one = first_only(&dir, files[0].0);
        let first = match tool {
            "dbmate" => dbmate(&url, one.path(), "migrate"),
            _ => sqlx(&url, one.path(), "run"),
        };
        assert_eq!(first.0, Some(0), "{}", first.1);
        let mut c = tdb.connect().await;
        c.query_drop(
            "INSERT INTO users (id, name) SELECT seq, CONCAT('u', seq) FROM seq_1_to_20000",
        )
        .await
        .expect("rows");

        let (code, out) = apply(&dir, &url, &[]);
        assert_eq!(code, Some(0), "{tool}: {out}");
        assert!(
            out.contains("LOCK=NONE"),
            "{tool}: the index built without blocking writes: {out}"
        );
        match tool {
            "dbmate" => {
                let (_, status) = dbmate(&url, &dir, "status");
                assert!(
                    status.contains("Applied: 3") && status.contains("Pending: 0"),
                    "{status}"
                );
                let (_, again) = dbmate(&url, &dir, "migrate");
                assert!(!again.contains("Applying"), "{again}");
            }
            _ => {
                let (_, info) = sqlx(&url, &dir, "info");
                assert_eq!(info.matches("installed").count(), 3, "{info}");
                assert!(
                    !info.contains("pending") && !info.contains("checksum"),
                    "{info}"
                );
                let (_, again) = sqlx(&url, &dir, "run");
                assert!(!again.contains("Applied"), "{again}");
            }
        }
        let _ = c.disconnect().await;
        tdb.drop().await;
    }
}
