//! Planner snapshots: one SQL fixture per case, planned offline for each target named
//! in its header, the text report compared with a committed snapshot. Fixtures live in
//! `tests/fixtures/<engine>/`: `pg/` for PostgreSQL, `mysql/` for MySQL and MariaDB.
//!
//! Fixture header lines (all optional):
//!   -- targets: 11 12 17 18          pg/: versions to plan for (default 15)
//!   -- targets: mariadb:10.11 mysql:8.0
//!                                    mysql/: flavors and versions (default mariadb:10.11)
//!   -- rows: users=1000000 ...       size hints
//!   -- file-transaction: yes         the file runs in one transaction (as Flyway does)
//!   -- plan-unsafe: 17 | all         targets where the plan keeps a traffic-blocking step
//! A line `-- migration` splits the fixture: what is above is the existing schema (an
//! earlier migration file), what is below is the migration being planned.

use std::path::{Path, PathBuf};

use zerodown_core::engine::ServerProfile;
use zerodown_core::estimate::CostModel;
use zerodown_core::migrations::{Layout, SourceFile};
use zerodown_core::mysql::catalog::MyCatalog;
use zerodown_core::pg::catalog::Catalog;
use zerodown_core::pg::ir::QualName;
use zerodown_core::pipeline;
use zerodown_core::plan::PlanOptions;
use zerodown_core::report::{self, Meta};

/// The engines with fixtures: their folder, the default target and the snapshot
/// name of a target.
#[derive(Clone, Copy, PartialEq)]
enum Engine {
    Pg,
    MySql,
}

impl Engine {
    fn dir(self) -> &'static str {
        match self {
            Engine::Pg => "pg",
            Engine::MySql => "mysql",
        }
    }

    fn default_target(self) -> &'static str {
        match self {
            Engine::Pg => "15",
            Engine::MySql => "mariadb:10.11",
        }
    }

    fn profile(self, target: &str) -> ServerProfile {
        match self {
            Engine::Pg => format!("postgres:{target}"),
            Engine::MySql => target.to_owned(),
        }
        .parse()
        .expect("target")
    }

    /// `add_check@pg15`, `mixed_alter@mariadb10.11`.
    fn snapshot_name(self, case: &str, target: &str) -> String {
        match self {
            Engine::Pg => format!("{case}@pg{target}"),
            Engine::MySql => format!("{case}@{}", target.replace(':', "")),
        }
    }
}

struct Fixture {
    name: String,
    targets: Vec<String>,
    /// `-- timezone: UTC`: the session TimeZone (default: not known).
    timezone: Option<String>,
    rows: Vec<(String, f64)>,
    file_transaction: bool,
    /// Targets whose plan is expected to keep a traffic-blocking step ("all" for every one).
    plan_unsafe: Vec<String>,
    schema: Option<String>,
    migration: String,
}

fn header(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        l.strip_prefix(&format!("-- {key}:"))
            .map(|v| v.trim().to_owned())
    })
}

fn load(engine: Engine, path: &Path) -> Fixture {
    let text = std::fs::read_to_string(path).expect("read fixture");
    let (schema, migration) = match text.split_once("\n-- migration\n") {
        Some((s, m)) => (Some(s.to_owned()), m.to_owned()),
        None => (None, text.clone()),
    };
    Fixture {
        name: path
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned(),
        targets: header(&text, "targets")
            .unwrap_or_else(|| engine.default_target().into())
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        rows: header(&text, "rows")
            .unwrap_or_default()
            .split_whitespace()
            .map(|kv| {
                let (k, v) = kv.split_once('=').expect("rows: t=N");
                (k.to_owned(), v.parse().expect("rows number"))
            })
            .collect(),
        file_transaction: header(&text, "file-transaction").as_deref() == Some("yes"),
        timezone: header(&text, "timezone"),
        plan_unsafe: header(&text, "plan-unsafe")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        schema,
        migration,
    }
}

fn fixtures(engine: Engine) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(engine.dir());
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixtures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    files
}

fn source(name: &str, text: &str, txn: bool) -> SourceFile {
    SourceFile {
        name: name.to_owned(),
        text: text.to_owned(),
        layout: Layout::Plain,
        implicit_transaction: txn,
    }
}

/// The fixture's report and whether its plan is safe, for one target.
fn plan_text(engine: Engine, f: &Fixture, target: &str) -> (String, bool) {
    let mut profile = engine.profile(target);
    profile.settings.timezone = f.timezone.clone();
    let mut sources = Vec::new();
    if let Some(schema) = &f.schema {
        sources.push(source("schema.sql", schema, false));
    }
    // Keep line numbers of the fixture file in the migration's spans.
    let offset = f.schema.as_ref().map_or(0, |s| s.lines().count() + 1);
    let migration = format!("{}{}", "\n".repeat(offset), f.migration);
    sources.push(source(
        &format!("{}.sql", f.name),
        &migration,
        f.file_transaction,
    ));
    let mut outcome = match engine {
        Engine::Pg => plan_pg(f, &sources, &profile),
        Engine::MySql => plan_mysql(f, &sources, &profile),
    };
    // The schema file only sets the scene: show the migration's statements and steps.
    outcome.statements.retain(|s| &*s.file != "schema.sql");
    for phase in &mut outcome.plan.phases {
        phase.steps.retain(|s| &*s.source.file != "schema.sql");
    }
    outcome.plan.phases.retain(|p| !p.steps.is_empty());
    outcome.plan.notes.retain(|n| !n.starts_with("schema.sql"));
    let text = report::render_text(
        &profile,
        &Meta {
            source: "offline",
            database: None,
            // Said in every offline report; tested in the CLI and assumptions.rs.
            assumptions: Vec::new(),
            history: None,
        },
        &outcome,
    );
    (
        text.replace(&format!("{}.sql", f.name), "case.sql"),
        outcome.plan.safe,
    )
}

/// PostgreSQL: the schema and the migration planned together, the schema's tables
/// sized by the `rows` hints.
fn plan_pg(f: &Fixture, sources: &[SourceFile], profile: &ServerProfile) -> pipeline::Outcome {
    let (files, diags) = pipeline::parse_sources(sources);
    assert!(diags.is_empty(), "{}: {diags:?}", f.name);
    let mut catalog = Catalog::default();
    for (t, n) in &f.rows {
        catalog.hint_rows(&QualName::new(None, t), *n);
    }
    pipeline::run(
        &files,
        &catalog,
        profile,
        &CostModel::default(),
        &PlanOptions::default(),
    )
    .unwrap_or_else(|d| panic!("{}: {d:?}", f.name))
}

/// MySQL/MariaDB: the schema read into the catalog as existing tables, sized by the
/// `rows` hints, then the migration planned against it.
fn plan_mysql(f: &Fixture, sources: &[SourceFile], profile: &ServerProfile) -> pipeline::Outcome {
    let (statements, diags) = pipeline::parse_mysql_sources(sources);
    assert!(diags.is_empty(), "{}: {diags:?}", f.name);
    let (schema, migration): (Vec<_>, Vec<_>) = statements
        .into_iter()
        .partition(|s| &*s.span.file == "schema.sql");
    let mut catalog = MyCatalog::default();
    for s in &schema {
        catalog.apply(&s.kind);
    }
    catalog.end_of_file();
    for (t, n) in &f.rows {
        catalog.hint_rows(t, *n);
    }
    pipeline::run_mysql(
        &migration,
        &catalog,
        profile,
        &CostModel::default(),
        &PlanOptions::default(),
    )
    .unwrap_or_else(|d| panic!("{}: {d:?}", f.name))
}

#[test]
fn planner_snapshots() {
    let mut unsafe_plans = Vec::new();
    for engine in [Engine::Pg, Engine::MySql] {
        for path in fixtures(engine) {
            let f = load(engine, &path);
            for target in &f.targets {
                let (text, safe) = plan_text(engine, &f, target);
                let name = engine.snapshot_name(&f.name, target);
                let expect_safe = !(f.plan_unsafe.iter().any(|t| t == target || t == "all"));
                if safe != expect_safe {
                    unsafe_plans.push(format!("{name}: plan.safe = {safe}"));
                }
                insta::assert_snapshot!(name, text);
            }
        }
    }
    assert!(
        unsafe_plans.is_empty(),
        "plan safety differs from the fixture header:\n{}",
        unsafe_plans.join("\n")
    );
}

/// A snapshot whose fixture (or target) is gone is stale: CI fails on it.
#[test]
fn no_unreferenced_snapshots() {
    let mut expected = Vec::new();
    for engine in [Engine::Pg, Engine::MySql] {
        for path in fixtures(engine) {
            let f = load(engine, &path);
            for t in &f.targets {
                expected.push(format!(
                    "planner_snapshots__{}.snap",
                    engine.snapshot_name(&f.name, t)
                ));
            }
        }
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let stale: Vec<String> = entries
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.starts_with("planner_snapshots__") && n.ends_with(".snap"))
        .filter(|n| !expected.contains(n))
        .collect();
    assert!(stale.is_empty(), "stale snapshots (delete them): {stale:?}");
}
