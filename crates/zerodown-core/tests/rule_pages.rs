//! Every page in docs/rules/ is about a real rule, and its examples say what the page
//! says: the "Bad" SQL is reported under the page's rule, the "Good" SQL is not. A block's
//! `-- target: …` line names the engine and version (default postgres:17), and
//! `-- (in a later migration file)` starts the next file of the same migration history
//! (plain files: each statement commits on its own unless the example says BEGIN).

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

fn rules_reported(sql: &str) -> Vec<&'static str> {
    let target = sql
        .lines()
        .find_map(|l| l.trim().strip_prefix("-- target: "))
        .unwrap_or("postgres:17");
    let profile: ServerProfile = target.parse().expect("target");
    let sources: Vec<_> = sql
        .split("-- (in a later migration file)\n")
        .enumerate()
        .map(|(i, text)| classify(&format!("example-{}.sql", i + 1), text))
        .collect();
    let problems = check::check(&sources, &profile, &Levels::new(), &|_| true)
        .unwrap_or_else(|d| panic!("the example does not parse: {d:?}\n{sql}"));
    problems.iter().map(|p| p.rule).collect()
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
