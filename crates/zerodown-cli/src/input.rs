//! The migration argument: a file, a folder of migrations, or `-` for standard input.

use std::io::Read;
use std::path::Path;

use zerodown::core::migrations::SourceFile;
use zerodown::input;

use crate::exit::Failure;

/// How the per-file transaction of migration tools is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FileTransaction {
    /// From the file's layout: Flyway, sqlx, dbmate and diesel wrap each file in a transaction.
    Auto,
    /// Every file runs in one transaction.
    Always,
    /// Statements commit one by one (as psql -f).
    Never,
}

/// `--history`: the migration tool whose history table tells which files are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum HistoryTool {
    /// The tool whose history table is in the database, else the folder's file layout.
    Auto,
    /// No tool: plan every file, record nothing.
    None,
    Dbmate,
    Sqlx,
    GolangMigrate,
    Goose,
    Flyway,
}

/// The migration tool the files belong to (shared by plan, apply and check).
#[derive(clap::Args, Debug, Clone)]
pub struct HistoryArgs {
    /// The team's migration tool: files it has applied are left out, and each file
    /// zerodown applies is recorded in its history table as the tool records it, so the
    /// tool sees nothing pending afterwards.
    #[arg(long, value_enum, default_value_t = HistoryTool::Auto)]
    pub history: HistoryTool,
    /// The tool's history table when it is not the tool's default name (with --history
    /// naming the tool).
    #[arg(long, value_name = "TABLE")]
    pub history_table: Option<String>,
}

impl HistoryArgs {
    pub fn request(&self, input: &str) -> Result<zerodown::history::HistoryRequest, Failure> {
        use zerodown::core::history::{Choice, Tool};
        let tool = |t: Tool| Choice::Tool {
            tool: t,
            table: self.history_table.clone(),
        };
        let choice = match self.history {
            HistoryTool::Auto | HistoryTool::None if self.history_table.is_some() => {
                return Err(Failure::bad_input(
                    "--history-table names the table of the tool --history names: give both",
                ))
            }
            HistoryTool::Auto => Choice::Auto,
            HistoryTool::None => Choice::None,
            HistoryTool::Dbmate => tool(Tool::Dbmate),
            HistoryTool::Sqlx => tool(Tool::Sqlx),
            HistoryTool::GolangMigrate => tool(Tool::GolangMigrate),
            HistoryTool::Goose => tool(Tool::Goose),
            HistoryTool::Flyway => tool(Tool::Flyway),
        };
        let folder = (input != "-" && Path::new(input).is_dir()).then(|| input.to_owned());
        Ok(zerodown::history::HistoryRequest { choice, folder })
    }
}

/// What an offline `plan` or `check` is told of the session the migration will run in
/// (PostgreSQL), instead of assuming its costly case. Live, the server's own is read.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct OfflineSession {
    /// Offline: the session TimeZone the migration will run under (PostgreSQL; e.g. UTC).
    /// Not given, a timestamp <-> timestamptz change is assumed to rewrite the table.
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,
    /// Offline: the schemas unqualified names are found in, in order (PostgreSQL; e.g.
    /// app,public). Not given: public.
    #[arg(long, value_name = "SCHEMA,...", value_delimiter = ',')]
    pub search_path: Option<Vec<String>>,
}

impl OfflineSession {
    pub fn is_given(&self) -> bool {
        self.timezone.is_some() || self.search_path.is_some()
    }

    pub fn apply_to(&self, profile: &mut zerodown::core::engine::ServerProfile) {
        profile.settings.timezone = self.timezone.clone();
        profile.settings.search_path = self.search_path.clone();
    }
}

impl From<FileTransaction> for input::FileTransaction {
    fn from(f: FileTransaction) -> Self {
        match f {
            FileTransaction::Auto => input::FileTransaction::Auto,
            FileTransaction::Always => input::FileTransaction::Always,
            FileTransaction::Never => input::FileTransaction::Never,
        }
    }
}

pub fn read_sources(arg: &str, mode: FileTransaction) -> Result<Vec<SourceFile>, Failure> {
    if arg != "-" {
        return Ok(input::read_sources(Path::new(arg), mode.into())?);
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| Failure::bad_input(format!("cannot read standard input: {e}")))?;
    Ok(input::from_text("<stdin>", &text, mode.into()))
}
