//! Every page in docs/rules/ is about a real rule, and its examples say what the page
//! says: the "Bad" SQL is reported under the page's rule, the "Good" SQL is not. A block's
//! `-- target: …` line names the engine and version (default postgres:17), `-- timezone:
//! …` the session TimeZone (default: not known), and
//! `-- (in a later migration file)` starts the next file of the same migration history
//! (plain files: each statement commits on its own unless the example says BEGIN). A
//! "Bad" block that starts with `-- needs a live database: <what>` is not checked.

use std::path::Path;

use zerodown_core::check::{self, rules, Levels};
use zerodown_core::engine::ServerProfile;
use zerodown_core::migrations::classify;

/// The first ```sql block after `## <heading>`.
fn block<'a>(page: &'a str, heading: &str) -> &'a str {
    let at = page
        .find(&format!("## {heading}\n"))
        .unwrap_or_else(|| panic!("no ## {heading}"));
    let rest = &page[at..];
    let start = rest.find("```sql\n").expect("a sql block") + 7;
    let end = rest[start..].find("```").expect("closed") + start;
    &rest[start..end]
}

/// The problems of an example: `line:column severity[rule] message` per problem.
fn problems(sql: &str) -> Vec<check::Problem> {
    let target = sql
        .lines()
        .find_map(|l| l.trim().strip_prefix("-- target: "))
        .unwrap_or("postgres:17");
    let mut profile: ServerProfile = target.parse().expect("target");
    profile.settings.timezone = sql
        .lines()
        .find_map(|l| l.trim().strip_prefix("-- timezone: "))
        .map(str::to_owned);
    let sources: Vec<_> = sql
        .split("-- (in a later migration file)\n")
        .enumerate()
        .map(|(i, text)| classify(&format!("example-{}.sql", i + 1), text))
        .collect();
    check::check(&sources, &profile, &Levels::new(), &|_| true).problems
}

fn rules_reported(sql: &str) -> Vec<&'static str> {
    problems(sql).iter().map(|p| p.rule).collect()
}

#[test]
fn each_page_is_a_rule_whose_bad_example_it_catches_and_good_example_it_passes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules");
    let mut pages = 0;
    let mut wrong: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("docs/rules") {
        let path = entry.expect("entry").path();
        let id = path.file_stem().and_then(|s| s.to_str()).expect("name");
        assert!(rules::is_known(id), "{}: no such rule", path.display());
        let page = std::fs::read_to_string(&path).expect("read");
        assert!(page.starts_with(&format!("# `{id}`\n")), "{id}: title");
        for section in ["## What", "## Why it matters", "## The safe way"] {
            assert!(page.contains(section), "{id}: {section}");
        }
        // What only a live database shows (sessions holding locks, statistics) has
        // examples to read, not to check offline.
        if block(&page, "Bad").starts_with("-- needs a live database: ") {
            pages += 1;
            continue;
        }
        let bad = rules_reported(block(&page, "Bad"));
        if !bad.contains(&id) {
            wrong.push(format!("{id}: the bad example is not caught: {bad:?}"));
        }
        let good = rules_reported(block(&page, "Good"));
        if good.contains(&id) {
            wrong.push(format!("{id}: the good example is caught: {good:?}"));
        }
        pages += 1;
    }
    assert!(pages > 0);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Every finding of every page's bad example, as a snapshot: a change in what a rule
/// says or where it points shows in review.
#[test]
fn the_findings_of_each_bad_example() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("docs/rules")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.sort();
    let mut out = String::new();
    for path in paths {
        let page = std::fs::read_to_string(&path).expect("read");
        let bad = block(&page, "Bad");
        if bad.starts_with("-- needs a live database: ") {
            continue;
        }
        let id = path.file_stem().and_then(|s| s.to_str()).expect("name");
        out.push_str(&format!("## {id}\n"));
        for p in problems(bad) {
            out.push_str(&format!(
                "{}:{}:{} {}[{}] {}\n",
                p.file,
                p.line,
                p.column,
                p.severity.name(),
                p.rule,
                p.message
            ));
        }
    }
    insta::assert_snapshot!(out);
}

/// Rules with no page, and why: `check` never reports them.
const WITHOUT_PAGE: &[(&str, &str)] = &[
    (
        "add-column-default-rewrite",
        "only before PostgreSQL 11, older than every target",
    ),
    (
        "setting-in-migration",
        "information for plan and apply, not a problem",
    ),
    (
        "unknown-function-volatility",
        "information: the default is already reported as volatile",
    ),
];

#[test]
fn every_rule_check_can_report_has_a_page() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules");
    let missing: Vec<&str> = rules::all()
        .map(|(id, _)| id)
        .filter(|id| !WITHOUT_PAGE.iter().any(|(w, _)| w == id))
        .filter(|id| !dir.join(format!("{id}.md")).is_file())
        .collect();
    assert!(missing.is_empty(), "rules without a page: {missing:?}");
    for (id, _) in WITHOUT_PAGE {
        assert!(rules::is_known(id), "{id} is no longer a rule");
    }
}
