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
