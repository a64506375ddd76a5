//! `zerodown check`: the migration gate for CI, with no database. Reads the files and
//! folders (as the migration tools order them), the optional zerodown.toml, what git
//! says was added since a ref; prints the problems; the exit code says whether to merge.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use zerodown_core::check::{self, render, rules, Level, Levels};
use zerodown_core::engine::ServerProfile;
use zerodown_core::migrations::SourceFile;

use crate::exit::{self, Failure};
use crate::input::{read_sources, FileTransaction};
use crate::plan_cmd::diagnostics_failure;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    Text,
    Json,
    Sarif,
    Github,
}

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Migration files and folders (Flyway, sqlx, golang-migrate, dbmate, plain SQL),
    /// checked in order: earlier files define the schema of the later ones.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// postgres:11 .. postgres:18, mysql:8.0 .. mysql:8.4, mariadb:10.3 .. mariadb:11.8
    /// (default: the config's target, else postgres:17).
    #[arg(long)]
    pub target: Option<String>,
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// Configuration file (default: zerodown.toml in the current folder, if there is one).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Report only migration files added since this git ref (the others still define
    /// the schema).
    #[arg(long, value_name = "GIT_REF")]
    pub since: Option<String>,
    /// Fail (exit 10) when there are more warnings than this.
    #[arg(long)]
    pub max_warnings: Option<usize>,
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

fn read_config(args: &CheckArgs) -> Result<Config, Failure> {
    let (path, required) = match &args.config {
        Some(p) => (p.clone(), true),
        None => (PathBuf::from("zerodown.toml"), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(_) if !required => return Ok(Config::default()),
        Err(e) => {
            return Err(Failure::bad_input(format!(
                "{}: cannot read: {e}",
                path.display()
            )))
        }
    };
    toml::from_str(&text).map_err(|e| {
        Failure::bad_input(format!(
            "{}: {}; the keys are target, exclude and [rules]",
            path.display(),
            e.to_string().trim_end()
        ))
    })
}

fn levels(config: &Config, path: &str) -> Result<Levels, Failure> {
    config
        .rules
        .iter()
        .map(|(id, level)| {
            if !rules::is_known(id) {
                return Err(Failure::bad_input(format!(
                    "{path}: [rules] {id}: no such rule (the rule ids are in docs/rules/)"
                )));
            }
            let level = match level.as_str() {
                "error" => Some(Level::Error),
                "warning" => Some(Level::Warning),
                "off" => None,
                other => {
                    return Err(Failure::bad_input(format!(
                        "{path}: [rules] {id} = {other:?}: give \"error\", \"warning\" or \"off\""
                    )))
                }
            };
            Ok((id.clone(), level))
        })
        .collect()
}

pub fn run(args: CheckArgs) -> Result<u8, Failure> {
    let config = read_config(&args)?;
    let config_name = args
        .config
        .as_ref()
        .map_or("zerodown.toml".to_owned(), |p| p.display().to_string());
    let levels = levels(&config, &config_name)?;
    let target = args
        .target
        .clone()
        .or_else(|| config.target.clone())
        .unwrap_or_else(|| "postgres:17".into());
    let profile: ServerProfile = target
        .parse()
        .map_err(|e| Failure::bad_input(format!("--target {target}: {e}")))?;
    let mut excluded = globset::GlobSetBuilder::new();
    for pattern in &config.exclude {
        excluded.add(
            globset::Glob::new(pattern).map_err(|e| {
                Failure::bad_input(format!("{config_name}: exclude {pattern:?}: {e}"))
            })?,
        );
    }
    let excluded = excluded
        .build()
        .map_err(|e| Failure::bad_input(format!("{config_name}: exclude: {e}")))?;
    let mut sources: Vec<SourceFile> = Vec::new();
    for p in &args.paths {
        let input = p.to_string_lossy();
        sources.extend(
            read_sources(&input, FileTransaction::Auto)?
                .into_iter()
                .filter(|s| !excluded.is_match(&s.name)),
        );
    }
    let added = match &args.since {
        Some(git_ref) => Some(added_since(git_ref)?),
        None => None,
    };
    let reported = |file: &str| {
        added
            .as_ref()
            .is_none_or(|set| canonical(Path::new(file)).is_some_and(|c| set.contains(&c)))
    };
    let problems = check::check(&sources, &profile, &levels, &reported)
        .map_err(|d| diagnostics_failure(&d, &sources))?;
    let files = sources.iter().filter(|s| reported(&s.name)).count();
    let out = match args.format {
        CheckFormat::Text => render::text(&problems, files),
        CheckFormat::Json => render::json(&problems, files),
        CheckFormat::Sarif => render::sarif(&problems, env!("CARGO_PKG_VERSION")),
        CheckFormat::Github => render::github(&problems),
    };
    print!("{out}");
    let (errors, warnings) = render::counts(&problems);
    Ok(if errors > 0 {
        exit::UNSAFE
    } else if args.max_warnings.is_some_and(|max| warnings > max) {
        exit::TOO_MANY_WARNINGS
    } else {
        exit::OK
    })
}

fn canonical(p: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(p).ok()
}

/// Files added since `git_ref` (committed after it, staged, or new and untracked), as
/// canonical paths.
fn added_since(git_ref: &str) -> Result<BTreeSet<PathBuf>, Failure> {
    let git = |args: &[&str]| -> Result<String, Failure> {
        let out = Command::new("git")
            .args(args)
            .output()
            .map_err(|e| Failure::bad_input(format!("--since needs git: {e}")))?;
        if !out.status.success() {
            return Err(Failure::bad_input(format!(
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
