//! `check`: the migration gate for CI, with no database. Reads the files and folders
//! (as the migration tools order them), the optional zerodown.toml, what git says was
//! added since a ref, and returns the problems found.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use zerodown_core::check::{self, rules, Level, Levels, Problem};
use zerodown_core::engine::ServerProfile;
use zerodown_core::migrations::SourceFile;

use crate::input::{read_sources, FileTransaction};
use crate::Error;

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct CheckRequest {
    /// Migration files and folders, in order: earlier files define the schema of the
    /// later ones.
    pub paths: Vec<PathBuf>,
    /// `postgres:17`, `mariadb:10.11`...: default the config's target, else postgres:17.
    pub target: Option<String>,
    /// The configuration file; None reads `zerodown.toml` in the current folder when
    /// there is one.
    pub config: Option<PathBuf>,
    /// Report only migration files added since this git ref (the others still define
    /// the schema).
    pub since: Option<String>,
    /// Whether each file runs in one transaction (default: as its migration tool does).
    pub file_transaction: FileTransaction,
    /// The session TimeZone the migrations run under; None: not known, the costly case
    /// is assumed.
    pub timezone: Option<String>,
    /// The schemas unqualified names are found in; None: public.
    pub search_path: Option<Vec<String>>,
    /// The migration tool the files are written for (default: from the folders'
    /// layout): a file it would not read as a migration is reported.
    pub history: zerodown_core::history::Choice,
}

/// What the check found.
#[derive(Debug, Clone)]
pub struct Checked {
    pub problems: Vec<Problem>,
    /// How many files were reported on.
    pub files: usize,
    /// What was taken for granted with no database (time zone, transactions, objects
    /// the files do not define).
    pub assumptions: Vec<String>,
}

/// zerodown.toml.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    target: Option<String>,
    /// Glob patterns of files not to check (`db/legacy/**`).
    #[serde(default)]
    exclude: Vec<String>,
    /// Rule id -> "error", "warning" or "off".
    #[serde(default)]
    rules: std::collections::BTreeMap<String, String>,
}

/// Checks the migrations. Err: bad input (a file, the config, a target, git).
pub fn check(req: &CheckRequest) -> Result<Checked, Error> {
    let config = read_config(req.config.as_deref())?;
    let config_name = req
        .config
        .as_ref()
        .map_or("zerodown.toml".to_owned(), |p| p.display().to_string());
    let levels = levels(&config, &config_name)?;
    let target = req
        .target
        .clone()
        .or_else(|| config.target.clone())
        .unwrap_or_else(|| "postgres:17".into());
    let mut profile: ServerProfile = target
        .parse()
        .map_err(|e| Error::Input(format!("--target {target}: {e}")))?;
    profile.settings.timezone = req.timezone.clone();
    profile.settings.search_path = req.search_path.clone();
    let mut excluded = globset::GlobSetBuilder::new();
    for pattern in &config.exclude {
        excluded.add(
            globset::Glob::new(pattern)
                .map_err(|e| Error::Input(format!("{config_name}: exclude {pattern:?}: {e}")))?,
        );
    }
    let excluded = excluded
        .build()
        .map_err(|e| Error::Input(format!("{config_name}: exclude: {e}")))?;
    let mut sources: Vec<SourceFile> = Vec::new();
    let mut unread: Vec<Problem> = Vec::new();
    for p in &req.paths {
        let read: Vec<SourceFile> = read_sources(p, req.file_transaction)?
            .into_iter()
            .filter(|s| !excluded.is_match(&s.name))
            .collect();
        unread.extend(unread_by_tool(&req.history, p, &read)?);
        sources.extend(read);
    }
    let added = match &req.since {
        Some(git_ref) => Some(added_since(git_ref)?),
        None => None,
    };
    let reported = |file: &str| {
        added
            .as_ref()
            .is_none_or(|set| canonical(Path::new(file)).is_some_and(|c| set.contains(&c)))
    };
    let report = check::check(&sources, &profile, &levels, &reported);
    let files = sources.iter().filter(|s| reported(&s.name)).count();
    let mut problems = report.problems;
    problems.extend(unread.into_iter().filter(|p| reported(&p.file)));
    Ok(Checked {
        problems,
        files,
        assumptions: report.assumptions,
    })
}

/// The files of `path` the migration tool would not read as migrations (a name it
/// ignores or misreads), each a refused problem: the tool would skip or reject it.
fn unread_by_tool(
    choice: &zerodown_core::history::Choice,
    path: &Path,
    sources: &[SourceFile],
) -> Result<Vec<Problem>, Error> {
    use zerodown_core::history;
    let folder = path.is_dir().then(|| path.display().to_string());
    // Auto with files that could be several tools' is no error here: nothing is recorded.
    let chosen = match history::choose(choice, &[], sources, folder.is_some()) {
        Ok(c) => c,
        Err(_) if *choice == history::Choice::Auto => None,
        Err(e) => return Err(Error::Input(e)),
    };
    let Some(chosen) = chosen else {
        return Ok(Vec::new());
    };
    let files = sources
        .iter()
        .map(|s| {
            (
                s.clone(),
                crate::history::relative(&s.name, folder.as_deref()),
            )
        })
        .collect();
    let Err(errors) = history::split(&chosen, files, &[]) else {
        return Ok(Vec::new());
    };
    Ok(errors
        .into_iter()
        .map(|e| {
            let (file, message) = e.split_once(": ").unwrap_or(("", &e));
            Problem {
                file: file.to_owned(),
                line: 1,
                column: 1,
                rule: check::REFUSED,
                severity: Level::Error,
                message: message.to_owned(),
                hint: Some(format!(
                    "rename the file as {} names its migrations, or give --history with the tool that runs it",
                    chosen.tool.name()
                )),
                sql: String::new(),
            }
        })
        .collect())
}

fn read_config(path: Option<&Path>) -> Result<Config, Error> {
    let (path, required) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => (PathBuf::from("zerodown.toml"), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(_) if !required => return Ok(Config::default()),
        Err(e) => {
            return Err(Error::Input(format!(
                "{}: cannot read: {e}",
                path.display()
            )))
        }
    };
    toml::from_str(&text).map_err(|e| {
        Error::Input(format!(
            "{}: {}; the keys are target, exclude and [rules]",
            path.display(),
            e.to_string().trim_end()
        ))
    })
}

fn levels(config: &Config, path: &str) -> Result<Levels, Error> {
    config
        .rules
        .iter()
        .map(|(id, level)| {
            if !rules::is_known(id) {
                return Err(Error::Input(format!(
                    "{path}: [rules] {id}: no such rule (the rule ids are in docs/rules/)"
                )));
            }
            let level = match level.as_str() {
                "error" => Some(Level::Error),
                "warning" => Some(Level::Warning),
                "off" => None,
                other => {
                    return Err(Error::Input(format!(
                        "{path}: [rules] {id} = {other:?}: give \"error\", \"warning\" or \"off\""
                    )))
                }
            };
            Ok((id.clone(), level))
        })
        .collect()
}

fn canonical(p: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(p).ok()
}

/// Files added since `git_ref` (committed after it, staged, or new and untracked), as
/// canonical paths.
fn added_since(git_ref: &str) -> Result<BTreeSet<PathBuf>, Error> {
    let git = |args: &[&str]| -> Result<String, Error> {
        let out = Command::new("git")
            .args(args)
            .output()
            .map_err(|e| Error::Input(format!("--since needs git: {e}")))?;
        if !out.status.success() {
            return Err(Error::Input(format!(
                "--since {git_ref}: git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let root = PathBuf::from(git(&["rev-parse", "--show-toplevel"])?.trim());
    let mut names = git(&["diff", "--name-only", "--diff-filter=A", git_ref, "--"])?;
    names.push_str(&git(&[
        "ls-files",
        "--others",
        "--exclude-standard",
        "--full-name",
    ])?);
    Ok(names
        .lines()
        .filter(|l| !l.is_empty())
        .filter_map(|l| canonical(&root.join(l)))
        .collect())
}
