//! golang-migrate, goose and Flyway, which cannot be installed here: their files in the
//! formats their documentation gives, applied with zerodown on the real servers, and
//! their history tables holding afterwards the rows those tools write (tables, columns
//! and values as their sources and manuals give them; Flyway's checksum as Java
//! computes it, see zerodown-core's history/files.rs). A second apply finds nothing
//! pending, and a history the tool would refuse is refused.

mod common;

use std::path::Path;

use common::apply_dir as apply;
use mysql_async::prelude::Queryable;
use zerodown_testkit::{connect, MyTestDatabase, TestDatabase};

fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    dir
}

fn applied_then_nothing(dir: &Path, url: &str, extra: &[&str], tool: &str) {
    let (code, out) = apply(dir, url, extra);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = apply(dir, url, extra);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("nothing to apply: {tool} has applied every file")),
        "{out}"
    );
}

async fn text_rows(c: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    c.query(sql, &[])
        .await
        .expect("rows")
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn golang_migrate_keeps_one_clean_version_and_refuses_when_dirty() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "hist_migrate").await;
    let url = tdb.url();
    let dir = folder(&[
        (
            "1_users.up.sql",
            "CREATE TABLE users (id bigint PRIMARY KEY);\n",
        ),
        ("1_users.down.sql", "DROP TABLE users;\n"),
        (
            "2_status.up.sql",
            "ALTER TABLE users ADD COLUMN status text;\n",
        ),
        (
            "2_status.down.sql",
            "ALTER TABLE users DROP COLUMN status;\n",
        ),
    ]);
    // `.up.sql` is sqlx's name too: with no table to tell, zerodown asks.
    let (code, out) = apply(dir.path(), &url, &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("golang-migrate and sqlx") && out.contains("--history"),
        "{out}"
    );

    applied_then_nothing(
        dir.path(),
        &url,
        &["--history", "golang-migrate"],
        "golang-migrate",
    );
    let c = tdb.connect().await;
    let rows = text_rows(&c, "SELECT version || ' ' || dirty FROM schema_migrations").await;
    assert_eq!(rows, vec!["2 false"]);

    // A migration golang-migrate left dirty is for the team to fix first, as
    // golang-migrate itself says.
    c.batch_execute("UPDATE schema_migrations SET dirty = true")
        .await
        .expect("dirty");
    let (code, out) = apply(dir.path(), &url, &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("version 2 is dirty") && out.contains("migrate force"),
        "{out}"
    );
    drop(c);
    tdb.drop(&admin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goose_runs_up_sections_only_and_records_each_version() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "hist_goose").await;
    let url = tdb.url();
    let dir = folder(&[
        (
            "00001_users.sql",
            "-- +goose Up\nCREATE TABLE users (id bigint PRIMARY KEY, name text);\n\n-- +goose Down\nDROP TABLE users;\n",
        ),
        (
            "00002_touch.sql",
            "-- +goose Up\n-- +goose StatementBegin\nCREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  NEW.name := lower(NEW.name);\n  RETURN NEW;\nEND;\n$$;\n-- +goose StatementEnd\n\n-- +goose Down\nDROP FUNCTION touch();\n",
        ),
        (
            "00003_name_index.sql",
            "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY users_name ON users (name);\n\n-- +goose Down\nDROP INDEX CONCURRENTLY users_name;\n",
        ),
    ]);
    applied_then_nothing(dir.path(), &url, &[], "goose");
    let c = tdb.connect().await;
    let rows = text_rows(
        &c,
        "SELECT version_id || ' ' || is_applied FROM goose_db_version ORDER BY id",
    )
    .await;
    assert_eq!(rows, vec!["0 true", "1 true", "2 true", "3 true"]);
    // The down sections never ran: the table, function and index are there.
    let there = text_rows(
        &c,
        "SELECT relname::text FROM pg_class WHERE relname IN ('users', 'users_name') UNION ALL SELECT proname::text FROM pg_proc WHERE proname = 'touch' ORDER BY 1",
    )
    .await;
    assert_eq!(there, vec!["touch", "users", "users_name"]);
    drop(c);
    tdb.drop(&admin).await;
}

const FLYWAY_FILES: &[(&str, &str)] = &[
    (
        "V1__Create_users.sql",
        "CREATE TABLE users (id bigint PRIMARY KEY);\nALTER TABLE users ADD COLUMN email text;\n",
    ),
    (
        "more/V1_1__Add_status.sql",
        "ALTER TABLE users ADD COLUMN status text;\n",
    ),
    (
        "V2__Index_email.sql",
        "CREATE INDEX CONCURRENTLY users_email ON users (email);\n",
    ),
    (
        "R__Users_view.sql",
        "CREATE OR REPLACE VIEW active_users AS SELECT id, email FROM users WHERE status = 'active';\n",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flyway_history_rows_as_flyway_writes_them() {
    let admin = connect().await;
    let tdb = TestDatabase::create(&admin, "hist_flyway").await;
    let url = tdb.url();
    let dir = folder(FLYWAY_FILES);
    // V2 holds only CREATE INDEX CONCURRENTLY: run outside a transaction, as Flyway does.
    applied_then_nothing(dir.path(), &url, &[], "flyway");
    let c = tdb.connect().await;
    let rows = text_rows(
        &c,
        "SELECT concat_ws(' | ', installed_rank, coalesce(version, '-'), description, type, script, checksum, installed_by = current_user, execution_time >= 0, success) FROM flyway_schema_history ORDER BY installed_rank",
    )
    .await;
    let first = "1 | 1 | Create users | SQL | V1__Create_users.sql | 1207417942 | t | t | t";
    assert_eq!(rows[0], first, "the checksum Java computes for V1's text");
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(
        rows[1].starts_with("2 | 1.1 | Add status | SQL | more/V1_1__Add_status.sql | "),
        "{rows:?}"
    );
    assert!(
        rows[2].starts_with("3 | 2 | Index email | SQL | V2__Index_email.sql | "),
        "{rows:?}"
    );
    assert!(
        rows[3].starts_with("4 | - | Users view | SQL | R__Users_view.sql | "),
        "{rows:?}"
    );

    // A repeatable migration runs again when it changes, and is recorded again.
    std::fs::write(
        dir.path().join("R__Users_view.sql"),
        "CREATE OR REPLACE VIEW active_users AS SELECT id, email, status FROM users WHERE status = 'active';\n",
    )
    .expect("edit");
    let (code, out) = apply(dir.path(), &url, &[]);
    assert_eq!(code, Some(0), "{out}");
    let count = text_rows(&c, "SELECT count(*)::text FROM flyway_schema_history").await;
    assert_eq!(count, vec!["5"]);
    // An applied versioned file that changed is refused, as `flyway validate` refuses it.
    std::fs::write(
        dir.path().join("V1__Create_users.sql"),
        "CREATE TABLE users (id bigint PRIMARY KEY);\n",
    )
    .expect("edit");
    let (code, out) = apply(dir.path(), &url, &[]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("V1__Create_users.sql") && out.contains("flyway repair"),
        "{out}"
    );
    drop(c);
    tdb.drop(&admin).await;
}

/// The MySQL forms of the goose and Flyway tables and rows, on MariaDB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goose_and_flyway_rows_on_mariadb() {
    let cases: [(&str, &[(&str, &str)]); 2] = [
        (
            "goose",
            &[
                ("00001_users.sql", "-- +goose Up\nCREATE TABLE users (id bigint PRIMARY KEY);\n-- +goose Down\nDROP TABLE users;\n"),
                ("00002_email.sql", "-- +goose Up\nALTER TABLE users ADD COLUMN email varchar(100);\n-- +goose Down\nALTER TABLE users DROP COLUMN email;\n"),
            ],
        ),
        (
            "flyway",
            &[
                ("V1__Create_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY);\n"),
                ("V2__Add_email.sql", "ALTER TABLE users ADD COLUMN email varchar(100);\n"),
            ],
        ),
    ];
    for (tool, files) in cases {
        let tdb = MyTestDatabase::create(&format!("hist_{tool}")).await;
        let url = tdb.url();
        let dir = folder(files);
        applied_then_nothing(dir.path(), &url, &[], tool);
        let mut c = tdb.connect().await;
        let rows: Vec<String> = match tool {
            "goose" => c
                .query("SELECT CONCAT(version_id, ' ', is_applied) FROM goose_db_version ORDER BY id")
                .await
                .expect("rows"),
            _ => c
                .query("SELECT CONCAT_WS(' | ', installed_rank, version, description, script, checksum = CRC32('x') IS NOT NULL, success, installed_by = SUBSTRING_INDEX(USER(), '@', 1)) FROM flyway_schema_history ORDER BY installed_rank")
                .await
                .expect("rows"),
        };
        let expected: Vec<&str> = match tool {
            "goose" => vec!["0 1", "1 1", "2 1"],
            _ => vec![
                "1 | 1 | Create users | V1__Create_users.sql | 1 | 1 | 1",
                "2 | 2 | Add email | V2__Add_email.sql | 1 | 1 | 1",
            ],
        };
        assert_eq!(rows, expected, "{tool}");
        let _ = c.disconnect().await;
        tdb.drop().await;
    }
}
