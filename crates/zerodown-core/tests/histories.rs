//! Migration histories as teams keep them, written for these tests (no project's files
//! copied): a Flyway folder for PostgreSQL and a golang-migrate folder for MySQL 8.0,
//! with renames, CREATE TABLE … AS, seed data, session settings, stored programs and
//! MySQL 8 syntax. Each is checked as one ordered history and its findings snapshotted:
//! a change in any verdict shows in review. Also: no statement of a history is refused
//! but the one each history refuses on purpose.

use std::path::Path;

use zerodown_core::check::{self, Levels};
use zerodown_core::engine::ServerProfile;
use zerodown_core::migrations::{classify, is_up_migration, sort_key, SourceFile};

/// The folder's migrations in the order their tool runs them.
fn history(folder: &str) -> Vec<SourceFile> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/histories")
        .join(folder);
    let mut files: Vec<(_, String)> = std::fs::read_dir(&dir)
        .expect("history folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| is_up_migration(n))
        .map(|n| (sort_key(&n), n))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|(_, n)| {
            let text = std::fs::read_to_string(dir.join(&n)).expect("read");
            classify(&format!("{folder}/{n}"), &text)
        })
        .collect()
}

fn findings(folder: &str, target: &str) -> String {
    let profile: ServerProfile = target.parse().expect("target");
    let report = check::check(&history(folder), &profile, &Levels::new(), &|_| true);
    let mut out = String::new();
    for p in &report.problems {
        out.push_str(&format!(
            "{}:{} {}[{}] {}\n",
            p.file,
            p.line,
            p.severity.name(),
            p.rule,
            p.message
        ));
    }
    out.push_str("-- assumed:\n");
    for a in &report.assumptions {
        out.push_str(&format!("{a}\n"));
    }
    out
}

#[test]
fn postgres_history() {
    let text = findings("pg", "postgres:17");
    let refused: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("[refused-statement]"))
        .collect();
    assert_eq!(refused.len(), 1, "only SET search_path: {refused:?}");
    assert!(
        refused[0].starts_with("pg/V11__search_path.sql:2 "),
        "{refused:?}"
    );
    insta::assert_snapshot!(text);
}

#[test]
fn mysql_history() {
    let text = findings("mysql", "mysql:8.0");
    assert!(!text.contains("[refused-statement]"), "{text}");
    insta::assert_snapshot!(text);
}
