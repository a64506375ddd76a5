//! `zerodown check` as CI runs it, with no database: folders in the migration tools'
//! layouts (earlier files define the schema), exit codes, suppressions, zerodown.toml,
//! every output format, and --since with a real git repository.

mod common;

use std::path::Path;
use std::process::Output;

use common::zerodown;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write");
}

fn check(dir: &Path, args: &[&str]) -> Output {
    zerodown()
        .current_dir(dir)
        .arg("check")
        .args(args)
        .output()
        .expect("check")
}

/// The OASIS SARIF 2.1.0 JSON schema, as the serde-sarif crate (a dev-dependency, so
/// cargo has fetched it) ships it: not copied into this repository.
fn sarif_schema() -> serde_json::Value {
    let home = std::env::var("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| {
            std::path::PathBuf::from(std::env::var("HOME").expect("HOME")).join(".cargo")
        });
    let src = home.join("registry/src");
    let path = std::fs::read_dir(&src)
        .expect("cargo registry sources")
        .filter_map(Result::ok)
        .map(|d| d.path().join("serde-sarif-0.8.0/src/schema.json"))
        .find(|p| p.is_file())
        .expect("serde-sarif's schema.json in the cargo registry");
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("schema json")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A Flyway folder: V1 creates the table, V2 indexes it without CONCURRENTLY.
fn flyway(dir: &Path) {
    let m = dir.join("migrations");
    std::fs::create_dir_all(&m).expect("dir");
    write(
        &m,
        "V1__create.sql",
        "CREATE TABLE orders (id bigint PRIMARY KEY, total int);\nCREATE INDEX orders_total ON orders (total);\n",
    );
    write(
        &m,
        "V2__index.sql",
        "SET lock_timeout = '2s';\n\nCREATE INDEX orders_total2 ON orders (total);\n",
    );
}

#[test]
fn a_table_from_an_earlier_file_is_existing_and_errors_exit_3_with_a_caret() {
    let dir = tempfile::tempdir().expect("tmp");
    flyway(dir.path());
    let out = check(dir.path(), &["migrations", "--target", "postgres:15"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    // The index in V1 is on a table created in the same file: new and empty, fine.
    assert!(!text.contains("V1__create.sql"), "{text}");
    assert!(
        text.contains("migrations/V2__index.sql:3:1: error[create-index-blocks-writes]"),
        "{text}"
    );
    assert!(
        text.contains(" 3 | CREATE INDEX orders_total2 ON orders (total)"),
        "{text}"
    );
    assert!(text.contains("   | ^^^^"), "{text}");
    assert!(
        text.contains("= see docs/rules/create-index-blocks-writes.md"),
        "{text}"
    );
    assert!(text.contains("2 file(s) checked: 1 error(s)"), "{text}");
}

#[test]
fn suppressions_need_a_known_rule_and_a_reason() {
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        "a.sql",
        "SET lock_timeout = '1s';\n\
         -- zerodown:ignore create-index-blocks-writes the table holds 40 rows\n\
         CREATE INDEX a ON t (a);\n",
    );
    let out = check(dir.path(), &["a.sql"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    write(
        dir.path(),
        "b.sql",
        "SET lock_timeout = '1s';\nCREATE INDEX a ON t (a); -- zerodown:ignore create-index-blocks-writes\n",
    );
    let out = check(dir.path(), &["b.sql", "--format", "json"]);
    assert_eq!(out.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let rules: Vec<&str> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert_eq!(
        rules,
        ["create-index-blocks-writes", "invalid-suppression"],
        "{doc}"
    );
}

#[test]
fn json_github_and_sarif_say_the_same_problems() {
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        "m.sql",
        "ALTER TABLE users ADD COLUMN settings json;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;\n",
    );
    let json = check(
        dir.path(),
        &["m.sql", "--target", "postgres:11", "--format", "json"],
    );
    assert_eq!(json.status.code(), Some(3));
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["files_checked"], 1);
    let findings = doc["findings"].as_array().expect("findings");
    for f in findings {
        for key in ["file", "line", "column", "rule", "severity", "message"] {
            assert!(!f[key].is_null(), "{key} in {f}");
        }
        assert!(matches!(f["severity"].as_str(), Some("error" | "warning")));
    }
    let rules: Vec<&str> = findings.iter().filter_map(|f| f["rule"].as_str()).collect();
    assert!(rules.contains(&"prefer-jsonb"), "{rules:?}");
    assert!(rules.contains(&"missing-lock-timeout"), "{rules:?}");
    assert!(rules.contains(&"set-not-null-scan"), "{rules:?}");

    let gh = check(
        dir.path(),
        &["m.sql", "--target", "postgres:11", "--format", "github"],
    );
    let lines: Vec<String> = stdout(&gh).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), findings.len());
    assert!(lines
        .iter()
        .all(|l| (l.starts_with("::error file=m.sql,line=")
            || l.starts_with("::warning file=m.sql,line="))
            && l.contains(",title=zerodown ")));

    let sarif = check(
        dir.path(),
        &["m.sql", "--target", "postgres:11", "--format", "sarif"],
    );
    let log: serde_sarif::sarif::Sarif =
        serde_json::from_slice(&sarif.stdout).expect("a SARIF 2.1.0 log");
    let doc: serde_json::Value = serde_json::from_slice(&sarif.stdout).expect("json");
    let schema = sarif_schema();
    let validator = jsonschema::validator_for(&schema).expect("the SARIF schema compiles");
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "not valid SARIF 2.1.0: {errors:?}");
    let mut broken = doc.clone();
    broken["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!validator.is_valid(&broken), "the schema check can fail");
    assert_eq!(doc["version"], "2.1.0");
    assert_eq!(log.runs.len(), 1);
    let results = doc["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), findings.len());
    let described: Vec<&str> = doc["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    for r in results {
        let index = r["ruleIndex"].as_u64().expect("index") as usize;
        assert_eq!(Some(described[index]), r["ruleId"].as_str());
    }
}

#[test]
fn config_levels_exclusions_and_max_warnings() {
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        "m.sql",
        "CREATE TABLE events (id int PRIMARY KEY, body json);\n",
    );
    // Two warnings (a 32-bit key, json), no error: exit 0, or 10 over --max-warnings.
    let out = check(dir.path(), &["m.sql"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("0 error(s), 2 warning(s)"),
        "{}",
        stdout(&out)
    );
    let out = check(dir.path(), &["m.sql", "--max-warnings", "1"]);
    assert_eq!(out.status.code(), Some(10));
    write(
        dir.path(),
        "zerodown.toml",
        "target = \"postgres:16\"\n[rules]\nprefer-jsonb = \"error\"\nprefer-bigint-key = \"off\"\n",
    );
    let out = check(dir.path(), &["m.sql"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stdout(&out).contains("error[prefer-jsonb]"));
    assert!(!stdout(&out).contains("prefer-bigint-key"));
    write(dir.path(), "zerodown.toml", "exclude = [\"m.sql\"]\n");
    let out = check(dir.path(), &["m.sql"]);
    assert!(
        stdout(&out).contains("0 file(s) checked"),
        "{}",
        stdout(&out)
    );
    // Bad configuration and bad SQL are bad input (exit 2), with the place.
    for (config, expected) in [
        ("targt = \"postgres:16\"\n", "unknown field `targt`"),
        (
            "[rules]\nno-such-rule = \"off\"\n",
            "no-such-rule: no such rule",
        ),
        ("[rules]\nprefer-jsonb = \"loud\"\n", "\"loud\""),
    ] {
        write(dir.path(), "zerodown.toml", config);
        let out = check(dir.path(), &["m.sql"]);
        assert_eq!(out.status.code(), Some(2), "{config}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("zerodown.toml") && err.contains(expected),
            "{err}"
        );
    }
    std::fs::remove_file(dir.path().join("zerodown.toml")).expect("rm");
    write(
        dir.path(),
        "bad.sql",
        "SELECT 1;\nALTER TABLE t ADD COLUMN;\n",
    );
    let out = check(dir.path(), &["bad.sql"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).contains("bad.sql:2:25: error[refused-statement]: syntax error"));
}

#[test]
fn mysql_targets_use_the_mysql_rules() {
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        "m.sql",
        "CREATE TABLE orders (id INT PRIMARY KEY, note VARCHAR(50)) DEFAULT CHARSET=utf8mb4;\n",
    );
    write(
        dir.path(),
        "n.sql",
        "ALTER TABLE orders MODIFY note VARCHAR(100);\n",
    );
    let out = check(
        dir.path(),
        &[
            "m.sql",
            "n.sql",
            "--target",
            "mariadb:10.11",
            "--format",
            "json",
        ],
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let rules: Vec<(&str, &str)> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["file"].as_str().unwrap_or(""),
                f["rule"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(rules.contains(&("m.sql", "prefer-bigint-key")), "{rules:?}");
    assert!(rules.contains(&("n.sql", "mysql-copy")), "{rules:?}");
    assert!(
        rules.contains(&("n.sql", "missing-lock-timeout")),
        "{rules:?}"
    );
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn since_a_git_ref_reports_only_the_files_added_after_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .current_dir(dir.path())
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .output()
            .expect("git")
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    flyway(dir.path());
    // V2 is the bad one; committed before the ref, it is not reported.
    git(&["add", "."]);
    git(&["commit", "-qm", "first"]);
    git(&["tag", "base"]);
    write(
        &dir.path().join("migrations"),
        "V3__more.sql",
        "SET lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN note text;\n",
    );
    let out = check(
        dir.path(),
        &["migrations", "--since", "base", "--format", "json"],
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["files_checked"], 1, "{doc}");
    assert_eq!(doc["findings"].as_array().map(Vec::len), Some(0), "{doc}");
    assert_eq!(out.status.code(), Some(0));
    let out = check(dir.path(), &["migrations", "--since", "no-such-ref"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn plain_statements_inside_do_blocks_are_checked_where_they_are() {
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        "m.sql",
        "SET lock_timeout = '1s';\n\
         DO $$\n\
         BEGIN\n  ALTER TABLE accounts ADD COLUMN api_key uuid DEFAULT gen_random_uuid();\n\
         END $$;\n\
         DO $$ BEGIN IF 1 = 1 THEN RAISE NOTICE 'x'; END IF; END $$;\n\
         DO $$ BEGIN CREATE INDEX CONCURRENTLY a ON accounts (a); END $$;\n",
    );
    let out = check(dir.path(), &["m.sql", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let found: Vec<(u64, u64, &str)> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["line"].as_u64().unwrap_or(0),
                f["column"].as_u64().unwrap_or(0),
                f["rule"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        found.contains(&(4, 3, "add-column-volatile-default")),
        "{found:?}"
    );
    // Real PL/pgSQL stays one statement zerodown does not model.
    assert!(found.contains(&(6, 1, "unmodeled-statement")), "{found:?}");
    // CONCURRENTLY cannot run in the DO's transaction: not analysed as if it could.
    assert!(found.contains(&(7, 1, "unmodeled-statement")), "{found:?}");
    assert!(
        !found
            .iter()
            .any(|f| f.0 == 7 && f.2 != "unmodeled-statement"),
        "{found:?}"
    );
}

/// diesel runs each `<folder>/up.sql` in a transaction (unless its metadata.toml says
/// `run_in_transaction = false`): locks taken early are held until COMMIT. `check` is
/// told otherwise with --file-transaction, as `plan` is.
#[test]
fn diesel_folders_run_in_a_transaction_unless_told() {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("migrations");
    for (folder, sql) in [
        ("2024-01-01-000000_tables", "CREATE TABLE a (id bigint PRIMARY KEY);\nCREATE TABLE b (id bigint PRIMARY KEY);\n"),
        (
            "2024-02-01-000000_columns",
            "SET lock_timeout = '2s';\nALTER TABLE a ADD COLUMN x int;\nALTER TABLE b ADD COLUMN y uuid DEFAULT gen_random_uuid();\n",
        ),
    ] {
        std::fs::create_dir_all(root.join(folder)).expect("dir");
        write(&root.join(folder), "up.sql", sql);
        write(&root.join(folder), "down.sql", "DROP TABLE a;\n");
    }
    let rules = |args: &[&str]| -> Vec<String> {
        let out = check(dir.path(), args);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        doc["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["rule"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let wrapped = rules(&["migrations", "--format", "json"]);
    assert!(
        wrapped.iter().any(|r| r == "locks-held-in-transaction"),
        "{wrapped:?}"
    );
    let never = rules(&[
        "migrations",
        "--format",
        "json",
        "--file-transaction",
        "never",
    ]);
    assert!(
        !never.iter().any(|r| r == "locks-held-in-transaction"),
        "{never:?}"
    );
    write(
        &root.join("2024-02-01-000000_columns"),
        "metadata.toml",
        "run_in_transaction = false\n",
    );
    let opted_out = rules(&["migrations", "--format", "json"]);
    assert!(
        !opted_out.iter().any(|r| r == "locks-held-in-transaction"),
        "{opted_out:?}"
    );
}

#[test]
fn down_migrations_are_not_checked_in_any_layout() {
    let dir = tempfile::tempdir().expect("tmp");
    let dbmate = dir.path().join("dbmate");
    std::fs::create_dir_all(&dbmate).expect("dir");
    write(
        &dbmate,
        "20240101000000_add_a.sql",
        "-- migrate:up transaction:false\nSET lock_timeout = '1s';\nCREATE INDEX CONCURRENTLY a ON t (a);\n\n-- migrate:down\nDROP TABLE t;\n",
    );
    let golang = dir.path().join("golang");
    std::fs::create_dir_all(&golang).expect("dir");
    write(
        &golang,
        "1_a.up.sql",
        "SET lock_timeout = '1s';\nCREATE INDEX CONCURRENTLY a ON t (a);\n",
    );
    write(&golang, "1_a.down.sql", "DROP TABLE t;\n");
    for folder in ["dbmate", "golang"] {
        let out = check(dir.path(), &[folder, "--format", "json"]);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(doc["files_checked"], 1, "{folder}: {doc}");
        assert_eq!(
            doc["findings"].as_array().map(Vec::len),
            Some(0),
            "{folder}: {doc}"
        );
        assert_eq!(out.status.code(), Some(0), "{folder}");
    }
}

/// A statement whose first word is misspelt is bad input at its line, for check and
/// plan alike: never a file checked (or planned) without it.
#[test]
fn a_misspelt_statement_is_bad_input_at_its_line_not_dropped() {
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        "V1__m.sql",
        "ALTER TABLE t ADD COLUMN a int;\nUPDAT t SETT x = 1;\n",
    );
    write(
        dir.path(),
        "V2__n.sql",
        "ALTER TABLE t ADD COLUMN b uuid NOT NULL DEFAULT gen_random_uuid();\n",
    );
    let out = check(dir.path(), &["V1__m.sql", "V2__n.sql"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("V1__m.sql:2:1: error[refused-statement]: syntax error"),
        "{text}"
    );
    // The other file is still judged, and every format is a whole document.
    assert!(
        text.contains("V2__n.sql:1:1: error[add-column-volatile-default]"),
        "{text}"
    );
    for format in ["json", "sarif", "github"] {
        let out = check(dir.path(), &["V1__m.sql", "V2__n.sql", "--format", format]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(2), "{format}: {text}");
        assert!(text.contains("refused-statement"), "{format}: {text}");
        assert!(
            text.contains("add-column-volatile-default"),
            "{format}: {text}"
        );
        if format != "github" {
            serde_json::from_str::<serde_json::Value>(&text).expect("a whole JSON document");
        }
    }
    let plan = zerodown()
        .current_dir(dir.path())
        .args(["plan", "V1__m.sql", "--offline"])
        .output()
        .expect("plan");
    let err = String::from_utf8_lossy(&plan.stderr);
    assert_eq!(plan.status.code(), Some(2), "{err}");
    assert!(err.contains("nothing was planned"), "{err}");
}

/// With no database, check and plan say what they took for granted, in text and JSON,
/// and the flags settle it.
#[test]
fn offline_assumptions_are_said_and_flags_settle_them() {
    let dir = tempfile::tempdir().expect("tmp");
    write(
        dir.path(),
        "0001_a.sql",
        "SET lock_timeout = '2s';\nALTER TABLE accounts ALTER COLUMN seen TYPE timestamptz;\nDROP INDEX old_idx;\n",
    );
    let text = stdout(&check(dir.path(), &["0001_a.sql"]));
    for said in [
        "Assumed (no database):",
        "TimeZone: not known (--timezone)",
        "1 file(s) each run in one transaction",
        "size unknown: accounts",
        "on such a table: old_idx",
    ] {
        assert!(text.contains(said), "{said}: {text}");
    }
    let out = check(
        dir.path(),
        &["0001_a.sql", "--format", "json", "--timezone", "UTC"],
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let assumed: Vec<&str> = doc["assumptions"]
        .as_array()
        .expect("assumptions")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    assert!(
        assumed.contains(&"TimeZone: UTC (--timezone)"),
        "{assumed:?}"
    );
    let plan = zerodown()
        .current_dir(dir.path())
        .args(["plan", "0001_a.sql", "--offline", "--format", "json"])
        .output()
        .expect("plan");
    let doc: serde_json::Value = serde_json::from_slice(&plan.stdout).expect("plan json");
    let said = doc["assumptions"].to_string();
    assert!(said.contains("TimeZone: not known"), "{said}");
    assert!(said.contains("size unknown: accounts"), "{said}");
}

/// `--history` names the tool the folder is written for: a file it would not read as a
/// migration (sqlx skips a name without a version) is reported, with what to do; a file
/// written for another tool's sections too.
#[test]
fn files_the_named_tool_would_not_read_are_reported() {
    let dir = tempfile::tempdir().expect("tmp");
    let m = dir.path().join("migrations");
    std::fs::create_dir(&m).expect("mkdir");
    write(
        &m,
        "0001_users.sql",
        "CREATE TABLE users (id bigint PRIMARY KEY);\n",
    );
    write(
        &m,
        "add_status.sql",
        "ALTER TABLE users ADD COLUMN status text;\n",
    );
    let out = check(dir.path(), &["migrations", "--history", "sqlx"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("add_status.sql:1:1: error[refused-statement]: sqlx reads only files named <VERSION>_<DESCRIPTION>.sql"),
        "{text}"
    );
    // Left to its layout, the folder is sqlx's too; with no tool, nothing is said.
    let out = check(dir.path(), &["migrations", "--history", "none"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}
