//! `zerodown check`: the migration gate for CI, with no database. The library reads
//! the files, zerodown.toml and git and finds the problems; this prints them, and the
//! exit code says whether to merge.

use std::path::PathBuf;

use zerodown::core::check::{self, render};
use zerodown::CheckRequest;

use crate::exit::{self, Failure};
use crate::input::{FileTransaction, HistoryArgs, OfflineSession};

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
    /// Whether each file runs in one transaction: auto (as its migration tool runs it:
    /// Flyway, sqlx, dbmate and diesel wrap it), always, or never.
    #[arg(long, value_enum, default_value_t = FileTransaction::Auto)]
    pub file_transaction: FileTransaction,
    #[command(flatten)]
    pub session: OfflineSession,
    #[command(flatten)]
    pub history: HistoryArgs,
}

pub fn run(args: CheckArgs) -> Result<u8, Failure> {
    let checked = zerodown::check(&CheckRequest {
        paths: args.paths,
        target: args.target,
        config: args.config,
        since: args.since,
        file_transaction: args.file_transaction.into(),
        timezone: args.session.timezone,
        search_path: args.session.search_path,
        history: args.history.request("-")?.choice,
    })?;
    let (problems, files) = (&checked.problems, checked.files);
    let out = match args.format {
        CheckFormat::Text => render::text(problems, files, &checked.assumptions),
        CheckFormat::Json => render::json(problems, files, &checked.assumptions),
        CheckFormat::Sarif => render::sarif(problems, env!("CARGO_PKG_VERSION")),
        CheckFormat::Github => render::github(problems),
    };
    print!("{out}");
    let (errors, warnings) = render::counts(problems);
    // A statement zerodown could not read is bad input, as with `plan`: the report is
    // complete, and the exit code says the input must be fixed.
    let refused = problems.iter().any(|p| p.rule == check::REFUSED);
    Ok(if refused {
        exit::BAD_INPUT
    } else if errors > 0 {
        exit::UNSAFE
    } else if args.max_warnings.is_some_and(|max| warnings > max) {
        exit::TOO_MANY_WARNINGS
    } else {
        exit::OK
    })
}
