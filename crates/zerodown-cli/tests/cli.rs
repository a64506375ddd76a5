//! The `zerodown` binary as users run it: exit codes, messages, formats, inputs.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

fn zerodown() -> Command {
    let mut c = Command::cargo_bin("zerodown").expect("binary");
    // Never pick up the developer's database settings.
    for k in [
        "DATABASE_URL",
        "PGHOST",
        "PGDATABASE",
        "PGUSER",
        "PGPORT",
        "PGPASSWORD",
    ] {
        c.env_remove(k);
    }
    c
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write");
}

#[test]
fn unsafe_migration_exits_3_and_prints_the_plan() {
    zerodown()
        .args([
            "plan",
            "-",
            "--target",
            "postgres:15",
            "--rows",
            "users=1000000",
        ])
        .write_stdin("ALTER TABLE users ADD COLUMN t uuid DEFAULT gen_random_uuid();")
        .assert()
        .code(3)
        .stdout(
            contains("UNSAFE")
                .and(contains("[backfill]"))
                .and(contains("add-column-volatile-default")),
        );
}

#[test]
fn safe_migration_exits_0() {
    zerodown()
        .args(["plan", "-", "--target", "postgres:15"])
        .write_stdin("ALTER TABLE users ADD COLUMN note text DEFAULT 'x';")
        .assert()
        .code(0)
        .stdout(contains("Verdict: SAFE"));
}

#[test]
fn syntax_error_is_bad_input_with_position_and_no_plan() {
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        "m.sql",
        "SELECT 1;\nALTER TABLE t ADD COLUMN c intt eger;\nALTER TABLE t ADD COLUMN d int;\n",
    );
    let file = dir.path().join("m.sql");
    let out = zerodown()
        .args([
            "plan",
            file.to_str().expect("utf8"),
            "--target",
            "postgres:15",
        ])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).expect("utf8");
    assert!(
        err.contains("m.sql:2:33: error: syntax error at or near \"eger\""),
        "{err}"
    );
    assert!(
        err.contains("                                ^"),
        "caret under the column: {err}"
    );
    assert!(err.contains("nothing was planned"), "{err}");
}

#[test]
fn postgres_rejections_are_bad_input() {
    zerodown()
        .args(["plan", "-", "--target", "postgres:15"])
        .write_stdin("ALTER TABLE users ADD CONSTRAINT u UNIQUE (email) NOT VALID;")
        .assert()
        .code(2)
        .stderr(contains(
            "<stdin>:1:1: error: UNIQUE constraints cannot be marked NOT VALID",
        ));
}

#[test]
fn missing_file_and_bad_options_are_bad_input() {
    zerodown()
        .args(["plan", "/nonexistent/m.sql"])
        .assert()
        .code(2)
        .stderr(contains("/nonexistent/m.sql: no such file or folder"));
    zerodown()
        .args(["plan", "-", "--target", "oracle:19"])
        .write_stdin("SELECT 1;")
        .assert()
        .code(2)
        .stderr(contains("invalid target"));
    zerodown()
        .args(["plan", "-", "--target", "postgres:15", "--rows", "users:5"])
        .write_stdin("SELECT 1;")
        .assert()
        .code(2)
        .stderr(contains("expected TABLE=ROWS"));
    zerodown().args(["plan"]).assert().code(2);
}

#[test]
fn folders_run_in_tool_order_and_earlier_files_define_the_schema() {
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        "V1__create.sql",
        "CREATE TABLE items (id bigint PRIMARY KEY, name text);",
    );
    write(
        dir.path(),
        "V10__late.sql",
        "ALTER TABLE items ADD COLUMN late int;",
    );
    write(
        dir.path(),
        "V2__index.sql",
        "CREATE INDEX items_name_idx ON items (name);",
    );
    let out = zerodown()
        .args([
            "plan",
            dir.path().to_str().expect("utf8"),
            "--target",
            "postgres:16",
            "--format",
            "json",
        ])
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).expect("json");
    let files: Vec<&str> = doc["statements"]
        .as_array()
        .expect("statements")
        .iter()
        .map(|s| {
            s["file"]
                .as_str()
                .expect("file")
                .rsplit('/')
                .next()
                .expect("name")
        })
        .collect();
    assert_eq!(
        files,
        vec!["V1__create.sql", "V2__index.sql", "V10__late.sql"]
    );
    // Created in an earlier file: an existing table by the time V2 runs, so the
    // blocking CREATE INDEX is unsafe and the plan builds it concurrently.
    assert_eq!(doc["statements"][1]["verdict"], "unsafe");
    assert_eq!(
        doc["plan"]["phases"][0]["steps"][1]["kind"],
        "create_index_concurrently"
    );
}

#[test]
fn dbmate_down_sections_are_not_planned() {
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        "20240101000000_users.sql",
        "-- migrate:up\nALTER TABLE users ADD COLUMN n text;\n\n-- migrate:down\nALTER TABLE users DROP COLUMN n;\n",
    );
    zerodown()
        .args([
            "plan",
            dir.path().to_str().expect("utf8"),
            "--target",
            "postgres:15",
        ])
        .assert()
        .code(0)
        .stdout(contains("ADD COLUMN n text").and(contains("DROP COLUMN").not()));
}

#[test]
fn json_contract() {
    let out = zerodown()
        .args([
            "plan",
            "-",
            "--target",
            "postgres:16",
            "--format",
            "json",
            "--rows",
            "users=500000",
        ])
        .write_stdin("ALTER TABLE users ADD CONSTRAINT users_age CHECK (age > 0);\n")
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let doc: serde_json::Value = serde_json::from_slice(&out).expect("json");
    insta::assert_json_snapshot!("json_contract", doc);
}

#[test]
fn unreachable_database_exits_4_without_the_password() {
    zerodown()
        .args([
            "plan",
            "-",
            "--database-url",
            "postgres://app:hunter2@127.0.0.1:1/db?connect_timeout=2",
        ])
        .write_stdin("SELECT 1;")
        .assert()
        .code(4)
        .stderr(
            contains("cannot connect to postgres://app:***@127.0.0.1:1/db")
                .and(contains("hunter2").not()),
        );
}
