//! Reads migrations from a file, a folder (sorted as the migration tools sort), or stdin.

use std::io::Read;
use std::path::Path;

use zerodown_core::migrations::{classify, is_up_migration, sort_key, SourceFile};

use crate::exit::Failure;

/// How the per-file transaction of migration tools is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FileTransaction {
    /// From the file's layout: Flyway, sqlx and dbmate wrap each file in a transaction.
    Auto,
    /// Every file runs in one transaction.
    Always,
    /// Statements commit one by one (as psql -f).
    Never,
}

pub fn read_sources(input: &str, mode: FileTransaction) -> Result<Vec<SourceFile>, Failure> {
    let mut sources = if input == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::bad_input(format!("cannot read standard input: {e}")))?;
        vec![classify("<stdin>", &text)]
    } else {
        let path = Path::new(input);
        if path.is_dir() {
            read_dir(path)?
        } else if path.is_file() {
            vec![read_file(path)?]
        } else {
            return Err(Failure::bad_input(format!(
                "{input}: no such file or folder; give a .sql file, a folder of migrations, or - for standard input"
            )));
        }
    };
    for s in &mut sources {
        match mode {
            FileTransaction::Auto => {}
            FileTransaction::Always => s.implicit_transaction = true,
            FileTransaction::Never => s.implicit_transaction = false,
        }
    }
    Ok(sources)
}

fn read_file(path: &Path) -> Result<SourceFile, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::bad_input(format!("{}: cannot read: {e}", path.display())))?;
    Ok(classify(&path.display().to_string(), &text))
}

fn read_dir(dir: &Path) -> Result<Vec<SourceFile>, Failure> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Failure::bad_input(format!("{}: cannot read folder: {e}", dir.display())))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Failure::bad_input(format!("{}: {e}", dir.display())))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_file() && is_up_migration(&name) {
            files.push((sort_key(&name), path));
        } else if path.is_dir() {
            // dbmate/golang-migrate keep one folder; some tools use one folder per
            // migration with up.sql inside (diesel): take its up.sql.
            let up = path.join("up.sql");
            if up.is_file() {
                files.push((sort_key(&name), up));
            }
        }
    }
    if files.is_empty() {
        return Err(Failure::bad_input(format!(
            "{}: no migration files (*.sql) in this folder",
            dir.display()
        )));
    }
    files.sort();
    files.into_iter().map(|(_, p)| read_file(&p)).collect()
}
