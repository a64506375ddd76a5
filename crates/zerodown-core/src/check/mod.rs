//! `zerodown check`: the offline analysis as a gate in CI. The same analysis as `plan`
//! (no server: earlier files define the schema the later ones run against), plus a few
//! rules only a reviewer needs ([`lint`]), each finding under a stable rule id
//! ([`rules`]) at a level the configuration may change, minus what the migration's own
//! comments suppress with a reason ([`suppress`]). Pure: the caller reads the files and
//! prints the [`Problem`]s ([`render`]).

pub mod lint;
pub mod render;
pub mod rules;
pub mod suppress;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::analysis::StatementAnalysis;
use crate::engine::{Engine, ServerProfile};
use crate::estimate::CostModel;
use crate::findings::Severity;
use crate::migrations::SourceFile;
use crate::mysql::catalog::MyCatalog;
use crate::pg::catalog::Catalog;
use crate::pipeline;
use crate::sql::source::Diagnostic;

/// How much a problem matters: errors fail the check, warnings do not (unless there are
/// more than `--max-warnings`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Warning,
    Error,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// One problem in one statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub rule: &'static str,
    pub severity: Level,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The statement, for the caret under it.
    #[serde(skip)]
    pub sql: String,
}

/// Rule levels the configuration sets: a level, or None to turn the rule off.
pub type Levels = BTreeMap<String, Option<Level>>;

/// Checks `sources` (in the order they run) for `profile`'s engine and version, and
/// returns the problems of the files `reported` accepts (earlier files still define the
/// schema). A statement that cannot be read or is refused is a problem of its own
/// ([`REFUSED`]): it hides nothing of the other statements and files.
pub fn check(
    sources: &[SourceFile],
    profile: &ServerProfile,
    levels: &Levels,
    reported: &dyn Fn(&str) -> bool,
) -> Report {
    let cost = CostModel::default();
    let (analysed, mut problems, refused, assumptions) = match profile.engine {
        Engine::Postgres => {
            let (mut files, mut refused) = pipeline::parse_sources(sources);
            if let Some(path) = &profile.settings.search_path {
                pipeline::resolve_offline(&mut files, path);
            }
            // The analysis alone: the plan is not needed to judge the files.
            let analysis = crate::pg::analyze::analyze(&files, &Catalog::default(), profile, &cost);
            refused.extend(analysis.diagnostics);
            let lints = lint::postgres(&files, &analysis.statements);
            let assumed = crate::assumptions::postgres(&files, profile);
            (analysis.statements, lints, refused, assumed)
        }
        Engine::MySql | Engine::MariaDb => {
            let (statements, mut refused) = pipeline::parse_mysql_sources(sources);
            let (analysed, diagnostics) =
                crate::mysql::analyze::analyze(&statements, &MyCatalog::default(), profile, &cost);
            refused.extend(diagnostics);
            let assumed = crate::assumptions::mysql(&statements, sources);
            (analysed, lint::mysql(&statements), refused, assumed)
        }
    };
    problems.extend(refused.iter().map(|d| refusal(d, sources)));
    problems.extend(analysed.iter().flat_map(from_analysis));
    let ignores = suppress::read(sources);
    let mut problems: Vec<Problem> = problems
        .into_iter()
        .filter(|p| reported(&p.file))
        .filter_map(|mut p| {
            let level = match levels.get(p.rule) {
                Some(configured) => (*configured)?,
                None => p.severity,
            };
            p.severity = level;
            (!ignores.covers(&p)).then_some(p)
        })
        .collect();
    problems.extend(ignores.invalid().into_iter().filter(|p| reported(&p.file)));
    problems.sort_by(|a, b| {
        (&a.file, a.line, a.column, a.rule).cmp(&(&b.file, b.line, b.column, b.rule))
    });
    Report {
        problems,
        assumptions,
    }
}

/// What `check` found, and what it took for granted without a server.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub problems: Vec<Problem>,
    /// Offline assumptions, in words ([`crate::assumptions`]).
    pub assumptions: Vec<String>,
}

/// The rule of a statement zerodown cannot read or will not model.
pub const REFUSED: &str = "refused-statement";

fn refusal(d: &Diagnostic, sources: &[SourceFile]) -> Problem {
    let sql = sources
        .iter()
        .find(|s| *s.name == *d.span.file)
        .and_then(|s| s.text.get(d.span.start..d.span.end))
        .unwrap_or_default();
    Problem {
        file: d.span.file.to_string(),
        line: d.span.line,
        column: d.span.column,
        rule: REFUSED,
        severity: Level::Error,
        message: d.message.clone(),
        hint: None,
        sql: sql.trim_end().to_owned(),
    }
}

/// The analysis' findings of one statement as problems (information is not a problem).
fn from_analysis(s: &StatementAnalysis) -> Vec<Problem> {
    s.findings
        .iter()
        .filter_map(|f| {
            let severity = match f.severity {
                Severity::Error => Level::Error,
                Severity::Warning => Level::Warning,
                Severity::Info => return None,
            };
            Some(Problem {
                file: s.file.to_string(),
                line: s.line,
                column: s.column,
                rule: f.code.as_str(),
                severity,
                message: f.message.clone(),
                hint: f.hint.clone(),
                sql: s.sql.clone(),
            })
        })
        .collect()
}
